/* A one-pass NDJSON reader for the projectors' batches: the subset of what pyarrow.json reads that
 * Kinesis payloads of DynamoDB changes use, into Arrow buffers. ingestion/ndjson.py wraps it.
 *
 * Why (BENCHMARKS.md, issue 10): pyarrow.json took ~62 ms of a projector's ~100-120 ms per 10,000
 * records; one plain pass over the same bytes takes ~16 ms. Every library alternative measured was
 * slower (BENCHMARKS.md section 1), so this is hand-written.
 *
 * The contract: read(body) returns the columns pyarrow.json.read_json(body) would give (same
 * inferred types, same field order, same values), or None when the body holds anything outside the
 * subset below; the caller then parses it with pyarrow.json. It never guesses:
 *   - each line one JSON object; values: objects, arrays, strings without escapes (their bytes kept
 *     as they are, as pyarrow.json keeps them: the caller checks UTF-8), integers of at most 18
 *     digits, true/false/null, with the same type for a field on every line; ASCII keys;
 *   - a string pyarrow.json could infer as a timestamp (an ISO-8601 date prefix) is refused unless
 *     it has fractional seconds, which pyarrow.json's timestamp[s] inference rejects;
 *   - refused: escapes, non-ASCII keys, control bytes, fractions, exponents, duplicate keys, empty lines,
 *     type changes between lines, an array's nulls before its first value, nesting deeper than MAX_DEPTH.
 * tests/unit/test_ndjson.py checks the contract against pyarrow.json itself on generated bodies.
 * The parse runs without the GIL (handlers run in threads).
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { K_NULL, K_BOOL, K_INT, K_STR, K_STRUCT, K_LIST };
enum { OK = 0, REFUSE = -1, NOMEM = -2 };
#define MAX_DEPTH 64
#define MAX_OFFSET 0x7fffffffLL /* Arrow string/list offsets are int32 */

typedef struct { uint8_t *p; size_t len, cap; } Buf;

typedef struct Node Node;
struct Node {
    int kind;
    int64_t length, nulls;
    Buf valid;   /* validity bitmap (not kept for K_NULL) */
    Buf data;    /* K_BOOL: bitmap; K_INT: int64 values; K_STR: the bytes */
    Buf offsets; /* K_STR, K_LIST: int32 */
    Node **kids; /* K_STRUCT: fields in order of first appearance */
    const uint8_t **names;
    size_t *name_lens;
    int nkids, capkids, hint;
    Node *item;  /* K_LIST */
    int is_item; /* the values of a K_LIST */
};

static int reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return NOMEM;
    b->p = p;
    b->cap = cap;
    return OK;
}

static int put(Buf *b, const void *src, size_t n) {
    if (n == 0) return OK;  /* an empty string: nothing to copy, and maybe no buffer yet */
    if (reserve(b, n)) return NOMEM;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return OK;
}

static int put_bit(Buf *b, int64_t i, int on) {
    if ((i & 7) == 0) {
        uint8_t zero = 0;
        if (put(b, &zero, 1)) return NOMEM;
    }
    if (on) b->p[i >> 3] |= (uint8_t)(1u << (i & 7));
    return OK;
}

static int put_offset(Buf *b, int64_t v) {
    if (v > MAX_OFFSET) return REFUSE;
    int32_t o = (int32_t)v;
    return put(b, &o, sizeof o);
}

static Node *node_new(int64_t nulls) {
    Node *n = calloc(1, sizeof *n);
    if (n) n->length = n->nulls = nulls;
    return n;
}

static void node_free(Node *n) {
    if (!n) return;
    free(n->valid.p);
    free(n->data.p);
    free(n->offsets.p);
    for (int i = 0; i < n->nkids; i++) node_free(n->kids[i]);
    free(n->kids);
    free(n->names);
    free(n->name_lens);
    node_free(n->item);
    free(n);
}

