/*
 * vigie._kafka_columns: a librdkafka group consumer that hands each consumed batch to Python as
 * columns (contiguous buffers in Arrow's layout), not as one Python object per message.
 *
 * Why: with confluent-kafka, taking a message and its headers costs ~8 µs of interpreter time
 * (Message objects, then the header list built on first access), which caps one archive sink
 * process near 100,000 rows/s before any other work. Here a batch costs a few C loops and a
 * handful of Python objects. The Python side (vigie/kafka_columns.py) wraps the buffers as
 * pyarrow arrays without copying and gives the sink the subset of the Consumer API it uses.
 *
 * Threading: consume, committed, commit (sync) and close release the GIL; librdkafka calls the
 * rebalance callback from inside them, on the calling thread, which takes the GIL back to run the
 * Python handler. Only the eager rebalance protocol is supported (the default assignors).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    rd_kafka_t *rk;
    rd_kafka_queue_t *rkqu;
    PyObject *on_rebalance;             /* callable(event: str, partitions: list[(topic, partition)]) */
    PyObject *exc_type, *exc_value, *exc_tb; /* raised by the handler inside librdkafka: re-raised after */
    char **hdr_names;                   /* header fields to extract, as columns */
    int *hdr_first;                     /* 1: first occurrence of the name, 0: last */
    int n_hdrs;
} Consumer;

static PyObject *KafkaColumnsError;

static PyObject *raise_err(const char *what, rd_kafka_resp_err_t err) {
    PyObject *args = Py_BuildValue("(sis)", what, (int)err, rd_kafka_err2str(err));
    if (args) {
        PyErr_SetObject(KafkaColumnsError, args);
        Py_DECREF(args);
    }
    return NULL;
}

static PyObject *raise_error_obj(const char *what, rd_kafka_error_t *error) {
    PyObject *args = Py_BuildValue("(sis)", what, (int)rd_kafka_error_code(error), rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    if (args) {
        PyErr_SetObject(KafkaColumnsError, args);
        Py_DECREF(args);
    }
    return NULL;
}

/* [(topic, partition, offset)] or [(topic, partition)] -> a new partition list (NULL + exception on error). */
static rd_kafka_topic_partition_list_t *parts_from_py(PyObject *seq, int with_offset) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of tuples");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)(n > 0 ? n : 1));
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        const char *topic;
        int partition;
        long long offset = RD_KAFKA_OFFSET_INVALID;
        int ok = with_offset ? PyArg_ParseTuple(item, "siL", &topic, &partition, &offset)
                             : PyArg_ParseTuple(item, "si", &topic, &partition);
        if (!ok) {
            rd_kafka_topic_partition_list_destroy(list);
            Py_DECREF(fast);
            return NULL;
        }
        rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    }
    Py_DECREF(fast);
    return list;
}

static PyObject *parts_to_py(const rd_kafka_topic_partition_list_t *list, int with_offset) {
    PyObject *out = PyList_New(list->cnt);
    if (!out) return NULL;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &list->elems[i];
        PyObject *t = with_offset ? Py_BuildValue("(siL)", p->topic, (int)p->partition, (long long)p->offset)
                                  : Py_BuildValue("(si)", p->topic, (int)p->partition);
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static void stash_exception(Consumer *self) {
    if (self->exc_type == NULL) {
        PyErr_Fetch(&self->exc_type, &self->exc_value, &self->exc_tb);
    } else {
        PyErr_Clear();
    }
}

static int restore_exception(Consumer *self) {
    if (self->exc_type == NULL) return 0;
    PyErr_Restore(self->exc_type, self->exc_value, self->exc_tb);
    self->exc_type = self->exc_value = self->exc_tb = NULL;
    return 1;
}

/* Called by librdkafka from inside consume/close, on the calling thread (the GIL released). */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    Consumer *self = (Consumer *)opaque;
    PyGILState_STATE gil = PyGILState_Ensure();
    int assigning = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    const char *event = assigning ? "assign" : (rd_kafka_assignment_lost(rk) ? "lost" : "revoke");
    int handled = 0;
    if (self->on_rebalance != NULL && self->exc_type == NULL) {
        PyObject *list = parts_to_py(parts, 0);
        if (list) {
            PyObject *r = PyObject_CallFunction(self->on_rebalance, "sO", event, list);
            Py_DECREF(list);
            if (r) {
                Py_DECREF(r);
                handled = 1;
            }
        }
        if (!handled) stash_exception(self);
    }
    PyGILState_Release(gil);
    /* The handler assigns (with the offsets it chose); a revoke always ends with an empty assignment. */
    if (!assigning) {
        rd_kafka_assign(rk, NULL);
    } else if (!handled) {
        rd_kafka_assign(rk, parts);
    }
}

