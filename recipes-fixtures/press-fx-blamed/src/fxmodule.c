/* press fixture: a stand-in for jedi's test fixture module.cpython-34m.so (never imported). */
int fxmodule_value(void) { return 34; }
