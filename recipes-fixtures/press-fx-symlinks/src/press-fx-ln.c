#include <stdio.h>
#include "pressln.h"

int main(void)
{
    printf("pressln %d\n", pressln_version());
    return pressln_version() == 123 ? 0 : 1;
}
