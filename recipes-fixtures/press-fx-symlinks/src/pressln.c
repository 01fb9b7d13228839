#include "pressln.h"

int pressln_version(void)
{
    return 123;
}
