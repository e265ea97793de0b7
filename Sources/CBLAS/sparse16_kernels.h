// Kernels of the 2:4 packed and bitmask storages with 16-bit values (TwoFourWeight<F16/BF16>,
// BitmaskWeight<F16/BF16> in Runtime/Weights): the layouts of sparse_kernels.h with each value an
// IEEE half (bf16 = 0) or bfloat16 (bf16 = 1), widened to float32 in the inner loop (F16C, or a
// 16-bit shift for bf16) and accumulated in float32. As everywhere: portable versions, SIMD ones
// with clang target attributes picked at run time by level (0 portable, ≥ 1 AVX2 + FMA + F16C; the
// 2:4 GEMV has an AVX-512 version at level 2, the bitmask GEMV runs its AVX2 version there). The caller passes level 0 for f16 on a CPU without F16C
// (HalfKernels.swift). Every kernel: y[r] = s_r (or y[r] += s_r when accumulate) for r in r0..<r1.
#ifndef SURGEON_SPARSE16_KERNELS_H
#define SURGEON_SPARSE16_KERNELS_H

#include <stdint.h>
#include "half_kernels.h"
#include "sparse_kernels.h"

// ---------------------------------------------------------------------------------------------
// 2:4 packed, 16-bit values. x: [C]; vals: [R, nv] (16-bit), nv = 2·ceil(C/4); pos: [R, nw]; y: [R]
// ---------------------------------------------------------------------------------------------

/// Scalar values j0..<nv of one row (x indices ≥ C only ever carry zero values: skipped).
static inline float surgeon_24_tail16(const float *x, long C, const uint16_t *v, const uint32_t *p, long j0, long nv, int bf16) {
    float s = 0;
    for (long j = j0; j < nv; j++) {
        long i = 4 * (j >> 1) + ((p[j >> 4] >> (2 * (j & 15))) & 3);
        if (i < C) s += surgeon_16_to_float(v[j], bf16) * x[i];
    }
    return s;
}

static inline void surgeon_gemv24_16_portable(const float *x, long C, const uint16_t *vals, const uint32_t *pos,
                                              long r0, long r1, float *y, int accumulate, int bf16) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float s = surgeon_24_tail16(x, C, vals + r * nv, pos + r * nw, 0, nv, bf16);
        y[r] = accumulate ? y[r] + s : s;
    }
}

#if defined(__x86_64__)
#define SURGEON_S16_LOAD8_F16(P) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(P)))
#define SURGEON_S16_LOAD8_BF16(P) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(P))), 16))

// The AVX2 2:4 kernels move the values, not x: one position byte covers 8 inputs (two groups, four
// values), and a byte-shuffle control per position byte (constant tables below, 256 entries) puts
// the four values at their inputs with zeros between, so x is read contiguously and one FMA takes
// 8 inputs. For bf16 the shuffle itself widens (a bf16 value is the high half of its float32), so
// there is no conversion; f16 shuffles 8 halves and converts them (F16C). This took ~0.6x (bf16)
// and ~0.75x (f16) the time of permuting x by the positions (which it replaced), per value, in a
// single-thread C microbenchmark on an AVX2 EPYC: the 2-bit index gather is compute-bound there.
//
// Q(c, s): which of the four values of position byte c lands on input slot s (0..7), or -1.
#define SURGEON_24_G(s) ((s) >> 2)
#define SURGEON_24_Q(c, s)                                                                                    \
    (((s) & 3) == (((c) >> (4 * SURGEON_24_G(s))) & 3)       ? 2 * SURGEON_24_G(s)                            \
     : ((s) & 3) == (((c) >> (4 * SURGEON_24_G(s) + 2)) & 3) ? 2 * SURGEON_24_G(s) + 1                        \
                                                             : -1)
// f16: byte k of the [8 halves] control (slot k/2): the half's bytes, or 0x80 (zero).
#define SURGEON_24_H(c, k) (SURGEON_24_Q(c, (k) >> 1) < 0 ? 0x80 : 2 * SURGEON_24_Q(c, (k) >> 1) + ((k) & 1))
// bf16: byte k of the [8 floats] control (slot k/4), values read from bytes 8h..8h+7 of a lane: the
// low two bytes of each float zero, the high two the bf16 value.
#define SURGEON_24_B(c, h, k)                                                                                 \
    (((k) & 3) < 2 || SURGEON_24_Q(c, (k) >> 2) < 0 ? 0x80 : 8 * (h) + 2 * SURGEON_24_Q(c, (k) >> 2) + ((k) & 3) - 2)