static int append_null(Node *n) {
    /* pyarrow.json drops the nulls an array holds before its values' type is known, leaving offsets
     * past the end of the values (an invalid array): such arrays are left to it, to fail the same way. */
    if (n->is_item && n->kind == K_NULL) return REFUSE;
    if (n->kind != K_NULL) {
        int rc = put_bit(&n->valid, n->length, 0);
        switch (n->kind) {
        case K_BOOL: rc = rc ? rc : put_bit(&n->data, n->length, 0); break;
        case K_INT: { int64_t z = 0; rc = rc ? rc : put(&n->data, &z, sizeof z); break; }
        case K_STR: rc = rc ? rc : put_offset(&n->offsets, (int64_t)n->data.len); break;
        case K_LIST: rc = rc ? rc : put_offset(&n->offsets, n->item ? n->item->length : 0); break;
        case K_STRUCT:  /* pyarrow.json nulls every field of a null object too */
            for (int i = 0; i < n->nkids && !rc; i++) rc = append_null(n->kids[i]);
            break;
        }
        if (rc) return rc;
    }
    n->length++;
    n->nulls++;
    return OK;
}

/* The first non-null value fixes the node's type; the nulls before it are laid out for that type. */
static int settle(Node *n, int kind) {
    if (n->kind == kind) return OK;
    if (n->kind != K_NULL) return REFUSE; /* a type change between lines: pyarrow.json's to resolve */
    int64_t before = n->length;
    n->kind = kind;
    n->length = n->nulls = 0;
    if ((kind == K_STR || kind == K_LIST) && put_offset(&n->offsets, 0)) return NOMEM;
    for (int64_t i = 0; i < before; i++) {
        int rc = append_null(n);
        if (rc) return rc;
    }
    return OK;
}

static int valid_row(Node *n) {
    if (put_bit(&n->valid, n->length, 1)) return NOMEM;
    n->length++;
    return OK;
}

typedef struct { const uint8_t *p, *end; } Cur;

static inline void skip_ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static inline int is_digit(uint8_t ch) { return ch >= '0' && ch <= '9'; }

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Eight bytes at a time: does this word hold a quote, a backslash or a control byte? (The classic
 * has-zero-byte / has-less-than bit tricks; nonzero when any byte does.) */
static inline uint64_t special(const uint8_t *p) {
    uint64_t w, q, b;
    memcpy(&w, p, sizeof w);
    q = w ^ (ONES * '"');
    b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
}

/* A plain string's bytes (c at the opening quote), or REFUSE for anything needing a decoder. */
static int scan_string(Cur *c, const uint8_t **s, size_t *n) {
    const uint8_t *p = ++c->p;
    for (;;) {
        while (c->end - p >= 8 && !special(p)) p += 8;
        if (p >= c->end) return REFUSE;
        uint8_t ch = *p;
        if (ch == '"') {
            *s = c->p;
            *n = (size_t)(p - c->p);
            c->p = p + 1;
            return OK;
        }
        if (ch == '\\' || ch < 0x20) return REFUSE;
        p++;
    }
}

/* Could pyarrow.json infer this string as timestamp[s]? It tries every string with a YYYY-MM-DD
 * prefix; only fractional seconds (a '.' right after hh:mm:ss) are sure to stay a string. */
static int maybe_timestamp(const uint8_t *s, size_t n) {
    if (n < 10 || !(is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-'
                    && is_digit(s[5]) && is_digit(s[6]) && s[7] == '-' && is_digit(s[8]) && is_digit(s[9])))
        return 0;
    return !(n > 19 && s[19] == '.');
}

static int literal(Cur *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return REFUSE;
    c->p += n;
    return OK;
}

static int parse_value(Cur *c, Node *n, int depth);

