/*
 * Optional accelerator for websockets_sync.sansio.frames.apply_mask.
 *
 * XORs a payload with a 4-byte masking key repeated (RFC 6455 section 5.3),
 * eight bytes at a time. The pure-Python version in frames.py is the
 * reference: this module must return exactly what it returns, and frames.py
 * falls back to it when the module was not built (no C compiler at install).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The key repeated twice makes one 64-bit word: every 8-byte block starts
   at an offset that is a multiple of 4, so it lines up with the key.
   memcpy keeps unaligned loads and stores well defined; compilers turn it
   into plain moves. */
static void
xor_with_key(unsigned char *target, const unsigned char *source, Py_ssize_t length,
             const unsigned char *key)
{
    unsigned char key_bytes[8];
    uint64_t key_word;
    Py_ssize_t index = 0;

    memcpy(key_bytes, key, 4);
    memcpy(key_bytes + 4, key, 4);
    memcpy(&key_word, key_bytes, 8);

    for (; index + 8 <= length; index += 8) {
        uint64_t word;
        memcpy(&word, source + index, 8);
        word ^= key_word;
        memcpy(target + index, &word, 8);
    }
    for (; index < length; index++) {
        target[index] = source[index] ^ key[index & 3];
    }
}

static PyObject *
apply_mask(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "apply_mask() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
    }
    else {
        result = PyBytes_FromStringAndSize(NULL, data.len);
        if (result != NULL) {
            xor_with_key((unsigned char *)PyBytes_AS_STRING(result), data.buf, data.len,
                         mask.buf);
        }
    }
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef mask_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, mask, /)\n--\n\n"
     "XOR data with the 4-byte mask repeated (RFC 6455 section 5.3)."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot mask_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef mask_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "websockets_sync.sansio._mask",
    .m_doc = "C implementation of apply_mask (optional accelerator).",
    .m_size = 0,
    .m_methods = mask_methods,
    .m_slots = mask_slots,
};

PyMODINIT_FUNC
PyInit__mask(void)
{
    return PyModuleDef_Init(&mask_module);
}
