/* press fixture: the library of the chain (like libzlib or libopenblas).
   The link-time stand-ins of press-fx-chain-app define one function each. */
#ifndef FX_ALIAS_ONLY
int fxchain_value(void) { return 42; }
#endif
#ifndef FX_CHAIN_ONLY
/* What the alias package's link name (libfxalias.so.1) stands for, as
   libopenblas serves the symbols of libblas.so.3. */
int fxalias_value(void) { return 7; }
#endif
