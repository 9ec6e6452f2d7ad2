/* A one-pass NDJSON reader for the projectors' batches: the subset of what pyarrow.json reads that
 * Kinesis payloads of DynamoDB changes use, into Arrow buffers. ingestion/ndjson.py wraps it.
 *
 * Why (BENCHMARKS.md, issue 10): pyarrow.json took ~62 ms of a projector's ~100-120 ms per 10,000
 * records; one plain pass over the same bytes takes ~13 ms. Every library alternative measured was
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
typedef struct Kid Kid;
struct Node {
    int kind;
    int64_t length, nulls;
    int64_t filled; /* rows laid out in the buffers; the rest (up to length) are nulls still to lay out */
    int64_t written_nulls; /* the nulls that were a JSON `null` (the others: the field was absent) */
    int number_tag;        /* the value of a key "N" (a DynamoDB number, written as a string) */
    int64_t odd_numbers;   /* its strings that are not canonical numbers (canonical_number) */
    Buf valid;   /* validity bitmap (not kept for K_NULL) */
    Buf data;    /* K_BOOL: bitmap; K_INT: int64 values; K_STR: the bytes */
    Buf offsets; /* K_STR, K_LIST: int32 */
    Kid *kids;   /* K_STRUCT: fields in order of first appearance */
    int nkids, capkids, first;
    Node *item;  /* K_LIST */
    int is_item; /* the values of a K_LIST */
};

/* A field of an object. Its node may lag behind the object's rows: the rows it missed are nulls,
 * counted when it is next given a value or at the end (`catch_up`), so an absent attribute costs
 * nothing per row. One array of these keeps what a key lookup reads together. */
struct Kid {
    const uint8_t *name; /* points into the body, which outlives the parse */
    size_t len;
    Node *node;
    int after;           /* the field that followed this one last time (a guess), -1 none */
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

/* Called for every value: the byte for a new group of eight rows is appended without a call. */
static inline int put_bit(Buf *b, int64_t i, int on) {
    if ((i & 7) == 0) {
        if (b->len == b->cap && reserve(b, 1)) return NOMEM;
        b->p[b->len++] = 0;
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
    if (n) {
        n->length = n->nulls = nulls;
        n->first = -1;
    }
    return n;
}

static void node_free(Node *n) {
    if (!n) return;
    free(n->valid.p);
    free(n->data.p);
    free(n->offsets.p);
    for (int i = 0; i < n->nkids; i++) node_free(n->kids[i].node);
    free(n->kids);
    node_free(n->item);
    free(n);
}

/* A null only counts: it is laid out in the buffers (`fill`) when the node's next value comes, or at
 * the end. (Laying out every absent attribute of every image at once took ~15% of the reader.) The
 * fields of a null object get their nulls by lagging behind it (`catch_up`), as pyarrow.json nulls
 * every field of a null object too. */
static int append_null(Node *n) {
    /* pyarrow.json drops the nulls an array holds before its values' type is known, leaving offsets
     * past the end of the values (an invalid array): such arrays are left to it, to fail the same way. */
    if (n->is_item && n->kind == K_NULL) return REFUSE;
    n->length++;
    n->nulls++;
    n->written_nulls++;
    return OK;
}

/* A field's node, brought to `rows` rows: the ones it missed are nulls. */
static void catch_up(Node *kid, int64_t rows) {
    kid->nulls += rows - kid->length;
    kid->length = rows;
}

/* A bitmap whose bits past the last one set are all zero, grown to hold `to` bits (the new ones zero). */
static int zero_bits(Buf *b, int64_t to) {
    size_t need = (size_t)((to + 7) >> 3);
    if (need <= b->len) return OK;
    if (reserve(b, need - b->len)) return NOMEM;
    memset(b->p + b->len, 0, need - b->len);
    b->len = need;
    return OK;
}

/* Lay out the counted nulls (rows filled..length-1) for the node's type. */
static int fill(Node *n) {
    int64_t k = n->length - n->filled;
    if (k == 0 || n->kind == K_NULL) return OK;
    if (zero_bits(&n->valid, n->length)) return NOMEM;
    switch (n->kind) {
    case K_BOOL:
        if (zero_bits(&n->data, n->length)) return NOMEM;
        break;
    case K_INT:
        if (reserve(&n->data, (size_t)k * sizeof(int64_t))) return NOMEM;
        memset(n->data.p + n->data.len, 0, (size_t)k * sizeof(int64_t));
        n->data.len += (size_t)k * sizeof(int64_t);
        break;
    case K_STR:
    case K_LIST: {
        int64_t at = n->kind == K_STR ? (int64_t)n->data.len : n->item ? n->item->length : 0;
        if (at > MAX_OFFSET) return REFUSE;
        if (reserve(&n->offsets, (size_t)k * sizeof(int32_t))) return NOMEM;
        int32_t *o = (int32_t *)(n->offsets.p + n->offsets.len);
        for (int64_t i = 0; i < k; i++) o[i] = (int32_t)at;
        n->offsets.len += (size_t)k * sizeof(int32_t);
        break;
    }
    }
    n->filled = n->length;
    return OK;
}

/* Before a value: the first non-null value fixes the node's type (the nulls before it are then laid
 * out for that type), and the nulls since the last value are laid out. */
static inline int begin_value(Node *n, int kind) {
    if (n->kind == kind && n->filled == n->length) return OK;  /* the usual case, without a call */
    if (n->kind != kind) {
        if (n->kind != K_NULL) return REFUSE; /* a type change between lines: pyarrow.json's to resolve */
        n->kind = kind;
        n->filled = 0;
        if ((kind == K_STR || kind == K_LIST) && put_offset(&n->offsets, 0)) return NOMEM;
    }
    return fill(n);
}

static int valid_row(Node *n) {
    if (put_bit(&n->valid, n->length, 1)) return NOMEM;
    n->filled = ++n->length;
    return OK;
}

typedef struct { const uint8_t *p, *end; } Cur;

static inline void skip_ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static inline int is_digit(uint8_t ch) { return ch >= '0' && ch <= '9'; }

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "scan_string reads words little-endian (x86_64, aarch64)"
#endif
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Eight bytes at a time: does this word hold a quote, a backslash or a control byte? (The classic
 * has-zero-byte / has-less-than bit tricks: the high bit of each such byte is set. A borrow can flag
 * a byte above a true match too, never one below, so the lowest flag is exact.) */
static inline uint64_t special(const uint8_t *p) {
    uint64_t w, q, b;
    memcpy(&w, p, sizeof w);
    q = w ^ (ONES * '"');
    b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
}

#ifdef __SSE2__
#include <emmintrin.h>
/* Sixteen bytes at a time (SSE2 is part of x86_64; most keys and values end within the first 16):
 * a bit for each quote, backslash or control byte. */
static inline unsigned special16(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); /* v <= 0x1f, unsigned */
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), ctl));
}
#endif