#define SURGEON_24_ROW16(c)                                                                                   \
    {SURGEON_24_H(c, 0), SURGEON_24_H(c, 1), SURGEON_24_H(c, 2), SURGEON_24_H(c, 3), SURGEON_24_H(c, 4),      \
     SURGEON_24_H(c, 5), SURGEON_24_H(c, 6), SURGEON_24_H(c, 7), SURGEON_24_H(c, 8), SURGEON_24_H(c, 9),      \
     SURGEON_24_H(c, 10), SURGEON_24_H(c, 11), SURGEON_24_H(c, 12), SURGEON_24_H(c, 13), SURGEON_24_H(c, 14), \
     SURGEON_24_H(c, 15)}
#define SURGEON_24_B8(c, h, k)                                                                                \
    SURGEON_24_B(c, h, k), SURGEON_24_B(c, h, k + 1), SURGEON_24_B(c, h, k + 2), SURGEON_24_B(c, h, k + 3),   \
        SURGEON_24_B(c, h, k + 4), SURGEON_24_B(c, h, k + 5), SURGEON_24_B(c, h, k + 6), SURGEON_24_B(c, h, k + 7)
#define SURGEON_24_ROW32(c, h) \
    {SURGEON_24_B8(c, h, 0), SURGEON_24_B8(c, h, 8), SURGEON_24_B8(c, h, 16), SURGEON_24_B8(c, h, 24)}
