/* A CPython extension module that reports the version of the libfxshared it
 * was loaded with (press coexistence fixture). MODNAME names the module. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

extern const char *fxshared_version(void);

static PyObject *version(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(fxshared_version());
}

static PyMethodDef methods[] = {
    {"shared_version", version, METH_NOARGS, "Version string of the libfxshared this module loaded."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, STR(MODNAME), NULL, -1, methods};

PyMODINIT_FUNC CAT(PyInit_, MODNAME)(void) { return PyModule_Create(&module); }
