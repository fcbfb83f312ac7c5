/*
 * Optional accelerator for websockets_sync.protocol: socket calls that never
 * block and keep the GIL.
 *
 * socket.send(), recv_into(), shutdown() and close() release the GIL around
 * the system call, as they must for calls that may block. These never block,
 * and take a few microseconds; releasing the GIL for them only invites
 * another thread to take it, and the caller then waits for it to come back.
 * With fifty connection threads, that wait was a quarter of the server's CPU
 * time per round trip; with thousands of connections closing at once, each
 * hand-over costs a thread switch. protocol.py calls these for small buffers
 * on plain sockets only, and falls back to the socket's methods when the
 * module was not built. On Linux, epoll_arm() does the same for idle.py's
 * epoll_ctl(), made each time a connection goes quiet.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <string.h>
#include <sys/epoll.h>
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* The names of the socket methods called here, interned once: looking a
   method up by a C string builds a new str object on every call. */
typedef struct {
    PyObject *fileno;
    PyObject *detach;
} nowait_state;

static nowait_state *
get_state(PyObject *module)
{
    return (nowait_state *)PyModule_GetState(module);
}

/* Call a method of sock that returns a descriptor number, fileno() or
   detach(). Returns 0 with *fd set, or -1 with an exception set. */
static int
call_for_fd(PyObject *sock, PyObject *method, long *fd)
{
    PyObject *number = PyObject_CallMethodNoArgs(sock, method);

    if (number == NULL) {
        return -1;
    }
    *fd = PyLong_AsLong(number);
    Py_DECREF(number);
    return *fd == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The socket's descriptor, read with the GIL held until the call is done:
   a socket closed by another thread can't hand its number over to a new one
   in between. A closed socket's fileno() is -1: fail as the socket does. */
static int
socket_fd(PyObject *module, PyObject *sock)
{
    long fd;

    if (call_for_fd(sock, get_state(module)->fileno, &fd) < 0) {
        return -1;
    }
    if (fd < 0 || fd > INT_MAX) {
        errno = EBADF;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return (int)fd;
}

static int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t least, Py_ssize_t most)
{
    if (nargs < least || nargs > most) {
        if (least == most) {
            PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, least,
                         nargs);
        }
        else {
            PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name,
                         least, most, nargs);
        }
        return -1;
    }
    return 0;
}

/* An int argument: send()'s flags, shutdown()'s how. */
static int
int_arg(PyObject *arg, const char *what, int *value)
{
    long number = PyLong_AsLong(arg);

    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (number < INT_MIN || number > INT_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s is out of range", what);
        return -1;
    }
    *value = (int)number;
    return 0;
}

/* send() and recv_into(): check the (sock, buffer[, flags]) arguments, then
   one send or recv with MSG_DONTWAIT and the flags, retried when a signal
   interrupts it after running the signal handlers, as the socket's methods
   do. Returns the byte count; a send to a full socket returns 0, a recv
   from an empty one raises BlockingIOError, as the socket's methods do. */
