#ifndef PRESSLN_H
#define PRESSLN_H
int pressln_version(void);
#endif