/* The first quote, backslash or control byte at or after p (end if none). */
static inline const uint8_t *next_special(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    for (; end - p >= 16; p += 16) {
        unsigned m = special16(p);
        if (m) return p + __builtin_ctz(m);
    }
#endif
    for (; end - p >= 8; p += 8) {
        uint64_t m = special(p);
        if (m) return p + (__builtin_ctzll(m) >> 3);  /* the lowest flag is exact (little-endian words) */
    }
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) p++;
    return p;
}

/* A plain string's bytes (c at the opening quote), or REFUSE for anything needing a decoder. */
static int scan_string(Cur *c, const uint8_t **s, size_t *n) {
    const uint8_t *start = c->p + 1, *p = next_special(start, c->end);
    if (p >= c->end || *p != '"') return REFUSE;  /* unterminated, an escape or a control byte */
    *s = start;
    *n = (size_t)(p - start);
    c->p = p + 1;
    return OK;
}

/* A string's bytes appended. Most are short: one or two 16-byte copies (the bytes past it are overwritten
 * later or lie beyond `len`) instead of a call to memcpy (~7% of the reader). `room`: the bytes
 * readable from s. */
static inline int put_str(Buf *b, const uint8_t *s, size_t n, size_t room) {
#ifdef __SSE2__
    if (n <= 32 && room >= 32 && b->cap - b->len >= 32) {
        uint8_t *d = b->p + b->len;
        _mm_storeu_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
        if (n > 16) _mm_storeu_si128((__m128i *)(d + 16), _mm_loadu_si128((const __m128i *)(s + 16)));
        b->len += n;
        return OK;
    }
#endif
    (void)room;
    return put(b, s, n);
}

/* What str(Decimal(s)) prints back unchanged (ingestion.columnar.CANONICAL_NUMBER):
 * -?([1-9][0-9]*(\.[0-9]+)?|0(\.([0-9]{1,5}|0{0,5}[1-9][0-9]*))?), finite, no exponent, no leading zero,
 * no fraction of 0 small enough for Decimal to print with an exponent (0.0000001 is 1E-7; 0.000000
 * too, to keep the rule simple). The decoder reads every DynamoDB number, also those no projector
 * casts (an OldImage's), and the lake copies line numbers verbatim into JSON text: counting the
 * others here costs next to nothing, where a regex over those strings took ~1.3 ms per 10k records. */
