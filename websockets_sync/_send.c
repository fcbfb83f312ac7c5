/*
 * Optional accelerator for websockets_sync.protocol: a send that keeps the GIL.
 *
 * socket.send() releases the GIL around the system call, as it must for a
 * call that may block. A send with MSG_DONTWAIT never blocks, and a small
 * one takes a few microseconds; releasing the GIL for it only invites
 * another thread to take the GIL, and the sender then waits for it to come
 * back. With fifty connection threads, that wait was a quarter of the
 * server's CPU time per round trip. protocol.py calls this for small frames
 * only, and falls back to socket.send() when the module was not built.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* The socket's descriptor, read with the GIL held until the send is done:
   a socket closed by another thread can't hand its number over to a new one
   in between. A closed socket's fileno() is -1: fail as socket.send() does. */
static int
socket_fd(PyObject *sock)
{
    PyObject *number = PyObject_CallMethod(sock, "fileno", NULL);
    long fd;

    if (number == NULL) {
        return -1;
    }
    fd = PyLong_AsLong(number);
    Py_DECREF(number);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (fd < 0 || fd > INT_MAX) {
        errno = EBADF;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return (int)fd;
}

static PyObject *
send_nowait(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    ssize_t sent;
    int fd;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "send_nowait() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    fd = socket_fd(args[0]);
    if (fd < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    for (;;) {
        sent = send(fd, data.buf, (size_t)data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent >= 0 || errno != EINTR) {
            break;
        }
        /* Interrupted: run signal handlers, as socket.send() does, then retry. */
        if (PyErr_CheckSignals() < 0) {
            PyBuffer_Release(&data);
            return NULL;
        }
    }
    PyBuffer_Release(&data);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return PyLong_FromLong(0);
        }
        /* OSError picks the subclass from errno: BrokenPipeError and so on. */
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromSsize_t(sent);
}

static PyMethodDef send_methods[] = {
    {"send_nowait", (PyCFunction)(void (*)(void))send_nowait, METH_FASTCALL,
     "send_nowait(sock, data, /)\n--\n\n"
     "Send what the socket takes now, without releasing the GIL; 0 if it is full."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot send_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef send_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "websockets_sync._send",
    .m_doc = "C implementation of a non-blocking send that keeps the GIL (optional accelerator).",
    .m_size = 0,
    .m_methods = send_methods,
    .m_slots = send_slots,
};

PyMODINIT_FUNC
PyInit__send(void)
{
    return PyModuleDef_Init(&send_module);
}
