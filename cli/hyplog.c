int hl_dummy_hyplog;
int main(void){return 0;}