static int canonical_number(const uint8_t *s, size_t n) {
    size_t i = 0, d, zeros;
    if (i < n && s[i] == '-') i++;
    if (i == n || !is_digit(s[i])) return 0;
    if (s[i] == '0') {
        if (++i == n) return 1;
        if (s[i] != '.') return 0;  /* a leading zero */
        for (d = ++i; i < n && s[i] == '0'; i++) {}
        zeros = i - d;
        for (; i < n && is_digit(s[i]); i++) {}
        if (i != n || i == d) return 0;
        return n - d <= 5 || (zeros <= 5 && zeros < n - d);
    }
    for (; i < n && is_digit(s[i]); i++) {}
    if (i < n && s[i] == '.') {
        for (d = ++i; i < n && is_digit(s[i]); i++) {}
        if (i == d) return 0;
    }
    return i == n;
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

/* Keys are short: word compares beat a call to memcmp (~8% of the reader) and a byte loop. `room`
 * bytes are readable from both (b lies later in the body than a, and room is what b has left). */
static inline uint64_t word(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static inline int same(const uint8_t *a, const uint8_t *b, size_t n, size_t room) {
    if (room < 8) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i]) return 0;
        return 1;
    }
    if (n <= 8)  /* the bytes past the key are read but masked off */
        return n == 0 || ((word(a) ^ word(b)) << (64 - 8 * n)) == 0;
    for (size_t i = 0; i + 8 < n; i += 8)
        if (word(a + i) != word(b + i)) return 0;
    return word(a + n - 8) == word(b + n - 8);  /* the last 8, overlapping */
}

/* The field named `name` (its index), the one before it in this object being `prev` (-1: first).
 * Each kind of item writes its attributes in one order, so the field that followed `prev` last time
 * is tried first: with two entities in a batch, a plain "next after the last" guess missed often
 * enough for key comparisons to take a quarter of the reader. */
static int field(Node *n, int prev, const uint8_t *name, size_t len, size_t room, int *rc) {
    int *guess = prev < 0 ? &n->first : &n->kids[prev].after;
    int g = *guess;
    if (g >= 0 && n->kids[g].len == len && same(n->kids[g].name, name, len, room)) return g;
    for (int i = 0; i < n->nkids; i++)
        if (n->kids[i].len == len && same(n->kids[i].name, name, len, room)) return *guess = i;
    for (size_t j = 0; j < len; j++)  /* a new key (checked once: a match is the same bytes) */
        if (name[j] >= 0x80) { *rc = REFUSE; return -1; }  /* becomes a Python str: ASCII only */
    if (n->nkids == n->capkids) {
        int cap = n->capkids ? n->capkids * 2 : 8;
        Kid *kids = realloc(n->kids, cap * sizeof *kids);
        if (!kids) { *rc = NOMEM; return -1; }
        n->kids = kids;
        n->capkids = cap;
    }
    Node *kid = node_new(n->length);  /* null on every earlier line */
    if (!kid) { *rc = NOMEM; return -1; }
    kid->number_tag = len == 1 && name[0] == 'N';
    n->kids[n->nkids] = (Kid){name, len, kid, -1};
    guess = prev < 0 ? &n->first : &n->kids[prev].after;  /* `kids` may have moved */
    return *guess = n->nkids++;
}

static int parse_object(Cur *c, Node *n, int depth) {
    int rc = begin_value(n, K_STRUCT);
    if (rc) return rc;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
    } else {
        for (int prev = -1;;) {
            if (c->p >= c->end || *c->p != '"') return REFUSE;
            /* The key this object's writer put here last time, if these bytes are it and a quote follows:
             * its bytes were scanned when first seen (no quote, escape or control byte), so the quote
             * ends the key, and neither the scan nor the look-up is needed (most keys: ~1 ms per 10k records). */
            int g = prev < 0 ? n->first : n->kids[prev].after;
            const uint8_t *name = c->p + 1;
            size_t len, room = (size_t)(c->end - name);
            if (g >= 0 && n->kids[g].len < room && name[n->kids[g].len] == '"'
                && same(n->kids[g].name, name, n->kids[g].len, room)) {
                len = n->kids[g].len;
                c->p = name + len + 1;
            } else {
                g = -1;
                if (scan_string(c, &name, &len)) return REFUSE;
            }
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return REFUSE;
            c->p++;
            skip_ws(c);
            if (g >= 0) prev = g;
            else if ((prev = field(n, prev, name, len, (size_t)(c->end - name), &rc)) < 0) return rc;
            Node *kid = n->kids[prev].node;
            if (kid->length > n->length) return REFUSE;  /* a duplicate key */
            catch_up(kid, n->length);
            if ((rc = parse_value(c, kid, depth + 1))) return rc;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
            if (c->p < c->end && *c->p == '}') { c->p++; break; }
            return REFUSE;
        }
    }
    return valid_row(n);
}

