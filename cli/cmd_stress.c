int hl_dummy_cmd_stress;
