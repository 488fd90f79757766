/*
 * The request-slot writer in C: the same writes as board.RequestSlotWriter,
 * without the interpreter between them.
 *
 * Why it exists: a request changes its slot four times (begin, in_app,
 * writing, end). Done in Python that is a handful of method calls and
 * indexed stores per request, about a fifth of a hello-world request's cost
 * in a worker (docs/observability.md, "Cost"). Here each transition is one
 * call, and the counters (status classes, histograms, bytes) are added per
 * request, since in C that is cheaper than noting them for a later batch.
 *
 * The slot layout and the write order are board.py's: the layout comes from
 * _slotlayout.h, generated from board.py; board.py also compares its layout
 * with LAYOUT below and uses the pure-Python writer when they differ (a
 * stale build) or when this module was not built (no compiler).
 *
 * Ordering: every transition stores the state word last, with release
 * ordering, so the fields written before it are visible no later than it;
 * and ``begin`` starts with a release fence, so its fields are not visible
 * before the previous transition's state word. On x86-64 both cost nothing
 * (stores are seen in program order anyway); on weakly ordered CPUs (arm64)
 * they order the writer, but the Python reader has no acquire barrier, so
 * there a torn read stays possible, if rare (see board.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* --- the slot layout: generated from board.py (see layout_header.py) ------ */
#include "_slotlayout.h"

typedef struct {
    PyObject_HEAD
    Py_buffer view;    /* the scoreboard's memory, held for the writer's life */
    char *slot;        /* this request slot's first byte */
    int64_t seq;       /* the state word's sequence part, already shifted */
    double started;    /* when the current request began (monotonic) */
    PyObject *client;  /* the client last written (compared by identity) */
} SlotWriter;

/* --- stores --------------------------------------------------------------- */
static inline int64_t *word_at(SlotWriter *w, int word) {
    return (int64_t *)(w->slot + (size_t)word * 8);
}

static inline void put_int(SlotWriter *w, int word, int64_t value) {
    __atomic_store_n(word_at(w, word), value, __ATOMIC_RELAXED);
}

static inline void put_float(SlotWriter *w, int word, double value) {
    int64_t bits;
    memcpy(&bits, &value, sizeof bits);
    __atomic_store_n(word_at(w, word), bits, __ATOMIC_RELAXED);
}

static inline double get_float(SlotWriter *w, int word) {
    int64_t bits = __atomic_load_n(word_at(w, word), __ATOMIC_RELAXED);
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* One writer per slot, so a counter is a load and a store, not an atomic add.
 * Unsigned arithmetic: wrapping is defined (a signed overflow would not be). */
static inline void add_int(SlotWriter *w, int word, int64_t amount) {
    uint64_t old = (uint64_t)__atomic_load_n(word_at(w, word), __ATOMIC_RELAXED);
    put_int(w, word, (int64_t)(old + (uint64_t)amount));
}

static inline void add_float(SlotWriter *w, int word, double amount) {
    put_float(w, word, get_float(w, word) + amount);
}

/* The transition's last store: everything written before it is visible first. */
static inline void publish(SlotWriter *w, int state) {
    __atomic_store_n(word_at(w, R_STATE_SEQ), w->seq | state, __ATOMIC_RELEASE);
}

/* Copy ``data`` into ``size`` bytes of the slot, cut or padded with zeros. */
static inline void put_text(SlotWriter *w, int offset, const char *data, Py_ssize_t len,
                            Py_ssize_t size) {
    Py_ssize_t n = len < size ? len : size;
    memcpy(w->slot + offset, data, (size_t)n);
    if (n < size) memset(w->slot + offset + n, 0, (size_t)(size - n));
}

/* The first bucket whose bound is >= value (bisect_left); the last is +Inf. */
static inline int bucket_of(const double *bounds, int count, double value) {
    int i = 0;
    while (i < count && bounds[i] < value) i++;
    return i;
}

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- argument helpers ----------------------------------------------------- */
static int want_args(const char *name, Py_ssize_t nargs, Py_ssize_t want) {
    if (nargs == want) return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, want, nargs);
    return 0;
}