static int parse_array(Cur *c, Node *n, int depth) {
    int rc = begin_value(n, K_LIST);
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
    int rc = begin_value(n, K_INT);
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
        if (n->number_tag && !canonical_number(s, len)) n->odd_numbers++;
        if ((rc = begin_value(n, K_STR)) || (rc = put_str(&n->data, s, len, (size_t)(c->end - s)))) return rc;
        if ((rc = put_offset(&n->offsets, (int64_t)n->data.len))) return rc;
        return valid_row(n);
    }
    case 't':
    case 'f': {
        int on = *c->p == 't';
        if (literal(c, on ? "true" : "false", on ? 4 : 5)) return REFUSE;
        if ((rc = begin_value(n, K_BOOL)) || (rc = put_bit(&n->data, n->length, on))) return rc;
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

/* Lay out the nulls counted after each node's last value. */
static int finish(Node *n) {
    int rc = fill(n);
    for (int i = 0; i < n->nkids && !rc; i++) {
        catch_up(n->kids[i].node, n->length);
        rc = finish(n->kids[i].node);
    }
    return rc || !n->item ? rc : finish(n->item);
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

/* A buffer handed to Python without a copy: it owns the reader's memory and exposes it read-only
 * through the buffer protocol, so pa.py_buffer wraps it as it is. (Copying every buffer into a bytes
 * object cost ~4 of the ~20 ms per 10k records: the copy, and the page faults of the fresh memory.) */
typedef struct { PyObject_HEAD uint8_t *p; Py_ssize_t len; } Owned;
static PyTypeObject *OwnedType;

static int owned_getbuffer(PyObject *self, Py_buffer *view, int flags) {
    Owned *o = (Owned *)self;
    return PyBuffer_FillInfo(view, self, o->p, o->len, 1, flags);
}

static void owned_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    free(((Owned *)self)->p);
    ((freefunc)PyType_GetSlot(tp, Py_tp_free))(self);
    Py_DECREF(tp);
}

static PyType_Slot owned_slots[] = {
    {Py_tp_dealloc, owned_dealloc}, {Py_bf_getbuffer, owned_getbuffer}, {0, NULL},
};
static PyType_Spec owned_spec = {"ingestion._ndjson.Buffer", sizeof(Owned), 0, Py_TPFLAGS_DEFAULT, owned_slots};

/* (kind, length, nulls, validity, offsets, data, children, written nulls, odd numbers): children are
 * (name, node) pairs for an object, (item,) for an array; written nulls: how many of the nulls were a
 * JSON `null` rather than an absent field (pyarrow.json cannot tell them apart; the DynamoDB decoder
 * does); odd numbers: for the value of a key "N", its strings that are not canonical numbers. Buffers are None when not kept or, for validity, when nothing is null.
 * A kept buffer's memory moves to the Python object (the node no longer frees it). */
static PyObject *take_or_none(Buf *b, int keep) {
    if (!keep) Py_RETURN_NONE;
    if (b->len == 0) return PyBytes_FromStringAndSize("", 0);  /* maybe no memory at all */
    Owned *o = (Owned *)((allocfunc)PyType_GetSlot(OwnedType, Py_tp_alloc))(OwnedType, 0);
    if (!o) return NULL;
    o->p = b->p;
    o->len = (Py_ssize_t)b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return (PyObject *)o;
}

static PyObject *to_python(Node *n) {
    PyObject *kids;
    if (n->kind == K_STRUCT) {
        kids = PyTuple_New(n->nkids);
        for (int i = 0; kids && i < n->nkids; i++) {
            PyObject *pair = Py_BuildValue("(s#N)", (const char *)n->kids[i].name, (Py_ssize_t)n->kids[i].len,
                                           to_python(n->kids[i].node));
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
    return Py_BuildValue("(iLLNNNNLL)", n->kind, (long long)n->length, (long long)n->nulls,
                         take_or_none(&n->valid, n->kind != K_NULL && n->nulls > 0),
                         take_or_none(&n->offsets, offs), take_or_none(&n->data, data), kids,
                         (long long)n->written_nulls, (long long)n->odd_numbers);
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
    if (rc == OK) rc = finish(root);
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

PyMODINIT_FUNC PyInit__ndjson(void) {
    if (!OwnedType && !(OwnedType = (PyTypeObject *)PyType_FromSpec(&owned_spec))) return NULL;
    return PyModule_Create(&module);
}