#define SURGEON_24_X4(M, c, ...) M(c, ##__VA_ARGS__), M(c + 1, ##__VA_ARGS__), M(c + 2, ##__VA_ARGS__), M(c + 3, ##__VA_ARGS__)
#define SURGEON_24_X16(M, c, ...)                                                                             \
    SURGEON_24_X4(M, c, ##__VA_ARGS__), SURGEON_24_X4(M, c + 4, ##__VA_ARGS__),                               \
        SURGEON_24_X4(M, c + 8, ##__VA_ARGS__), SURGEON_24_X4(M, c + 12, ##__VA_ARGS__)
#define SURGEON_24_X256(M, ...)                                                                               \
    SURGEON_24_X16(M, 0, ##__VA_ARGS__), SURGEON_24_X16(M, 16, ##__VA_ARGS__), SURGEON_24_X16(M, 32, ##__VA_ARGS__), \
        SURGEON_24_X16(M, 48, ##__VA_ARGS__), SURGEON_24_X16(M, 64, ##__VA_ARGS__),                           \
        SURGEON_24_X16(M, 80, ##__VA_ARGS__), SURGEON_24_X16(M, 96, ##__VA_ARGS__),                           \
        SURGEON_24_X16(M, 112, ##__VA_ARGS__), SURGEON_24_X16(M, 128, ##__VA_ARGS__),                         \
        SURGEON_24_X16(M, 144, ##__VA_ARGS__), SURGEON_24_X16(M, 160, ##__VA_ARGS__),                         \
        SURGEON_24_X16(M, 176, ##__VA_ARGS__), SURGEON_24_X16(M, 192, ##__VA_ARGS__),                         \
        SURGEON_24_X16(M, 208, ##__VA_ARGS__), SURGEON_24_X16(M, 224, ##__VA_ARGS__), SURGEON_24_X16(M, 240, ##__VA_ARGS__)

/// f16 controls: [256 position bytes, 16 bytes] (4 KiB).
static const uint8_t surgeon_24_f16_control[256][16] __attribute__((aligned(16))) = {SURGEON_24_X256(SURGEON_24_ROW16)};
/// bf16 controls: [2 halves of 8 values, 256 position bytes, 32 bytes] (16 KiB).
static const uint8_t surgeon_24_bf16_control[2][256][32] __attribute__((aligned(32))) = {
    {SURGEON_24_X256(SURGEON_24_ROW32, 0)}, {SURGEON_24_X256(SURGEON_24_ROW32, 1)}};

#undef SURGEON_24_X256
#undef SURGEON_24_X16
#undef SURGEON_24_X4
#undef SURGEON_24_ROW32
#undef SURGEON_24_B8
#undef SURGEON_24_ROW16
#undef SURGEON_24_B
#undef SURGEON_24_H
#undef SURGEON_24_Q
#undef SURGEON_24_G

/// Two position bytes as one load (memcpy: no aliasing of the uint32 words).
static inline unsigned surgeon_24_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

// bf16, 16 inputs (8 values, two position bytes) per step: the 8 values in both lanes, two shuffles.
#define SURGEON_24_BF16_STEP(A, B, M)                                                                         \
    {                                                                                                         \
        unsigned code = surgeon_24_load_u16(pb + 2 * (M));                                                    \
        __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(v0 + 8 * (M))));            \
        __m256i c0 = _mm256_load_si256((const __m256i *)surgeon_24_bf16_control[0][code & 0xFF]);             \
        __m256i c1 = _mm256_load_si256((const __m256i *)surgeon_24_bf16_control[1][code >> 8]);               \
        A = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_shuffle_epi8(v, c0)), _mm256_loadu_ps(x + 16 * (M)), A); \
        B = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_shuffle_epi8(v, c1)), _mm256_loadu_ps(x + 16 * (M) + 8), B); \
    }
// f16, 8 inputs (4 values, one position byte) per step: 8 halves shuffled, then widened.
#define SURGEON_24_F16_STEP(A, K, CODE)                                                                       \
    {                                                                                                         \
        __m128i v = _mm_loadl_epi64((const __m128i *)(v0 + 4 * (K)));                                        \
        __m128i c = _mm_load_si128((const __m128i *)surgeon_24_f16_control[CODE]);                            \
        A = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_shuffle_epi8(v, c)), _mm256_loadu_ps(x + 8 * (K)), A);         \
    }

__attribute__((target("avx2,fma,f16c")))
static inline void surgeon_gemv24_16_avx2(const float *x, long C, const uint16_t *vals, const uint32_t *pos,
                                          long r0, long r1, float *y, int accumulate, int bf16) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16, nb = C / 16;
    for (long r = r0; r < r1; r++) {
        const uint16_t *v0 = vals + r * nv;
        // the position words' bytes in order (little-endian): byte k covers inputs 8k..<8k+8
        const uint8_t *pb = (const uint8_t *)(pos + r * nw);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        long m = 0;
        if (bf16) {
            for (; m + 2 <= nb; m += 2) {
                _mm_prefetch((const char *)(v0 + 8 * m) + 2048, _MM_HINT_T0);
                SURGEON_24_BF16_STEP(a0, a1, m)
                SURGEON_24_BF16_STEP(a2, a3, m + 1)
            }
            if (m < nb) SURGEON_24_BF16_STEP(a0, a1, m)
        } else {
            for (; m + 2 <= nb; m += 2) {
                _mm_prefetch((const char *)(v0 + 8 * m) + 2048, _MM_HINT_T0);
                uint32_t code;
                memcpy(&code, pb + 2 * m, 4);
                SURGEON_24_F16_STEP(a0, 2 * m, code & 0xFF)
                SURGEON_24_F16_STEP(a1, 2 * m + 1, (code >> 8) & 0xFF)
                SURGEON_24_F16_STEP(a2, 2 * m + 2, (code >> 16) & 0xFF)
                SURGEON_24_F16_STEP(a3, 2 * m + 3, code >> 24)
            }
            if (m < nb) {
                unsigned code = surgeon_24_load_u16(pb + 2 * m);
                SURGEON_24_F16_STEP(a0, 2 * m, code & 0xFF)
                SURGEON_24_F16_STEP(a1, 2 * m + 1, code >> 8)
            }
        }
        float s = surgeon_hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) +
                  surgeon_24_tail16(x, C, v0, pos + r * nw, 8 * nb, nv, bf16);
        y[r] = accumulate ? y[r] + s : s;
    }
}
#undef SURGEON_24_BF16_STEP
#undef SURGEON_24_F16_STEP
#endif

#if defined(__x86_64__)
// AVX-512 (level 2): x moves, not the values. The 16 position bits of a word (16 values, 32 inputs)
// become 16 lane indices 4·(j/2) + p_j by one variable shift and one ternary logic op, and a
// two-source permute takes those inputs from the 32 floats of x; the values are widened in order
// (bf16: zero-extend and shift; f16: F16C). No tables, one FMA per 16 values: about 0.6-0.75x
// the time of the AVX2 kernel's shuffles per value on a Sapphire Rapids core (C microbenchmark).
#ifndef SURGEON_24_PREFETCH
#define SURGEON_24_PREFETCH 4096   // bytes of values ahead (one line per 32 values; positions: 1/8 of it)
#endif
#define SURGEON_24_LOAD16_BF16(P) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(P))), 16))
#define SURGEON_24_LOAD16_F16(P) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P)))
// 16 values (position word W, values at V) times inputs X..X+32 into A
#define SURGEON_24_AVX512_STEP(A, W, V, X, LOAD)                                                              \
    {                                                                                                         \
        __m512i idx = _mm512_ternarylogic_epi32(_mm512_srlv_epi32(_mm512_set1_epi32((int)(W)), shift), three, \
                                                base, 0xEA); /* (shifted & 3) | base */                       \
        __m512 xs = _mm512_permutex2var_ps(_mm512_loadu_ps(X), idx, _mm512_loadu_ps((X) + 16));              \
        A = _mm512_fmadd_ps(LOAD(V), xs, A);                                                                  \
    }
