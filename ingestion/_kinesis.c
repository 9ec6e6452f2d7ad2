/* A Kinesis Lambda event's records to the NDJSON body of their payloads, in one call:
 * body(records) -> (body, sequence_offsets, sequence_bytes) or None. ingestion/columnar.py wraps it.
 *
 * Why (BENCHMARKS.md, issue 10): in Python the same step (three lookups per record, a pybase64 call
 * per payload, the join and the Arrow array of sequence numbers) took ~11 ms per 10,000 records,
 * a quarter of every projector's parse; here it is one pass, with the payloads decoded by AVX2.
 *
 * The contract: when it returns, `body` is exactly b"\n".join(base64.b64decode(r["kinesis"]["data"],
 * validate=True) for r in records), and the sequence numbers, r["kinesis"]["sequenceNumber"] as UTF-8,
 * are laid out as an Arrow string array (int32 offsets, bytes). It returns None, and the caller runs
 * the Python steps, for anything else: records that are not exact dicts, a field missing or not a
 * str, and any payload that is not canonical base64 (length a multiple of 4, only the alphabet, at most
 * two '=' and only at the end, zero unused bits), or a machine without AVX2. Never a guess: a None
 * costs only time. tests/unit/test_kinesis_body.py checks it against base64 and pybase64.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static PyObject *KINESIS, *DATA, *SEQUENCE;

/* 0..63 for a base64 character, 0xFF for anything else ('=' included). */
static uint8_t VALUE[256];

static void init_values(void) {
    static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(VALUE, 0xFF, sizeof VALUE);
    for (int i = 0; i < 64; i++) VALUE[(uint8_t)ALPHABET[i]] = (uint8_t)i;
}

/* Whole quads without padding; 0 when a character is outside the alphabet. */
static int decode_quads(const uint8_t *s, size_t n, uint8_t *o) {
    for (size_t i = 0; i < n; i += 4, o += 3) {
        uint32_t a = VALUE[s[i]], b = VALUE[s[i + 1]], c = VALUE[s[i + 2]], d = VALUE[s[i + 3]];
        if ((a | b | c | d) & 0x80) return 0;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
    }
    return 1;
}

#if defined(__x86_64__)
/* 32 characters -> 24 bytes per step, validating as it goes: Muła and Lemire's AVX2 decoder
 * ("Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018), as in aklomp/base64.
 * Each step stores 32 bytes, so it runs only while 8 bytes of slack remain after the output. */