static int Consumer_init(Consumer *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"config", "headers", NULL};
    PyObject *config, *headers;
    char errstr[512];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O", kwlist, &PyDict_Type, &config, &headers)) return -1;
    if (self->rk != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    PyObject *hfast = PySequence_Fast(headers, "headers: a sequence of (name, 'first' or 'last')");
    if (!hfast) return -1;
    Py_ssize_t nh = PySequence_Fast_GET_SIZE(hfast);
    self->hdr_names = PyMem_Calloc(nh > 0 ? nh : 1, sizeof(char *));
    self->hdr_first = PyMem_Calloc(nh > 0 ? nh : 1, sizeof(int));
    for (Py_ssize_t i = 0; i < nh; i++) {
        const char *name, *which;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(hfast, i), "ss", &name, &which)) {
            Py_DECREF(hfast);
            return -1;
        }
        self->hdr_names[i] = PyMem_Malloc(strlen(name) + 1);
        strcpy(self->hdr_names[i], name);
        self->hdr_first[i] = strcmp(which, "first") == 0;
        self->n_hdrs = (int)i + 1;
    }
    Py_DECREF(hfast);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(config, &pos, &key, &value)) {
        PyObject *ks = PyObject_Str(key), *vs = PyObject_Str(value);
        if (!ks || !vs) {
            Py_XDECREF(ks);
            Py_XDECREF(vs);
            rd_kafka_conf_destroy(conf);
            return -1;
        }
        const char *k = PyUnicode_AsUTF8(ks), *v = PyUnicode_AsUTF8(vs);
        if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            /* never echo the value: it may be a password */
            if (*v != '\0' && strstr(errstr, v) != NULL)
                PyErr_Format(PyExc_ValueError, "librdkafka rejects the value of the setting %s", k);
            else
                PyErr_Format(PyExc_ValueError, "librdkafka rejects the setting %s: %s", k, errstr);
            Py_DECREF(ks);
            Py_DECREF(vs);
            rd_kafka_conf_destroy(conf);
            return -1;
        }
        Py_DECREF(ks);
        Py_DECREF(vs);
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, self);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        PyErr_Format(PyExc_ValueError, "cannot create the consumer: %s", errstr);
        return -1;
    }
    rd_kafka_poll_set_consumer(rk);
    self->rk = rk;
    self->rkqu = rd_kafka_queue_get_consumer(rk);
    return 0;
}

static int check_open(Consumer *self) {
    if (self->rk == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "consumer closed");
        return 0;
    }
    return 1;
}

static PyObject *Consumer_subscribe(Consumer *self, PyObject *args) {
    PyObject *topics, *cb;
    if (!PyArg_ParseTuple(args, "OO", &topics, &cb) || !check_open(self)) return NULL;
    PyObject *fast = PySequence_Fast(topics, "topics: a sequence of names");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)(n > 0 ? n : 1));
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *t = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (!t) {
            rd_kafka_topic_partition_list_destroy(list);
            Py_DECREF(fast);
            return NULL;
        }
        rd_kafka_topic_partition_list_add(list, t, RD_KAFKA_PARTITION_UA);
    }
    Py_DECREF(fast);
    Py_XSETREF(self->on_rebalance, Py_NewRef(cb));
    rd_kafka_resp_err_t err = rd_kafka_subscribe(self->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return raise_err("subscribe", err);
    Py_RETURN_NONE;
}