#define SURGEON_24_AVX512_BODY(LOAD)                                                                          \
    for (long r = r0; r < r1; r++) {                                                                          \
        const uint16_t *v0 = vals + r * nv;                                                                   \
        const uint32_t *pw = pos + r * nw;                                                                    \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                                             \
        long m = 0;                                                                                           \
        for (; m + 2 <= nb; m += 2) {                                                                         \
            _mm_prefetch((const char *)(v0 + 16 * m) + SURGEON_24_PREFETCH, _MM_HINT_T0);                     \
            if ((m & 15) == 0) _mm_prefetch((const char *)(pw + m) + SURGEON_24_PREFETCH / 8, _MM_HINT_T0);   \
            SURGEON_24_AVX512_STEP(a0, pw[m], v0 + 16 * m, x + 32 * m, LOAD)                                  \
            SURGEON_24_AVX512_STEP(a1, pw[m + 1], v0 + 16 * m + 16, x + 32 * m + 32, LOAD)                    \
        }                                                                                                     \
        if (m < nb) SURGEON_24_AVX512_STEP(a0, pw[m], v0 + 16 * m, x + 32 * m, LOAD)                          \
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + surgeon_24_tail16(x, C, v0, pw, 16 * nb, nv, bf16); \
        y[r] = accumulate ? y[r] + s : s;                                                                     \
    }

__attribute__((target("avx512f,f16c")))
static inline void surgeon_gemv24_16_avx512(const float *x, long C, const uint16_t *vals, const uint32_t *pos,
                                            long r0, long r1, float *y, int accumulate, int bf16) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16, nb = C / 32;
    const __m512i shift = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
    const __m512i three = _mm512_set1_epi32(3);
    if (bf16) {
        SURGEON_24_AVX512_BODY(SURGEON_24_LOAD16_BF16)
    } else {
        SURGEON_24_AVX512_BODY(SURGEON_24_LOAD16_F16)
    }
}
#undef SURGEON_24_AVX512_BODY
#undef SURGEON_24_AVX512_STEP
#undef SURGEON_24_LOAD16_F16
#undef SURGEON_24_LOAD16_BF16
#endif

static inline void surgeon_gemv24_16(int level, const float *x, long C, const uint16_t *vals, const uint32_t *pos,
                                     long r0, long r1, float *y, int accumulate, int bf16) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_gemv24_16_avx512(x, C, vals, pos, r0, r1, y, accumulate, bf16); return; }
    if (level >= 1) { surgeon_gemv24_16_avx2(x, C, vals, pos, r0, r1, y, accumulate, bf16); return; }
#endif
    surgeon_gemv24_16_portable(x, C, vals, pos, r0, r1, y, accumulate, bf16);
}