static PyObject *
transfer(PyObject *module, const char *name, PyObject *const *args, Py_ssize_t nargs,
         int receiving)
{
    Py_buffer buffer;
    ssize_t done;
    int fd;
    int flags = 0;
    int saved_errno;
    int interrupted = 0;

    if (check_nargs(name, nargs, 2, receiving ? 2 : 3) < 0 ||
        (nargs == 3 && int_arg(args[2], "flags", &flags) < 0) ||
        (fd = socket_fd(module, args[0])) < 0 ||
        PyObject_GetBuffer(args[1], &buffer, receiving ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    for (;;) {
        if (receiving) {
            done = recv(fd, buffer.buf, (size_t)buffer.len, MSG_DONTWAIT);
        }
        else {
            done = send(fd, buffer.buf, (size_t)buffer.len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        if (done >= 0 || errno != EINTR) {
            break;
        }
        if (PyErr_CheckSignals() < 0) {
            interrupted = 1;
            break;
        }
    }
    /* Releasing the buffer may run code that changes errno. */
    saved_errno = errno;
    PyBuffer_Release(&buffer);
    errno = saved_errno;
    if (interrupted) {
        return NULL;
    }
    if (done < 0) {
        if (!receiving && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return PyLong_FromLong(0);
        }
        /* OSError picks the subclass from errno: BlockingIOError,
           BrokenPipeError and so on. */
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromSsize_t(done);
}

static PyObject *
nowait_send(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return transfer(module, "send", args, nargs, 0);
}

static PyObject *
nowait_recv_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return transfer(module, "recv_into", args, nargs, 1);
}

static PyObject *
nowait_shutdown(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    int how;

    if (check_nargs("shutdown", nargs, 2, 2) < 0 || int_arg(args[1], "how", &how) < 0 ||
        (fd = socket_fd(module, args[0])) < 0) {
        return NULL;
    }
    if (shutdown(fd, how) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

#ifdef __linux__
/* Watch fd for the events: add it to the epoll instance, or re-arm it if it
   is there already, as an EPOLLONESHOT registration stays once it fired. */
static PyObject *
nowait_epoll_arm(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int epfd;
    int fd;
    int events;
    struct epoll_event event;

    (void)module;
    if (check_nargs("epoll_arm", nargs, 3, 3) < 0 || int_arg(args[0], "epfd", &epfd) < 0 ||
        int_arg(args[1], "fd", &fd) < 0 || int_arg(args[2], "events", &events) < 0) {
        return NULL;
    }
    memset(&event, 0, sizeof(event));
    event.events = (uint32_t)events;
    event.data.fd = fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) < 0 &&
        (errno != EEXIST || epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event) < 0)) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}
#endif

/* Whether close() may wait: SO_LINGER on, with a timeout, makes it wait
   until the peer has acknowledged what is still unsent. */
static int
close_may_wait(int fd)
{
    struct linger linger;
    socklen_t size = sizeof(linger);

    if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, &size) < 0) {
        return 0;
    }
    return linger.l_onoff && linger.l_linger > 0;
}

static PyObject *
nowait_close(PyObject *module, PyObject *sock)
{
    long fd;
    int result;

    /* detach() marks the socket closed and gives up its descriptor, exactly
       once, so that two threads can't both close it. */
    if (call_for_fd(sock, get_state(module)->detach, &fd) < 0) {
        return NULL;
    }
    if (fd < 0 || fd > INT_MAX) {
        /* Already closed: nothing to do, as for socket.close(). */
        Py_RETURN_NONE;
    }
    if (close_may_wait((int)fd)) {
        Py_BEGIN_ALLOW_THREADS
        result = close((int)fd);
        Py_END_ALLOW_THREADS
    }
    else {
        result = close((int)fd);
    }
    /* As socket.close(): a reset peer is no error; after EINTR the
       descriptor is gone anyway on Linux. */
    if (result < 0 && errno != ECONNRESET && errno != EINTR) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyMethodDef nowait_methods[] = {
    {"send", (PyCFunction)(void (*)(void))nowait_send, METH_FASTCALL,
     "send(sock, data, flags=0, /)\n--\n\n"
     "Send what the socket takes now, keeping the GIL; 0 if it is full.\n\n"
     "flags are added to MSG_DONTWAIT: MSG_MORE, say."},
    {"recv_into", (PyCFunction)(void (*)(void))nowait_recv_into, METH_FASTCALL,
     "recv_into(sock, buffer, /)\n--\n\n"
     "Read what the socket has into buffer, keeping the GIL; BlockingIOError if nothing."},
    {"shutdown", (PyCFunction)(void (*)(void))nowait_shutdown, METH_FASTCALL,
     "shutdown(sock, how, /)\n--\n\n"
     "Shut down one or both directions of the socket, keeping the GIL."},
    {"close", (PyCFunction)nowait_close, METH_O,
     "close(sock, /)\n--\n\n"
     "Close the socket, keeping the GIL unless SO_LINGER makes closing wait."},
#ifdef __linux__
    {"epoll_arm", (PyCFunction)(void (*)(void))nowait_epoll_arm, METH_FASTCALL,
     "epoll_arm(epfd, fd, events, /)\n--\n\n"
     "Register fd with the epoll instance, or modify its registration, keeping the GIL."},
#endif
    {NULL, NULL, 0, NULL},
};

static int
nowait_exec(PyObject *module)
{
    nowait_state *state = get_state(module);

    state->fileno = PyUnicode_InternFromString("fileno");
    state->detach = PyUnicode_InternFromString("detach");
    return state->fileno == NULL || state->detach == NULL ? -1 : 0;
}

static int
nowait_traverse(PyObject *module, visitproc visit, void *arg)
{
    Py_VISIT(get_state(module)->fileno);
    Py_VISIT(get_state(module)->detach);
    return 0;
}

static int
nowait_clear(PyObject *module)
{
    Py_CLEAR(get_state(module)->fileno);
    Py_CLEAR(get_state(module)->detach);
    return 0;
}

static void
nowait_free(void *module)
{
    nowait_clear((PyObject *)module);
}

static PyModuleDef_Slot nowait_slots[] = {
    {Py_mod_exec, nowait_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef nowait_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "websockets_sync._nowait",
    .m_doc = "Non-blocking socket calls that keep the GIL (optional accelerator).",
    .m_size = sizeof(nowait_state),
    .m_methods = nowait_methods,
    .m_slots = nowait_slots,
    .m_traverse = nowait_traverse,
    .m_clear = nowait_clear,
    .m_free = nowait_free,
};

PyMODINIT_FUNC
PyInit__nowait(void)
{
    return PyModuleDef_Init(&nowait_module);
}
