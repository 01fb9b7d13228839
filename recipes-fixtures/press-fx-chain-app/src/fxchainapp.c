/* press fixture: needs libfxchain.so.1 (from a dependency of a dependency)
   and libfxalias.so.1 (a link into another package). */
int fxchain_value(void);
int fxalias_value(void);
int fxchainapp_value(void) { return fxchain_value() * 100 + fxalias_value(); }