static PyObject *Consumer_assign(Consumer *self, PyObject *args) {
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq) || !check_open(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = parts_from_py(seq, 1);
    if (!list) return NULL;
    rd_kafka_resp_err_t err = rd_kafka_assign(self->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return raise_err("assign", err);
    Py_RETURN_NONE;
}

static PyObject *pause_resume(Consumer *self, PyObject *args, int pause) {
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq) || !check_open(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = parts_from_py(seq, 0);
    if (!list) return NULL;
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(self->rk, list)
                                    : rd_kafka_resume_partitions(self->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return raise_err(pause ? "pause" : "resume", err);
    Py_RETURN_NONE;
}

static PyObject *Consumer_pause(Consumer *self, PyObject *args) { return pause_resume(self, args, 1); }
static PyObject *Consumer_resume(Consumer *self, PyObject *args) { return pause_resume(self, args, 0); }

static PyObject *Consumer_seek(Consumer *self, PyObject *args) {
    PyObject *seq;
    double timeout;
    if (!PyArg_ParseTuple(args, "Od", &seq, &timeout) || !check_open(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = parts_from_py(seq, 1);
    if (!list) return NULL;
    rd_kafka_error_t *error;
    Py_BEGIN_ALLOW_THREADS
    error = rd_kafka_seek_partitions(self->rk, list, (int)(timeout * 1000));
    Py_END_ALLOW_THREADS
    if (error) {
        rd_kafka_topic_partition_list_destroy(list);
        return raise_error_obj("seek", error);
    }
    for (int i = 0; i < list->cnt; i++) {
        if (list->elems[i].err) {
            rd_kafka_resp_err_t err = list->elems[i].err;
            rd_kafka_topic_partition_list_destroy(list);
            return raise_err("seek", err);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    Py_RETURN_NONE;
}

static PyObject *Consumer_committed(Consumer *self, PyObject *args) {
    PyObject *seq;
    double timeout;
    if (!PyArg_ParseTuple(args, "Od", &seq, &timeout) || !check_open(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = parts_from_py(seq, 0);
    if (!list) return NULL;
    rd_kafka_resp_err_t err;
    Py_BEGIN_ALLOW_THREADS
    err = rd_kafka_committed(self->rk, list, (int)(timeout * 1000));
    Py_END_ALLOW_THREADS
    if (restore_exception(self)) {
        rd_kafka_topic_partition_list_destroy(list);
        return NULL;
    }
    if (err) {
        rd_kafka_topic_partition_list_destroy(list);
        return raise_err("committed", err);
    }
    PyObject *out = parts_to_py(list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    return out;
}

static PyObject *Consumer_commit(Consumer *self, PyObject *args) {
    PyObject *seq;
    int asynchronous;
    if (!PyArg_ParseTuple(args, "Op", &seq, &asynchronous) || !check_open(self)) return NULL;
    rd_kafka_topic_partition_list_t *list = parts_from_py(seq, 1);
    if (!list) return NULL;
    rd_kafka_resp_err_t err;
    Py_BEGIN_ALLOW_THREADS
    err = rd_kafka_commit(self->rk, list, asynchronous);
    Py_END_ALLOW_THREADS
    rd_kafka_topic_partition_list_destroy(list);
    if (restore_exception(self)) return NULL;
    if (err) return raise_err("commit", err);
    Py_RETURN_NONE;
}

/*
 * A binary column in Arrow's layout: validity bitmap (or None), int32 offsets (n + 1), data.
 * Built in three steps so the copying runs without the GIL: locate (no GIL: pointers, lengths,
 * total, nulls), alloc (GIL: the Python buffers), fill (no GIL: memcpy into them).
 */
typedef struct {
    const void **ptrs;
    size_t *lens;
    Py_ssize_t total, nulls;
    PyObject *validity, *offsets, *data;
} BinCol;

static int bincol_alloc(BinCol *c, Py_ssize_t n) {
    if (c->total > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "batch column over 2 GiB: consume fewer messages per call");
        return -1;
    }
    c->offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(int32_t));
    c->data = PyBytes_FromStringAndSize(NULL, c->total);
    c->validity = c->nulls > 0 ? PyBytes_FromStringAndSize(NULL, (n + 7) / 8) : Py_NewRef(Py_None);
    return c->offsets && c->data && c->validity ? 0 : -1;
}

static void bincol_fill(BinCol *c, Py_ssize_t n) { /* no Python calls: runs without the GIL */
    int32_t *off = (int32_t *)PyBytes_AS_STRING(c->offsets);
    char *dst = PyBytes_AS_STRING(c->data);
    int32_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        off[i] = at;
        if (c->ptrs[i] != NULL && c->lens[i] > 0) {
            memcpy(dst + at, c->ptrs[i], c->lens[i]);
            at += (int32_t)c->lens[i];
        }
    }
    off[n] = at;
    if (c->nulls > 0) {
        unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(c->validity);
        memset(bits, 0, (n + 7) / 8);
        for (Py_ssize_t i = 0; i < n; i++)
            if (c->ptrs[i] != NULL) bits[i >> 3] |= (unsigned char)(1u << (i & 7));
    }
}

static PyObject *bincol_result(BinCol *c) { /* takes over the three buffers */
    PyObject *r = Py_BuildValue("(NNNn)", c->validity, c->offsets, c->data, c->nulls);
    c->validity = c->offsets = c->data = NULL;
    return r;
}

static void bincol_clear(BinCol *c) {
    Py_CLEAR(c->validity);
    Py_CLEAR(c->offsets);
    Py_CLEAR(c->data);
}

/*
 * consume(max_messages, timeout) -> None when nothing came, else
 * (n, topics, topic_index, partitions, offsets, timestamps, value, key, headers, errors):
 * topics a list of names and topic_index an int32 buffer into it; partitions int32, offsets and
 * timestamps (ms, -1 when absent) int64 buffers; value, key and each requested header a binary
 * column (see BinCol); errors a list of (code, reason) for the error events of the batch.
 *
 * The GIL is held only to create the Python objects: reading the messages, copying their bytes
 * and destroying them (~2 µs per message) run without it, so the sink's enrich and writer threads
 * keep running Python while a batch of 50,000 messages is turned into columns.
 */
static PyObject *Consumer_consume(Consumer *self, PyObject *args) {
    Py_ssize_t max;
    double timeout;
    if (!PyArg_ParseTuple(args, "nd", &max, &timeout) || !check_open(self)) return NULL;
    if (max < 1) max = 1;
    rd_kafka_message_t **msgs = PyMem_RawMalloc(max * sizeof(*msgs));
    if (!msgs) return PyErr_NoMemory();
    ssize_t got;
    Py_BEGIN_ALLOW_THREADS
    got = rd_kafka_consume_batch_queue(self->rkqu, (int)(timeout * 1000), msgs, (size_t)max);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL, *errors = NULL, *topics = NULL, *hdr_list = NULL;
    PyObject *topic_index = NULL, *partitions = NULL, *offsets = NULL, *timestamps = NULL;
    int ncols = 2 + self->n_hdrs; /* value, key, then the headers */
    BinCol *cols = NULL;
    const void **ptrs = NULL;
    size_t *lens = NULL;
    rd_kafka_topic_t **rkts = NULL; /* distinct topic handles of the batch, in order of appearance */
    int n_rkts = 0;
    if (got < 0) {
        PyMem_RawFree(msgs);
        return raise_err("consume", rd_kafka_last_error());
    }
    if (restore_exception(self)) goto done;
    errors = PyList_New(0);
    topics = PyList_New(0);
    if (!errors || !topics) goto done;
    /* drop error events (reported apart) and partition EOFs: n good messages at the front */
    Py_ssize_t n = 0;
    for (ssize_t i = 0; i < got; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                PyObject *e = Py_BuildValue("(is)", (int)m->err, rd_kafka_message_errstr(m));
                if (!e || PyList_Append(errors, e) < 0) {
                    Py_XDECREF(e);
                    goto done;
                }
                Py_DECREF(e);
            }
            rd_kafka_message_destroy(m);
            msgs[i] = NULL;
            continue;
        }
        msgs[n++] = m;
        if (n - 1 != i) msgs[i] = NULL;
    }
    if (n == 0 && PyList_GET_SIZE(errors) == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    topic_index = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    partitions = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    offsets = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    timestamps = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    cols = PyMem_RawCalloc(ncols, sizeof(*cols));
    ptrs = PyMem_RawMalloc((n > 0 ? n : 1) * ncols * sizeof(*ptrs));
    lens = PyMem_RawMalloc((n > 0 ? n : 1) * ncols * sizeof(*lens));
    rkts = PyMem_RawMalloc((n > 0 ? n : 1) * sizeof(*rkts));
    if (!topic_index || !partitions || !offsets || !timestamps) goto done;
    if (!cols || !ptrs || !lens || !rkts) {
        PyErr_NoMemory();
        goto done;
    }
    for (int c = 0; c < ncols; c++) {
        cols[c].ptrs = ptrs + (size_t)c * (size_t)n;
        cols[c].lens = lens + (size_t)c * (size_t)n;
    }
    int32_t *ti = (int32_t *)PyBytes_AS_STRING(topic_index);
    int32_t *pa = (int32_t *)PyBytes_AS_STRING(partitions);
    int64_t *of = (int64_t *)PyBytes_AS_STRING(offsets);
    int64_t *ts = (int64_t *)PyBytes_AS_STRING(timestamps);
    Py_BEGIN_ALLOW_THREADS /* locate: no Python object is touched, only our own buffers */
    for (Py_ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        int idx = -1;
        for (int j = n_rkts - 1; j >= 0; j--)
            if (rkts[j] == m->rkt) {
                idx = j;
                break;
            }
        if (idx < 0) {
            idx = n_rkts;
            rkts[n_rkts++] = m->rkt;
        }
        ti[i] = idx;
        pa[i] = m->partition;
        of[i] = m->offset;
        ts[i] = rd_kafka_message_timestamp(m, NULL);
        /* a null value (payload NULL) stays null, an empty one is "" */
        cols[0].ptrs[i] = m->payload;
        cols[0].lens[i] = m->payload ? m->len : 0;
        cols[1].ptrs[i] = m->key;
        cols[1].lens[i] = m->key ? m->key_len : 0;
        rd_kafka_headers_t *hdrs = NULL;
        int has_hdrs = self->n_hdrs > 0 && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int h = 0; h < self->n_hdrs; h++) {
            const void *v = NULL;
            size_t len = 0;
            rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__NOENT;
            if (has_hdrs)
                err = self->hdr_first[h] ? rd_kafka_header_get(hdrs, 0, self->hdr_names[h], &v, &len)
                                         : rd_kafka_header_get_last(hdrs, self->hdr_names[h], &v, &len);
            int ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && v != NULL;
            cols[2 + h].ptrs[i] = ok ? v : NULL;
            cols[2 + h].lens[i] = ok ? len : 0;
        }
    }
    for (int c = 0; c < ncols; c++) {
        Py_ssize_t total = 0, nulls = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            total += (Py_ssize_t)cols[c].lens[i];
            nulls += cols[c].ptrs[i] == NULL;
        }
        cols[c].total = total;
        cols[c].nulls = nulls;
    }
    Py_END_ALLOW_THREADS
    /* the topics' names, one per distinct name (two handles of one topic share an index) */
    int *rkt_index = PyMem_RawMalloc((n_rkts > 0 ? n_rkts : 1) * sizeof(int));
    if (!rkt_index) {
        PyErr_NoMemory();
        goto done;
    }
    for (int j = 0; j < n_rkts; j++) {
        const char *name = rd_kafka_topic_name(rkts[j]);
        int idx = -1;
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(topics); k++)
            if (strcmp(PyUnicode_AsUTF8(PyList_GET_ITEM(topics, k)), name) == 0) idx = (int)k;
        if (idx < 0) {
            PyObject *s = PyUnicode_FromString(name);
            if (!s || PyList_Append(topics, s) < 0) {
                Py_XDECREF(s);
                PyMem_RawFree(rkt_index);
                goto done;
            }
            Py_DECREF(s);
            idx = (int)PyList_GET_SIZE(topics) - 1;
        }
        rkt_index[j] = idx;
    }
    int renumber = 0;
    for (int j = 0; j < n_rkts; j++) renumber |= rkt_index[j] != j;
    for (int c = 0; c < ncols; c++)
        if (bincol_alloc(&cols[c], n) < 0) {
            PyMem_RawFree(rkt_index);
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS /* fill, then give the messages back to librdkafka */
    if (renumber)
        for (Py_ssize_t i = 0; i < n; i++) ti[i] = rkt_index[ti[i]];
    for (int c = 0; c < ncols; c++) bincol_fill(&cols[c], n);
    for (Py_ssize_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
        msgs[i] = NULL;
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(rkt_index);
    PyObject *value = bincol_result(&cols[0]);
    PyObject *key = value ? bincol_result(&cols[1]) : NULL;
    hdr_list = key ? PyList_New(self->n_hdrs) : NULL;
    if (!hdr_list) {
        Py_XDECREF(value);
        Py_XDECREF(key);
        goto done;
    }
    for (int h = 0; h < self->n_hdrs; h++) {
        PyObject *col = bincol_result(&cols[2 + h]);
        if (!col) {
            Py_DECREF(value);
            Py_DECREF(key);
            goto done;
        }
        PyList_SET_ITEM(hdr_list, h, col);
    }
    result = Py_BuildValue("(nOOOOONNOO)", n, topics, topic_index, partitions, offsets, timestamps, value, key,
                           hdr_list, errors);
done:
    for (ssize_t i = 0; i < got; i++)
        if (msgs[i]) rd_kafka_message_destroy(msgs[i]);
    PyMem_RawFree(msgs);
    if (cols)
        for (int c = 0; c < ncols; c++) bincol_clear(&cols[c]);
    PyMem_RawFree(cols);
    PyMem_RawFree(ptrs);
    PyMem_RawFree(lens);
    PyMem_RawFree(rkts);
    Py_XDECREF(errors);
    Py_XDECREF(topics);
    Py_XDECREF(topic_index);
    Py_XDECREF(partitions);
    Py_XDECREF(offsets);
    Py_XDECREF(timestamps);
    Py_XDECREF(hdr_list);
    return result;
}

static PyObject *Consumer_close(Consumer *self, PyObject *Py_UNUSED(ignored)) {
    if (self->rk == NULL) Py_RETURN_NONE;
    rd_kafka_resp_err_t err;
    Py_BEGIN_ALLOW_THREADS
    err = rd_kafka_consumer_close(self->rk);
    rd_kafka_queue_destroy(self->rkqu);
    rd_kafka_destroy(self->rk);
    Py_END_ALLOW_THREADS
    self->rk = NULL;
    self->rkqu = NULL;
    if (restore_exception(self)) return NULL;
    if (err) return raise_err("close", err);
    Py_RETURN_NONE;
}

static void Consumer_dealloc(Consumer *self) {
    if (self->rk != NULL) {
        /* not closed: leave the group without calling back into Python */
        rd_kafka_queue_destroy(self->rkqu);
        rd_kafka_destroy_flags(self->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        self->rk = NULL;
    }
    Py_CLEAR(self->on_rebalance);
    Py_CLEAR(self->exc_type);
    Py_CLEAR(self->exc_value);
    Py_CLEAR(self->exc_tb);
    for (int i = 0; i < self->n_hdrs; i++) PyMem_Free(self->hdr_names[i]);
    PyMem_Free(self->hdr_names);
    PyMem_Free(self->hdr_first);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Consumer_methods[] = {
    {"subscribe", (PyCFunction)Consumer_subscribe, METH_VARARGS, "subscribe(topics, on_rebalance)"},
    {"assign", (PyCFunction)Consumer_assign, METH_VARARGS, "assign([(topic, partition, offset)])"},
    {"pause", (PyCFunction)Consumer_pause, METH_VARARGS, "pause([(topic, partition)])"},
    {"resume", (PyCFunction)Consumer_resume, METH_VARARGS, "resume([(topic, partition)])"},
    {"seek", (PyCFunction)Consumer_seek, METH_VARARGS, "seek([(topic, partition, offset)], timeout)"},
    {"committed", (PyCFunction)Consumer_committed, METH_VARARGS, "committed([(topic, partition)], timeout)"},
    {"commit", (PyCFunction)Consumer_commit, METH_VARARGS, "commit([(topic, partition, offset)], asynchronous)"},
    {"consume", (PyCFunction)Consumer_consume, METH_VARARGS, "consume(max_messages, timeout) -> columns"},
    {"close", (PyCFunction)Consumer_close, METH_NOARGS, "leave the group and free the client"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ConsumerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vigie._kafka_columns.Consumer",
    .tp_basicsize = sizeof(Consumer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A librdkafka group consumer returning batches as columns.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Consumer_init,
    .tp_dealloc = (destructor)Consumer_dealloc,
    .tp_methods = Consumer_methods,
};

static PyObject *version(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored)) {
    return PyUnicode_FromString(rd_kafka_version_str());
}

static PyMethodDef module_methods[] = {
    {"librdkafka_version", version, METH_NOARGS, "the linked librdkafka's version"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "vigie._kafka_columns", "librdkafka consumer returning batches as columns.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__kafka_columns(void) {
    if (PyType_Ready(&ConsumerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    KafkaColumnsError = PyErr_NewException("vigie._kafka_columns.KafkaColumnsError", NULL, NULL);
    if (!KafkaColumnsError || PyModule_AddObject(m, "KafkaColumnsError", KafkaColumnsError) < 0 ||
        PyModule_AddObject(m, "Consumer", Py_NewRef((PyObject *)&ConsumerType)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