/// Dense float32 rows r0..<r1 of a 16-bit 2:4 weight: out [r1 - r0, C].
static inline void surgeon_decompress24_16(long C, const uint16_t *vals, const uint32_t *pos, long r0, long r1, float *out,
                                           int bf16) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
        const uint16_t *v = vals + r * nv;
        const uint32_t *p = pos + r * nw;
        memset(o, 0, (size_t)C * sizeof(float));
        for (long j = 0; j < nv; j++) {
            long i = 4 * (j >> 1) + ((p[j >> 4] >> (2 * (j & 15))) & 3);
            if (i < C) o[i] = surgeon_16_to_float(v[j], bf16);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bitmask, 16-bit values. Row r's nonzeros are vals[start[r] ..< start[r+1]]; vals must be
// readable 16 values past its last one. x: [C]; vals: [nnz + 16] (16-bit); start: [R + 1];
// mask: [R, nm]; y: [R]
// ---------------------------------------------------------------------------------------------

static inline float surgeon_bitmask_row16(const float *x, const uint16_t *q, const uint16_t *m, long w0, long nm, int bf16) {
    float s = 0;
    for (long w = w0; w < nm; w++) {
        unsigned bits = m[w];
        while (bits) {
            int c = __builtin_ctz(bits);
            bits &= bits - 1;
            s += surgeon_16_to_float(*q++, bf16) * x[16 * w + c];
        }
    }
    return s;
}

static inline void surgeon_gemv_bitmask16_portable(const float *x, long C, const uint16_t *vals, const int64_t *start,
                                                   const uint16_t *mask, long r0, long r1, float *y, int accumulate, int bf16) {
    long nm = (C + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float s = surgeon_bitmask_row16(x, vals + start[r], mask + r * nm, 0, nm, bf16);
        y[r] = accumulate ? y[r] + s : s;
    }
}

#if defined(__x86_64__)
// 8 inputs per step, as surgeon_gemv_bitmask_avx2: x permuted by the set bits' indices, times the
// next 8 packed values widened (lanes past the popcount multiply zeros).
#define SURGEON_GEMV_BITMASK16_AVX2_BODY(LOAD)                                                              \
    for (long r = r0; r < r1; r++) {                                                                        \
        const uint16_t *q = vals + start[r];                                                                \
        const uint16_t *m = mask + r * nm;                                                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                           \
        for (long b = 0; b < nb; b++) {                                                                     \
            if ((b & 3) == 0) _mm_prefetch((const char *)q + 2048, _MM_HINT_T0);                            \
            unsigned k = m[b], lo = k & 0xFF, hi = k >> 8;                                                  \
            a0 = _mm256_fmadd_ps(surgeon_bitmask_pick8(_mm256_loadu_ps(x + 16 * b), lo), LOAD(q), a0);      \
            q += __builtin_popcount(lo);                                                                    \
            a1 = _mm256_fmadd_ps(surgeon_bitmask_pick8(_mm256_loadu_ps(x + 16 * b + 8), hi), LOAD(q), a1);  \
            q += __builtin_popcount(hi);                                                                    \
        }                                                                                                   \
        float s = surgeon_hsum256(_mm256_add_ps(a0, a1)) + surgeon_bitmask_row16(x, q, m, nb, nm, bf16);    \
        y[r] = accumulate ? y[r] + s : s;                                                                   \
    }

__attribute__((target("avx2,fma,bmi2,popcnt,f16c")))
static inline void surgeon_gemv_bitmask16_avx2(const float *x, long C, const uint16_t *vals, const int64_t *start,
                                               const uint16_t *mask, long r0, long r1, float *y, int accumulate, int bf16) {
    long nm = (C + 15) / 16, nb = C / 16;
    if (bf16) {
        SURGEON_GEMV_BITMASK16_AVX2_BODY(SURGEON_S16_LOAD8_BF16)
    } else {
        SURGEON_GEMV_BITMASK16_AVX2_BODY(SURGEON_S16_LOAD8_F16)
    }
}
#undef SURGEON_GEMV_BITMASK16_AVX2_BODY
#undef SURGEON_S16_LOAD8_F16
#undef SURGEON_S16_LOAD8_BF16
#endif

static inline void surgeon_gemv_bitmask16(int level, const float *x, long C, const uint16_t *vals, const int64_t *start,
                                          const uint16_t *mask, long r0, long r1, float *y, int accumulate, int bf16) {
#if defined(__x86_64__)
    if (level >= 1) { surgeon_gemv_bitmask16_avx2(x, C, vals, start, mask, r0, r1, y, accumulate, bf16); return; }
#endif
    surgeon_gemv_bitmask16_portable(x, C, vals, start, mask, r0, r1, y, accumulate, bf16);
}

/// Dense float32 rows r0..<r1 of a 16-bit bitmask weight: out [r1 - r0, C].
static inline void surgeon_decompress_bitmask16(long C, const uint16_t *vals, const int64_t *start, const uint16_t *mask,
                                                long r0, long r1, float *out, int bf16) {
    long nm = (C + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
        const uint16_t *q = vals + start[r];
        const uint16_t *m = mask + r * nm;
        memset(o, 0, (size_t)C * sizeof(float));
        for (long w = 0; w < nm; w++) {
            unsigned bits = m[w];
            while (bits) {
                o[16 * w + __builtin_ctz(bits)] = surgeon_16_to_float(*q++, bf16);
                bits &= bits - 1;
            }
        }
    }
}

#endif
