/* A library that exists in two incompatible builds (press coexistence fixture). */
#ifndef FXSHARED_VERSION
#error "FXSHARED_VERSION must be defined"
#endif

const char *fxshared_version(void) { return FXSHARED_VERSION; }