__attribute__((target("avx2"))) static size_t decode_avx2(const uint8_t *s, size_t n, uint8_t *o, size_t room) {
    const __m256i lut_lo = _mm256_setr_epi8(
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A,
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i lut_hi = _mm256_setr_epi8(
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    const __m256i lut_roll = _mm256_setr_epi8(
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i mask_2f = _mm256_set1_epi8(0x2F);
    const __m256i pack = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
    size_t done = 0;
    while (n - done >= 32 && room >= 32) {
        __m256i str = _mm256_loadu_si256((const __m256i *)(s + done));
        __m256i hi_nibbles = _mm256_and_si256(_mm256_srli_epi32(str, 4), mask_2f);
        __m256i lo_nibbles = _mm256_and_si256(str, mask_2f);
        __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
        __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
        if (!_mm256_testz_si256(lo, hi)) break;  /* a character outside the alphabet: the caller looks */
        __m256i eq_2f = _mm256_cmpeq_epi8(str, mask_2f);
        __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
        str = _mm256_add_epi8(str, roll);
        __m256i merged = _mm256_maddubs_epi16(str, _mm256_set1_epi32(0x01400140));
        __m256i out = _mm256_madd_epi16(merged, _mm256_set1_epi32(0x00011000));
        out = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(out, pack), lanes);
        _mm256_storeu_si256((__m256i *)o, out);
        o += 24;
        room -= 24;
        done += 32;
    }
    return done;
}
#endif

/* The decoded size of canonical base64 text, or -1. */
static Py_ssize_t decoded_size(const uint8_t *s, Py_ssize_t n) {
    if (n == 0 || n % 4) return -1;
    Py_ssize_t pads = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    return n / 4 * 3 - pads;
}

/* Decode canonical base64 (`size` from decoded_size) into o, with `room` bytes writable; 0 if not. */
static int decode(const uint8_t *s, size_t n, uint8_t *o, size_t size, size_t room) {
    size_t done = 0;
#if defined(__x86_64__)
    done = decode_avx2(s, n - 4, o, room);  /* never the last quad: it may hold the padding */
#endif
    if (!decode_quads(s + done, n - 4 - done, o + done / 4 * 3)) return 0;
    const uint8_t *q = s + n - 4;
    uint8_t *end = o + (n - 4) / 4 * 3;
    uint32_t a = VALUE[q[0]], b = VALUE[q[1]], c = VALUE[q[2]], d = VALUE[q[3]];
    size_t tail = size - (n - 4) / 4 * 3;  /* 1, 2 or 3 bytes */
    if (tail == 1) c = d = 0;
    if (tail == 2) d = 0;
    if ((a | b | c | d) & 0x80) return 0;
    uint32_t v = a << 18 | b << 12 | c << 6 | d;
    if (tail < 3 && (v & (tail == 1 ? 0xFFFF : 0xFF))) return 0;  /* unused bits set: not canonical */
    end[0] = (uint8_t)(v >> 16);
    if (tail > 1) end[1] = (uint8_t)(v >> 8);
    if (tail > 2) end[2] = (uint8_t)v;
    return 1;
}

/* A str's UTF-8, or NULL (with no exception) when it is not a str. */
static const uint8_t *text(PyObject *o, Py_ssize_t *n) {
    if (!o || !PyUnicode_Check(o)) return NULL;
    const char *s = PyUnicode_AsUTF8AndSize(o, n);
    if (!s) PyErr_Clear();
    return (const uint8_t *)s;
}

static PyObject *field(PyObject *dict, PyObject *key) {
    if (!dict || !PyDict_CheckExact(dict)) return NULL;
    return PyDict_GetItemWithError(dict, key);  /* borrowed; NULL when absent */
}

typedef struct { const uint8_t *data, *seq; Py_ssize_t data_len, size, seq_len; } Payload;

/* Every record's fields, looked up once: the records are scattered through memory, so each lookup is
 * a cache miss and a second round of them cost as much as the decoding. */
static int gather(PyObject *records, Py_ssize_t n, Payload *p, Py_ssize_t *body_size, Py_ssize_t *seq_size) {
    *body_size = n - 1;
    *seq_size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = field(PyList_GetItem(records, i), KINESIS);
        p[i].data = text(field(k, DATA), &p[i].data_len);
        p[i].seq = text(field(k, SEQUENCE), &p[i].seq_len);
        p[i].size = p[i].data ? decoded_size(p[i].data, p[i].data_len) : -1;
        if (!p[i].seq || p[i].size < 0 || (*body_size += p[i].size) > PY_SSIZE_T_MAX / 2
            || (*seq_size += p[i].seq_len) > 0x7fffffff)
            return 0;
    }
    return 1;
}

static PyObject *kinesis_body(PyObject *self, PyObject *records) {
    (void)self;
    int avx2 = 0;
#if defined(__x86_64__)
    avx2 = __builtin_cpu_supports("avx2");
#endif
    if (!avx2 || !PyList_CheckExact(records) || PyList_Size(records) == 0) Py_RETURN_NONE;
    Py_ssize_t n = PyList_Size(records), body_size, seq_size;
    Payload *p = PyMem_Malloc((size_t)n * sizeof *p);
    if (!p) return PyErr_NoMemory();
    PyObject *body = NULL, *offsets = NULL, *seqs = NULL, *out = NULL;
    if (!gather(records, n, p, &body_size, &seq_size)) goto done;  /* None: the Python steps say why */
    body = PyBytes_FromStringAndSize(NULL, body_size);
    offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(int32_t));
    seqs = PyBytes_FromStringAndSize(NULL, seq_size);
    if (!body || !offsets || !seqs) goto done;
    /* Fresh bytes objects, not yet shared, are ours to fill. */
    uint8_t *o = (uint8_t *)PyBytes_AsString(body), *end = o + body_size;
    uint8_t *chars = (uint8_t *)PyBytes_AsString(seqs);
    int32_t *offs = (int32_t *)PyBytes_AsString(offsets), at = 0;
    offs[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!decode(p[i].data, (size_t)p[i].data_len, o, (size_t)p[i].size, (size_t)(end - o))) goto done;
        o += p[i].size;
        if (i + 1 < n) *o++ = '\n';
        if (p[i].seq_len) memcpy(chars + at, p[i].seq, (size_t)p[i].seq_len);
        offs[i + 1] = at += (int32_t)p[i].seq_len;
    }
    out = Py_BuildValue("(OOO)", body, offsets, seqs);
done:
    PyMem_Free(p);
    Py_XDECREF(body);
    Py_XDECREF(offsets);
    Py_XDECREF(seqs);
    if (out || PyErr_ExceptionMatches(PyExc_MemoryError)) return out;
    PyErr_Clear();  /* e.g. an unhashable key's error: the Python steps name what is wrong */
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"body", kinesis_body, METH_O,
     "body(records) -> (NDJSON body, sequence offsets, sequence bytes) of a Kinesis event's records, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_kinesis", .m_doc = NULL, .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kinesis(void) {
    init_values();
    if (!KINESIS && !(KINESIS = PyUnicode_InternFromString("kinesis"))) return NULL;
    if (!DATA && !(DATA = PyUnicode_InternFromString("data"))) return NULL;
    if (!SEQUENCE && !(SEQUENCE = PyUnicode_InternFromString("sequenceNumber"))) return NULL;
    return PyModule_Create(&module);
}
