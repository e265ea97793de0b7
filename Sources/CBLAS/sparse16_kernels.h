// Kernels of the 2:4 packed and bitmask storages with 16-bit values (TwoFourWeight<F16/BF16>,
// BitmaskWeight<F16/BF16> in Runtime/Weights): the layouts of sparse_kernels.h with each value an
// IEEE half (bf16 = 0) or bfloat16 (bf16 = 1), widened to float32 in the inner loop (F16C, or a
// 16-bit shift for bf16) and accumulated in float32. As everywhere: portable versions, SIMD ones
// with clang target attributes picked at run time by level (0 portable, ≥ 1 AVX2 + FMA + F16C; an
// AVX-512 CPU runs the AVX2 version). The caller passes level 0 for f16 on a CPU without F16C
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

// 16 inputs (8 values, half a position word) per step, as surgeon_gemv24_avx2: values 0-3 come
// from the low 8 inputs, values 4-7 from the high 8, each picked with a one-source permute. Two
// steps (one position word) per iteration into two accumulators.
#define SURGEON_24_16_STEP(ACC, LOAD, B)                                                                    \
    {                                                                                                       \
        __m256 xl = _mm256_loadu_ps(x + 16 * (B)), xh = _mm256_loadu_ps(x + 16 * (B) + 8);                  \
        int code = (int)((p0[(B) >> 1] >> (16 * ((B) & 1))) & 0xFFFF);                                      \
        __m256i i = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(code), sh), three), base); \
        __m256 g = _mm256_blend_ps(_mm256_permutevar8x32_ps(xl, i), _mm256_permutevar8x32_ps(xh, i), 0xF0); \
        ACC = _mm256_fmadd_ps(LOAD(v0 + 8 * (B)), g, ACC);                                                  \
    }
#define SURGEON_GEMV24_16_AVX2_BODY(LOAD)                                                                   \
    for (long r = r0; r < r1; r++) {                                                                        \
        const uint16_t *v0 = vals + r * nv;                                                                 \
        const uint32_t *p0 = pos + r * nw;                                                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                           \
        long b = 0;                                                                                         \
        for (; b + 2 <= nb; b += 2) {                                                                       \
            if ((b & 3) == 0) _mm_prefetch((const char *)(v0 + 8 * b) + 2048, _MM_HINT_T0);                \
            SURGEON_24_16_STEP(a0, LOAD, b)                                                                 \
            SURGEON_24_16_STEP(a1, LOAD, b + 1)                                                             \
        }                                                                                                   \
        if (b < nb) SURGEON_24_16_STEP(a0, LOAD, b)                                                         \
        float s = surgeon_hsum256(_mm256_add_ps(a0, a1)) + surgeon_24_tail16(x, C, v0, p0, 8 * nb, nv, bf16); \
        y[r] = accumulate ? y[r] + s : s;                                                                   \
    }

__attribute__((target("avx2,fma,f16c")))
static inline void surgeon_gemv24_16_avx2(const float *x, long C, const uint16_t *vals, const uint32_t *pos,
                                          long r0, long r1, float *y, int accumulate, int bf16) {
    const __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i base = _mm256_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4);
    const __m256i three = _mm256_set1_epi32(3);
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16, nb = C / 16;
    if (bf16) {
        SURGEON_GEMV24_16_AVX2_BODY(SURGEON_S16_LOAD8_BF16)
    } else {
        SURGEON_GEMV24_16_AVX2_BODY(SURGEON_S16_LOAD8_F16)
    }
}
#undef SURGEON_GEMV24_16_AVX2_BODY
#undef SURGEON_24_16_STEP
#endif

static inline void surgeon_gemv24_16(int level, const float *x, long C, const uint16_t *vals, const uint32_t *pos,
                                     long r0, long r1, float *y, int accumulate, int bf16) {
#if defined(__x86_64__)
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