static Node *field(Node *n, const uint8_t *name, size_t len, int *rc) {
    int i = n->hint;  /* fields mostly come in the same order: try the one after the last first */
    for (int k = 0; k < n->nkids; k++, i++) {
        if (i >= n->nkids) i = 0;
        if (n->name_lens[i] == len && memcmp(n->names[i], name, len) == 0) {
            n->hint = i + 1;
            return n->kids[i];
        }
    }
    for (size_t j = 0; j < len; j++)  /* a new key (checked once: a match is the same bytes) */
        if (name[j] >= 0x80) { *rc = REFUSE; return NULL; }  /* becomes a Python str: ASCII only */
    if (n->nkids == n->capkids) {
        int cap = n->capkids ? n->capkids * 2 : 8;
        Node **kids = realloc(n->kids, cap * sizeof *kids);
        if (kids) n->kids = kids;
        const uint8_t **names = realloc(n->names, cap * sizeof *names);
        if (names) n->names = names;
        size_t *lens = realloc(n->name_lens, cap * sizeof *lens);
        if (lens) n->name_lens = lens;
        if (!kids || !names || !lens) { *rc = NOMEM; return NULL; }
        n->capkids = cap;
    }
    Node *kid = node_new(n->length);  /* null on every earlier line */
    if (!kid) { *rc = NOMEM; return NULL; }
    n->kids[n->nkids] = kid;
    n->names[n->nkids] = name;  /* points into the body, which outlives the parse */
    n->name_lens[n->nkids] = len;
    n->hint = ++n->nkids;
    return kid;
}

static int parse_object(Cur *c, Node *n, int depth) {
    int rc = settle(n, K_STRUCT);
    if (rc) return rc;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
    } else {
        for (;;) {
            if (c->p >= c->end || *c->p != '"') return REFUSE;
            const uint8_t *name;
            size_t len;
            if (scan_string(c, &name, &len)) return REFUSE;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return REFUSE;
            c->p++;
            skip_ws(c);
            Node *kid = field(n, name, len, &rc);
            if (!kid) return rc;
            if (kid->length != n->length) return REFUSE;  /* a duplicate key */
            if ((rc = parse_value(c, kid, depth + 1))) return rc;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
            if (c->p < c->end && *c->p == '}') { c->p++; break; }
            return REFUSE;
        }
    }
    for (int i = 0; i < n->nkids; i++)
        if (n->kids[i]->length == n->length && (rc = append_null(n->kids[i]))) return rc;
    return valid_row(n);
}

static int parse_array(Cur *c, Node *n, int depth) {
    int rc = settle(n, K_LIST);
    if (rc) return rc;
    if (!n->item && !(n->item = node_new(0))) return NOMEM;
    n->item->is_item = 1;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
    } else {
        for (;;) {
            if ((rc = parse_value(c, n->item, depth + 1))) return rc;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
            if (c->p < c->end && *c->p == ']') { c->p++; break; }
            return REFUSE;
        }
    }
    if ((rc = put_offset(&n->offsets, n->item->length))) return rc;
    return valid_row(n);
}

static int parse_int(Cur *c, Node *n) {
    const uint8_t *p = c->p;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    const uint8_t *digits = p;
    int64_t v = 0;
    while (p < c->end && is_digit(*p)) {
        if (p - digits >= 18) return REFUSE;  /* pyarrow.json's int64 range and beyond: its call */
        v = v * 10 + (*p - '0');
        p++;
    }
    size_t nd = (size_t)(p - digits);
    if (nd == 0 || (nd > 1 && *digits == '0')) return REFUSE;
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E')) return REFUSE;  /* a double */
    if (neg && v == 0) return REFUSE;  /* -0 */
    int rc = settle(n, K_INT);
    if (rc) return rc;
    v = neg ? -v : v;
    if (put(&n->data, &v, sizeof v)) return NOMEM;
    c->p = p;
    return valid_row(n);
}

