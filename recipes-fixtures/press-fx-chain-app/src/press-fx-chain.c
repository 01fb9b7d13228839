#include <stdio.h>
int fxchainapp_value(void);
int main(void) { printf("press-fx-chain %d\n", fxchainapp_value()); return 0; }