static int as_double(PyObject *obj, double *out) {
    *out = PyFloat_AsDouble(obj);
    return !(*out == -1.0 && PyErr_Occurred());
}

static int as_int64(PyObject *obj, int64_t *out) {
    long long value = PyLong_AsLongLong(obj);
    if (value == -1 && PyErr_Occurred()) return 0;
    *out = (int64_t)value;
    return 1;
}

static int as_bytes(PyObject *obj, const char **data, Py_ssize_t *len) {
    if (!PyBytes_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "expected bytes, got %.100s", Py_TYPE(obj)->tp_name);
        return 0;
    }
    *data = PyBytes_AS_STRING(obj);
    *len = PyBytes_GET_SIZE(obj);
    return 1;
}

/* --- the type ------------------------------------------------------------- */
static int SlotWriter_init(SlotWriter *self, PyObject *args, PyObject *kwds) {
    PyObject *buffer;
    Py_ssize_t offset;
    static char *kwlist[] = {"buffer", "offset", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On", kwlist, &buffer, &offset)) return -1;
    if (self->slot != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SlotWriter is already initialised");
        return -1;
    }
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_WRITABLE) < 0) {
        /* A refusing exporter may have filled the view in; forget it. */
        memset(&self->view, 0, sizeof self->view);
        return -1;
    }
    /* Written so that no sum can overflow: offset may be anything. */
    if (offset < 0 || offset % 8 != 0 || self->view.len < REQUEST_SLOT_SIZE ||
        offset > self->view.len - REQUEST_SLOT_SIZE || ((uintptr_t)self->view.buf) % 8 != 0) {
        PyBuffer_Release(&self->view);
        memset(&self->view, 0, sizeof self->view);
        PyErr_Format(PyExc_ValueError, "no aligned request slot at byte %zd of a %zd-byte buffer",
                     offset, self->view.len);
        return -1;
    }
    self->slot = (char *)self->view.buf + offset;
    self->seq = __atomic_load_n(word_at(self, R_STATE_SEQ), __ATOMIC_RELAXED) & ~(int64_t)STATE_MASK;
    self->started = 0.0;
    Py_CLEAR(self->client);
    return 0;
}

static void SlotWriter_dealloc(SlotWriter *self) {
    if (self->slot != NULL) PyBuffer_Release(&self->view);
    Py_CLEAR(self->client);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(SlotWriter *self) {
    if (self->slot != NULL) return 1;
    PyErr_SetString(PyExc_RuntimeError, "SlotWriter was not initialised");
    return 0;
}

/* begin(fd, client, now, deadline): a connection was taken, or a keep-alive
 * request began arriving. */
static PyObject *SlotWriter_begin(SlotWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t fd;
    double now, deadline;
    const char *client;
    Py_ssize_t client_len;
    if (!ready(self) || !want_args("begin", nargs, 4) || !as_int64(args[0], &fd) ||
        !as_bytes(args[1], &client, &client_len) || !as_double(args[2], &now) ||
        !as_double(args[3], &deadline))
        return NULL;
    /* Nothing below may be seen before the previous transition's state word. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    self->started = now;
    put_int(self, R_FD, fd);
    put_float(self, R_STARTED, now);
    put_float(self, R_DEADLINE, deadline);
    if (args[1] != self->client) { /* once per connection, not per request */
        Py_INCREF(args[1]);
        Py_XSETREF(self->client, args[1]);
        Py_ssize_t n = client_len < R_CLIENT_MAX ? client_len : R_CLIENT_MAX;
        memcpy(self->slot + R_CLIENT_OFF, client, (size_t)n);
        put_int(self, R_CLIENT_LEN, n);
    }
    self->seq += 1 << STATE_BITS;
    publish(self, READING);
    Py_RETURN_NONE;
}