static int parse_value(Cur *c, Node *n, int depth) {
    if (depth > MAX_DEPTH || c->p >= c->end) return REFUSE;
    int rc;
    switch (*c->p) {
    case '{': return parse_object(c, n, depth);
    case '[': return parse_array(c, n, depth);
    case '"': {
        const uint8_t *s;
        size_t len;
        if (scan_string(c, &s, &len) || maybe_timestamp(s, len)) return REFUSE;
        if ((rc = settle(n, K_STR)) || (rc = put(&n->data, s, len))) return rc;
        if ((rc = put_offset(&n->offsets, (int64_t)n->data.len))) return rc;
        return valid_row(n);
    }
    case 't':
    case 'f': {
        int on = *c->p == 't';
        if (literal(c, on ? "true" : "false", on ? 4 : 5)) return REFUSE;
        if ((rc = settle(n, K_BOOL)) || (rc = put_bit(&n->data, n->length, on))) return rc;
        return valid_row(n);
    }
    case 'n':
        if (literal(c, "null", 4)) return REFUSE;
        return append_null(n);
    default:
        if (*c->p == '-' || is_digit(*c->p)) return parse_int(c, n);
        return REFUSE;
    }
}

static int parse_lines(const uint8_t *body, size_t size, Node *root) {
    Cur c = {body, body + size};
    if (size == 0) return REFUSE;
    while (c.p < c.end) {
        skip_ws(&c);
        if (c.p >= c.end || *c.p != '{') return REFUSE;  /* an empty line, or a line that is no object */
        int rc = parse_object(&c, root, 0);
        if (rc) return rc;
        if (root->nkids == 0) return REFUSE;  /* `{}`: a table of no columns keeps no row count */
        skip_ws(&c);
        if (c.p < c.end) {
            if (*c.p != '\n') return REFUSE;
            c.p++;
        }
    }
    return OK;
}

/* (kind, length, nulls, validity, offsets, data, children): children are (name, node) pairs for an
 * object, (item,) for an array. Buffers are None when empty or, for validity, when nothing is null. */
static PyObject *bytes_or_none(const Buf *b, int keep) {
    if (!keep) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)b->p, (Py_ssize_t)b->len);
}

static PyObject *to_python(const Node *n) {
    PyObject *kids;
    if (n->kind == K_STRUCT) {
        kids = PyTuple_New(n->nkids);
        for (int i = 0; kids && i < n->nkids; i++) {
            PyObject *pair = Py_BuildValue("(s#N)", (const char *)n->names[i], (Py_ssize_t)n->name_lens[i],
                                           to_python(n->kids[i]));
            if (!pair) { Py_CLEAR(kids); break; }
            PyTuple_SetItem(kids, i, pair);
        }
    } else if (n->kind == K_LIST) {
        Node empty = {0};
        kids = Py_BuildValue("(N)", to_python(n->item ? n->item : &empty));
    } else {
        kids = PyTuple_New(0);
    }
    if (!kids) return NULL;
    int offs = n->kind == K_STR || n->kind == K_LIST;
    int data = n->kind == K_BOOL || n->kind == K_INT || n->kind == K_STR;
    return Py_BuildValue("(iLLNNNN)", n->kind, (long long)n->length, (long long)n->nulls,
                         bytes_or_none(&n->valid, n->kind != K_NULL && n->nulls > 0),
                         bytes_or_none(&n->offsets, offs), bytes_or_none(&n->data, data), kids);
}

static PyObject *ndjson_read(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Node *root = node_new(0);
    if (!root) { PyBuffer_Release(&view); return PyErr_NoMemory(); }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = parse_lines((const uint8_t *)view.buf, (size_t)view.len, root);
    Py_END_ALLOW_THREADS
    PyObject *out;
    if (rc == NOMEM) out = PyErr_NoMemory();
    else if (rc) out = Py_NewRef(Py_None);
    else out = to_python(root);  /* names point into the body: convert before releasing it */
    node_free(root);
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"read", ndjson_read, METH_O,
     "read(body) -> the columns pyarrow.json would read from this NDJSON, as nested tuples, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_ndjson", .m_doc = NULL, .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__ndjson(void) { return PyModule_Create(&module); }
