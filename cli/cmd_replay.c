int hl_dummy_cmd_replay;