/* in_app(request_line, request_id, queue_time): the head was read; the app
 * is about to run. */
static PyObject *SlotWriter_in_app(SlotWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    const char *line, *rid;
    Py_ssize_t line_len, rid_len;
    double queue = Py_NAN;
    if (!ready(self) || !want_args("in_app", nargs, 3) || !as_bytes(args[0], &line, &line_len) ||
        !as_bytes(args[1], &rid, &rid_len))
        return NULL;
    if (args[2] != Py_None) {
        if (!as_double(args[2], &queue)) return NULL;
        add_int(self, R_QUEUE_BUCKETS + bucket_of(QUEUE_BOUNDS, N_QUEUE_BOUNDS, queue), 1);
        add_float(self, R_QUEUE_SUM, queue);
        add_int(self, R_QUEUE_COUNT, 1);
    }
    put_int(self, R_LINE_LEN, line_len);
    put_int(self, R_RID_LEN, rid_len);
    put_float(self, R_QUEUE, queue);
    put_text(self, R_LINE_OFF, line, line_len, R_LINE_MAX);
    put_text(self, R_RID_OFF, rid, rid_len, R_RID_MAX);
    publish(self, APP);
    Py_RETURN_NONE;
}

/* writing(): the response head is about to be sent; a 504 can no longer be given. */
static PyObject *SlotWriter_writing(SlotWriter *self, PyObject *unused) {
    if (!ready(self)) return NULL;
    publish(self, WRITING);
    Py_RETURN_NONE;
}

/* extend_deadline(seconds): the app asked for more time. One word. */
static PyObject *SlotWriter_extend_deadline(SlotWriter *self, PyObject *arg) {
    double seconds;
    if (!ready(self) || !as_double(arg, &seconds)) return NULL;
    put_float(self, R_DEADLINE, monotonic_now() + seconds);
    Py_RETURN_NONE;
}

/* end(status, now, bytes_in, bytes_out) -> duration: go idle and count it. */
static PyObject *SlotWriter_end(SlotWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t status, bytes_in, bytes_out;
    double now;
    if (!ready(self) || !want_args("end", nargs, 4) || !as_int64(args[0], &status) ||
        !as_double(args[1], &now) || !as_int64(args[2], &bytes_in) ||
        !as_int64(args[3], &bytes_out))
        return NULL;
    double duration = now - self->started;
    int64_t klass = status / 100 - 1;
    if (status >= 0 && klass >= 0 && klass < 5) add_int(self, R_STATUS_CLASSES + (int)klass, 1);
    add_int(self, R_DURATION_BUCKETS + bucket_of(DURATION_BOUNDS, N_DURATION_BOUNDS, duration), 1);
    add_float(self, R_DURATION_SUM, duration);
    add_int(self, R_BYTES_IN, bytes_in);
    add_int(self, R_BYTES_OUT, bytes_out);
    put_int(self, R_LAST_STATUS, status);
    /* Last, like every transition: an idle slot has counted its request. */
    publish(self, IDLE);
    return PyFloat_FromDouble(duration);
}

/* abandon(): the connection ended without a complete request. */
static PyObject *SlotWriter_abandon(SlotWriter *self, PyObject *unused) {
    if (!ready(self)) return NULL;
    publish(self, IDLE);
    Py_RETURN_NONE;
}

/* flush(now=0.0): nothing waits to be added; the counters are updated per request. */
static PyObject *SlotWriter_flush(SlotWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "flush() takes at most 1 argument (%zd given)", nargs);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *SlotWriter_get_seq(SlotWriter *self, void *closure) {
    return PyLong_FromLongLong((long long)(self->seq >> STATE_BITS));
}

static PyMethodDef SlotWriter_methods[] = {
    {"begin", (PyCFunction)(void (*)(void))SlotWriter_begin, METH_FASTCALL,
     "begin(fd, client, now, deadline): a request starts arriving."},
    {"in_app", (PyCFunction)(void (*)(void))SlotWriter_in_app, METH_FASTCALL,
     "in_app(request_line, request_id, queue_time): the app is about to run."},
    {"writing", (PyCFunction)SlotWriter_writing, METH_NOARGS,
     "writing(): the response head is about to be sent."},
    {"extend_deadline", (PyCFunction)SlotWriter_extend_deadline, METH_O,
     "extend_deadline(seconds): move this request's deadline."},
    {"end", (PyCFunction)(void (*)(void))SlotWriter_end, METH_FASTCALL,
     "end(status, now, bytes_in, bytes_out) -> duration: the request is done."},
    {"abandon", (PyCFunction)SlotWriter_abandon, METH_NOARGS,
     "abandon(): the connection ended without a complete request."},
    {"flush", (PyCFunction)(void (*)(void))SlotWriter_flush, METH_FASTCALL,
     "flush(now=0.0): no-op; the counters are current after every request."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef SlotWriter_getset[] = {
    {"seq", (getter)SlotWriter_get_seq, NULL, "The current request's sequence number.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SlotWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "workhorse.scoreboard._slotwriter.SlotWriter",
    .tp_doc = "SlotWriter(buffer, offset): writes one request slot of a scoreboard.",
    .tp_basicsize = sizeof(SlotWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SlotWriter_init,
    .tp_dealloc = (destructor)SlotWriter_dealloc,
    .tp_methods = SlotWriter_methods,
    .tp_getset = SlotWriter_getset,
};

/* --- counting busy and idle slots --------------------------------------- */

static int want_ssize(PyObject *const *args, Py_ssize_t count, Py_ssize_t *out) {
    for (Py_ssize_t i = 0; i < count; i++) {
        out[i] = PyLong_AsSsize_t(args[i]);
        if (out[i] == -1 && PyErr_Occurred()) return 0;
        if (out[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "count_busy_idle: negative geometry");
            return 0;
        }
    }
    return 1;
}

/* count_busy_idle(buffer, first_worker, worker_words, first_request,
 *                 request_words, capacity, threads) -> (busy, idle)
 * Board.count_busy_idle's loop: word indexes of the first worker's state
 * word and of the first request slot's state word, and their strides. */
static PyObject *count_busy_idle(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t g[6];
    if (!want_args("count_busy_idle", nargs, 7) || !want_ssize(args + 1, 6, g)) return NULL;
    Py_ssize_t first_worker = g[0], worker_words = g[1], first_request = g[2];
    Py_ssize_t request_words = g[3], capacity = g[4], threads = g[5];
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t words = view.len / 8;
    /* Every index read below is below these two (no sum can overflow: each
     * factor is checked against the buffer's size first). */
    int fits = capacity > 0 && threads > 0 && worker_words > 0 && request_words > 0 &&
               capacity <= words && threads <= words / capacity && worker_words <= words &&
               request_words <= words && first_worker < words && first_request < words &&
               (capacity - 1) <= (words - 1 - first_worker) / worker_words &&
               (capacity * threads - 1) <= (words - 1 - first_request) / request_words &&
               ((uintptr_t)view.buf) % 8 == 0;
    if (!fits) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "count_busy_idle: geometry outside the buffer");
        return NULL;
    }
    const int64_t *base = (const int64_t *)view.buf;
    long long busy = 0, idle = 0;
    for (Py_ssize_t w = 0; w < capacity; w++) {
        int64_t state = __atomic_load_n(base + first_worker + w * worker_words, __ATOMIC_RELAXED);
        if (state != WORKER_READY && state != WORKER_STOPPING) continue;
        for (Py_ssize_t t = 0; t < threads; t++) {
            const int64_t *word = base + first_request + (w * threads + t) * request_words;
            if (__atomic_load_n(word, __ATOMIC_RELAXED) & STATE_MASK)
                busy++;
            else if (state == WORKER_READY)
                idle++;
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(LL)", busy, idle);
}

static PyMethodDef module_functions[] = {
    {"count_busy_idle", (PyCFunction)(void (*)(void))count_busy_idle, METH_FASTCALL,
     "count_busy_idle(buffer, first_worker, worker_words, first_request, request_words, "
     "capacity, threads) -> (busy, idle)"},
    {NULL, NULL, 0, NULL},
};

/* --- the module ----------------------------------------------------------- */
static PyObject *bounds_tuple(const double *bounds, int count) {
    PyObject *tuple = PyTuple_New(count);
    if (tuple == NULL) return NULL;
    for (int i = 0; i < count; i++) {
        PyObject *item = PyFloat_FromDouble(bounds[i]);
        if (item == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}

/* What board.py compares with its own layout before it uses this writer. */
static PyObject *make_layout(void) {
    PyObject *durations = bounds_tuple(DURATION_BOUNDS, N_DURATION_BOUNDS);
    PyObject *queues = bounds_tuple(QUEUE_BOUNDS, N_QUEUE_BOUNDS);
    PyObject *layout = NULL;
    if (durations != NULL && queues != NULL)
        layout = Py_BuildValue(
            "{si si si si si si si si si si si si si si si si si si si si si si si si si si "
            "si si si si si sO sO}",
            "R_STATE_SEQ", R_STATE_SEQ, "R_FD", R_FD, "R_STARTED", R_STARTED,
            "R_DEADLINE", R_DEADLINE, "R_LAST_STATUS", R_LAST_STATUS,
            "R_CLIENT_LEN", R_CLIENT_LEN, "R_STATUS_CLASSES", R_STATUS_CLASSES,
            "R_DURATION_SUM", R_DURATION_SUM, "R_DURATION_BUCKETS", R_DURATION_BUCKETS,
            "R_QUEUE_SUM", R_QUEUE_SUM, "R_QUEUE_COUNT", R_QUEUE_COUNT,
            "R_QUEUE_BUCKETS", R_QUEUE_BUCKETS, "R_BYTES_IN", R_BYTES_IN,
            "R_BYTES_OUT", R_BYTES_OUT, "R_LINE_LEN", R_LINE_LEN, "R_RID_LEN", R_RID_LEN,
            "R_QUEUE", R_QUEUE, "R_LINE_OFF", R_LINE_OFF, "R_RID_OFF", R_RID_OFF,
            "R_CLIENT_OFF", R_CLIENT_OFF, "LINE_MAX", R_LINE_MAX, "RID_MAX", R_RID_MAX,
            "CLIENT_MAX", R_CLIENT_MAX, "REQUEST_SLOT_SIZE", REQUEST_SLOT_SIZE,
            "STATE_BITS", STATE_BITS, "IDLE", IDLE, "READING", READING, "APP", APP,
            "WRITING", WRITING, "WORKER_READY", WORKER_READY, "WORKER_STOPPING",
            WORKER_STOPPING, "DURATION_BUCKETS", durations, "QUEUE_BUCKETS", queues);
    Py_XDECREF(durations);
    Py_XDECREF(queues);
    return layout;
}

static struct PyModuleDef slotwriter_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "workhorse.scoreboard._slotwriter",
    .m_doc = "The scoreboard's request-slot writer in C (see board.py).",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC PyInit__slotwriter(void) {
    if (PyType_Ready(&SlotWriterType) < 0) return NULL;
    PyObject *module = PyModule_Create(&slotwriter_module);
    if (module == NULL) return NULL;
    PyObject *layout = make_layout();
    if (layout == NULL || PyModule_AddObject(module, "LAYOUT", layout) < 0) {
        Py_XDECREF(layout);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&SlotWriterType);
    if (PyModule_AddObject(module, "SlotWriter", (PyObject *)&SlotWriterType) < 0) {
        Py_DECREF(&SlotWriterType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
