// GEMV kernels (one token, T = 1) for the 2:4 packed and bitmask weight storages of
// Runtime/Weights. Swift cannot select CPU features per function, so the SIMD versions live
// here with clang target attributes and are picked at run time (surgeon_simd_level); the
// portable versions run everywhere. Layouts are documented in TwoFourWeight.swift and
// BitmaskWeight.swift. Every kernel: y[r] = s_r (or y[r] += s_r when accumulate) for r in r0..<r1.
#ifndef SURGEON_SPARSE_KERNELS_H
#define SURGEON_SPARSE_KERNELS_H

#include <stdint.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

/// 0: portable C; 1: AVX2 + FMA + BMI2 + POPCNT; 2: AVX-512F (with the level-1 features).
static inline int surgeon_simd_level(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, popcnt = (c >> 23) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && popcnt && osxsave && avx)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6 || __get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1, avx512f = (b >> 16) & 1;
    if (!(avx2 && bmi2)) return 0;
    return (avx512f && (lo & 0xE6) == 0xE6) ? 2 : 1;
#else
    return 0;
#endif
}

// ---------------------------------------------------------------------------------------------
// 2:4 packed. Row r holds nv = 2·ceil(C/4) values (two per group of 4 inputs, value j belongs to
// group j/2) and ceil(nv/16) uint32 position words: value j's position 0..3 inside its group is
// in bits 2·(j%16) of word j/16. x: [C]; vals: [R, nv]; pos: [R, nw]; y: [R]
// ---------------------------------------------------------------------------------------------

/// Scalar values j0..<nv of one row (x indices ≥ C only ever carry zero values: skipped).
static inline float surgeon_24_tail(const float *x, long C, const float *v, const uint32_t *p, long j0, long nv) {
    float s = 0;
    for (long j = j0; j < nv; j++) {
        long i = 4 * (j >> 1) + ((p[j >> 4] >> (2 * (j & 15))) & 3);
        if (i < C) s += v[j] * x[i];
    }
    return s;
}

static inline void surgeon_gemv24_portable(const float *x, long C, const float *vals, const uint32_t *pos,
                                           long r0, long r1, float *y, int accumulate) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float s = surgeon_24_tail(x, C, vals + r * nv, pos + r * nw, 0, nv);
        y[r] = accumulate ? y[r] + s : s;
    }
}

#if defined(__x86_64__)
// Rows are streamed one at a time (interleaving rows slows the hardware prefetchers down here),
// with two accumulators and a software prefetch this many floats ahead of the values.
#define SURGEON_PREFETCH_FLOATS 1024

// 32 inputs (16 values, one position word) per step: the 16 x values a row needs are picked out
// of two 16-lane registers with one two-source permute.
#define SURGEON_24_STEP512(ACC, B)                                                                          \
    {                                                                                                       \
        __m512i i_ = _mm512_add_epi32(_mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)p[B]), sh), three), base); \
        __m512 g_ = _mm512_permutex2var_ps(_mm512_loadu_ps(x + 32 * (B)), i_, _mm512_loadu_ps(x + 32 * (B) + 16)); \
        ACC = _mm512_fmadd_ps(_mm512_loadu_ps(v + 16 * (B)), g_, ACC);                                      \
    }

__attribute__((target("avx512f,fma")))
static inline void surgeon_gemv24_avx512(const float *x, long C, const float *vals, const uint32_t *pos,
                                         long r0, long r1, float *y, int accumulate) {
    const __m512i sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
    const __m512i three = _mm512_set1_epi32(3);
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16, nb = C / 32;
    for (long r = r0; r < r1; r++) {
        const float *v = vals + r * nv;
        const uint32_t *p = pos + r * nw;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        long b = 0;
        for (; b + 2 <= nb; b += 2) {
            _mm_prefetch((const char *)(v + 16 * b + SURGEON_PREFETCH_FLOATS), _MM_HINT_T0);
            SURGEON_24_STEP512(a0, b)
            SURGEON_24_STEP512(a1, b + 1)
        }
        if (b < nb) SURGEON_24_STEP512(a0, b)
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + surgeon_24_tail(x, C, v, p, 16 * nb, nv);
        y[r] = accumulate ? y[r] + s : s;
    }
}
#undef SURGEON_24_STEP512

__attribute__((target("avx2,fma")))
static inline float surgeon_hsum256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 inputs (8 values, half a position word) per step: values 0-3 come from the low 8 inputs,
// values 4-7 from the high 8, each picked with a one-source permute.
#define SURGEON_24_STEP256(ACC, V, P)                                                                     \
    {                                                                                                     \
        int code_ = (int)(((P)[b >> 1] >> (16 * (b & 1))) & 0xFFFF);                                      \
        __m256i i_ = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(code_), sh), three), base); \
        __m256 g_ = _mm256_blend_ps(_mm256_permutevar8x32_ps(xl, i_), _mm256_permutevar8x32_ps(xh, i_), 0xF0); \
        ACC = _mm256_fmadd_ps(_mm256_loadu_ps((V) + 8 * b), g_, ACC);                                     \
    }

__attribute__((target("avx2,fma")))
static inline void surgeon_gemv24_avx2(const float *x, long C, const float *vals, const uint32_t *pos,
                                       long r0, long r1, float *y, int accumulate) {
    const __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i base = _mm256_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4);
    const __m256i three = _mm256_set1_epi32(3);
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16, nb = C / 16;
    for (long r = r0; r < r1; r++) {
        const float *v0 = vals + r * nv;
        const uint32_t *p0 = pos + r * nw;
        __m256 a0 = _mm256_setzero_ps();
        for (long b = 0; b < nb; b++) {
            if ((b & 1) == 0) _mm_prefetch((const char *)(v0 + 8 * b + SURGEON_PREFETCH_FLOATS), _MM_HINT_T0);
            __m256 xl = _mm256_loadu_ps(x + 16 * b), xh = _mm256_loadu_ps(x + 16 * b + 8);
            SURGEON_24_STEP256(a0, v0, p0)
        }
        float s = surgeon_hsum256(a0) + surgeon_24_tail(x, C, v0, p0, 8 * nb, nv);
        y[r] = accumulate ? y[r] + s : s;
    }
}
#undef SURGEON_24_STEP256
#endif

static inline void surgeon_gemv24(int level, const float *x, long C, const float *vals, const uint32_t *pos,
                                  long r0, long r1, float *y, int accumulate) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_gemv24_avx512(x, C, vals, pos, r0, r1, y, accumulate); return; }
    if (level == 1) { surgeon_gemv24_avx2(x, C, vals, pos, r0, r1, y, accumulate); return; }
#endif
    surgeon_gemv24_portable(x, C, vals, pos, r0, r1, y, accumulate);
}

/// Dense rows r0..<r1 of a 2:4 weight: out [r1 - r0, C].
static inline void surgeon_decompress24_portable(long C, const float *vals, const uint32_t *pos, long r0, long r1, float *out) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
        const float *v = vals + r * nv;
        const uint32_t *p = pos + r * nw;
        for (long c = 0; c < C; c++) o[c] = 0;
        for (long j = 0; j < nv; j++) {
            long i = 4 * (j >> 1) + ((p[j >> 4] >> (2 * (j & 15))) & 3);
            if (i < C) o[i] = v[j];
        }
    }
}

#if defined(__x86_64__)
/// Lanes set in 8 inputs (two groups) by one byte of positions (four 2-bit codes).
static inline unsigned surgeon_24_lanes8(unsigned c) {
    return (1u << (c & 3)) | (1u << ((c >> 2) & 3)) | (1u << (4 + ((c >> 4) & 3))) | (1u << (4 + ((c >> 6) & 3)));
}

/// 32 inputs per step: each half is the next 8 values expanded into the lanes their positions
/// name (positions increase within a group, so value order is lane order).
__attribute__((target("avx512f")))
static inline void surgeon_decompress24_avx512(long C, const float *vals, const uint32_t *pos, long r0, long r1, float *out) {
    long nv = 2 * ((C + 3) / 4), nw = (nv + 15) / 16, nb = C / 32;
    for (long r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
        const float *v = vals + r * nv;
        const uint32_t *p = pos + r * nw;
        for (long b = 0; b < nb; b++) {
            if ((b & 1) == 0) _mm_prefetch((const char *)(v + 16 * b + SURGEON_PREFETCH_FLOATS), _MM_HINT_T0);
            uint32_t w = p[b];
            __mmask16 lo = (__mmask16)(surgeon_24_lanes8(w & 0xFF) | (surgeon_24_lanes8((w >> 8) & 0xFF) << 8));
            __mmask16 hi = (__mmask16)(surgeon_24_lanes8((w >> 16) & 0xFF) | (surgeon_24_lanes8(w >> 24) << 8));
            _mm512_storeu_ps(o + 32 * b, _mm512_maskz_expand_ps(lo, _mm512_loadu_ps(v + 16 * b)));
            // (a masked load here would be slow on AMD: a plain 8-float load fills the low lanes)
            _mm512_storeu_ps(o + 32 * b + 16, _mm512_maskz_expand_ps(hi, _mm512_castps256_ps512(_mm256_loadu_ps(v + 16 * b + 8))));
        }
        for (long c = 32 * nb; c < C; c++) o[c] = 0;
        for (long j = 16 * nb; j < nv; j++) {
            long i = 4 * (j >> 1) + ((p[j >> 4] >> (2 * (j & 15))) & 3);
            if (i < C) o[i] = v[j];
        }
    }
}
#endif

static inline void surgeon_decompress24(int level, long C, const float *vals, const uint32_t *pos, long r0, long r1, float *out) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_decompress24_avx512(C, vals, pos, r0, r1, out); return; }
#endif
    surgeon_decompress24_portable(C, vals, pos, r0, r1, out);
}

// ---------------------------------------------------------------------------------------------
// Bitmask. Row r's nonzeros, in column order, are vals[start[r] ..< start[r+1]]; bit c%16 of
// mask word c/16 (ceil(C/16) uint16 words per row) is set when column c holds one; bits ≥ C are
// clear. vals must be readable (finite) 16 floats past its last value.
// x: [C]; vals: [nnz + 16]; start: [R + 1]; mask: [R, nm]; y: [R]
// ---------------------------------------------------------------------------------------------

static inline float surgeon_bitmask_row(const float *x, const float *q, const uint16_t *m, long w0, long nm) {
    float s = 0;
    for (long w = w0; w < nm; w++) {
        unsigned bits = m[w];
        while (bits) {
            int c = __builtin_ctz(bits);
            bits &= bits - 1;
            s += *q++ * x[16 * w + c];
        }
    }
    return s;
}

static inline void surgeon_gemv_bitmask_portable(const float *x, long C, const float *vals, const int64_t *start,
                                                 const uint16_t *mask, long r0, long r1, float *y, int accumulate) {
    long nm = (C + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float s = surgeon_bitmask_row(x, vals + start[r], mask + r * nm, 0, nm);
        y[r] = accumulate ? y[r] + s : s;
    }
}

#if defined(__x86_64__)
// 16 inputs per step: x is compressed by the mask (kept lanes first, zeros after) and multiplied
// with the next 16 packed values; lanes past the popcount multiply zeros.
__attribute__((target("avx512f,fma,popcnt")))
static inline void surgeon_gemv_bitmask_avx512(const float *x, long C, const float *vals, const int64_t *start,
                                               const uint16_t *mask, long r0, long r1, float *y, int accumulate) {
    long nm = (C + 15) / 16, nb = C / 16;
    for (long r = r0; r < r1; r++) {
        const float *q = vals + start[r];
        const uint16_t *m = mask + r * nm;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        long b = 0;
        for (; b + 2 <= nb; b += 2) {
            _mm_prefetch((const char *)(q + SURGEON_PREFETCH_FLOATS), _MM_HINT_T0);
            unsigned k0 = m[b], k1 = m[b + 1];
            a0 = _mm512_fmadd_ps(_mm512_maskz_compress_ps((__mmask16)k0, _mm512_loadu_ps(x + 16 * b)), _mm512_loadu_ps(q), a0);
            q += __builtin_popcount(k0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_compress_ps((__mmask16)k1, _mm512_loadu_ps(x + 16 * b + 16)), _mm512_loadu_ps(q), a1);
            q += __builtin_popcount(k1);
        }
        if (b < nb) {
            unsigned k0 = m[b];
            a0 = _mm512_fmadd_ps(_mm512_maskz_compress_ps((__mmask16)k0, _mm512_loadu_ps(x + 16 * b)), _mm512_loadu_ps(q), a0);
            q += __builtin_popcount(k0);
            b++;
        }
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + surgeon_bitmask_row(x, q, m, nb, nm);
        y[r] = accumulate ? y[r] + s : s;
    }
}

// 8 inputs per step: the indices of the set bits, packed with pdep/pext, drive a permute of x.
__attribute__((target("avx2,fma,bmi2,popcnt")))
static inline __m256 surgeon_bitmask_pick8(__m256 xb, unsigned m) {
    uint64_t idx = _pext_u64(0x0706050403020100ULL, _pdep_u64(m, 0x0101010101010101ULL) * 0xFF);
    __m256 g = _mm256_permutevar8x32_ps(xb, _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)idx)));
    __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(__builtin_popcount(m)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_and_ps(g, _mm256_castsi256_ps(live));
}

__attribute__((target("avx2,fma,bmi2,popcnt")))
static inline void surgeon_gemv_bitmask_avx2(const float *x, long C, const float *vals, const int64_t *start,
                                             const uint16_t *mask, long r0, long r1, float *y, int accumulate) {
    long nm = (C + 15) / 16, nb = C / 16;
    for (long r = r0; r < r1; r++) {
        const float *q = vals + start[r];
        const uint16_t *m = mask + r * nm;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        for (long b = 0; b < nb; b++) {
            if ((b & 1) == 0) _mm_prefetch((const char *)(q + SURGEON_PREFETCH_FLOATS), _MM_HINT_T0);
            unsigned k = m[b], lo = k & 0xFF, hi = k >> 8;
            a0 = _mm256_fmadd_ps(surgeon_bitmask_pick8(_mm256_loadu_ps(x + 16 * b), lo), _mm256_loadu_ps(q), a0);
            q += __builtin_popcount(lo);
            a1 = _mm256_fmadd_ps(surgeon_bitmask_pick8(_mm256_loadu_ps(x + 16 * b + 8), hi), _mm256_loadu_ps(q), a1);
            q += __builtin_popcount(hi);
        }
        float s = surgeon_hsum256(_mm256_add_ps(a0, a1)) + surgeon_bitmask_row(x, q, m, nb, nm);
        y[r] = accumulate ? y[r] + s : s;
    }
}
#endif

static inline void surgeon_gemv_bitmask(int level, const float *x, long C, const float *vals, const int64_t *start,
                                        const uint16_t *mask, long r0, long r1, float *y, int accumulate) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_gemv_bitmask_avx512(x, C, vals, start, mask, r0, r1, y, accumulate); return; }
    if (level == 1) { surgeon_gemv_bitmask_avx2(x, C, vals, start, mask, r0, r1, y, accumulate); return; }
#endif
    surgeon_gemv_bitmask_portable(x, C, vals, start, mask, r0, r1, y, accumulate);
}

/// Dense rows r0..<r1 of a bitmask weight: out [r1 - r0, C].
static inline void surgeon_decompress_bitmask_portable(long C, const float *vals, const int64_t *start, const uint16_t *mask,
                                                       long r0, long r1, float *out) {
    long nm = (C + 15) / 16;
    for (long r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
        const float *q = vals + start[r];
        const uint16_t *m = mask + r * nm;
        for (long c = 0; c < C; c++) o[c] = 0;
        for (long w = 0; w < nm; w++) {
            unsigned bits = m[w];
            while (bits) {
                o[16 * w + __builtin_ctz(bits)] = *q++;
                bits &= bits - 1;
            }
        }
    }
}

#if defined(__x86_64__)
/// 16 inputs per step: the next packed values expanded into the mask's lanes.
__attribute__((target("avx512f,popcnt")))
static inline void surgeon_decompress_bitmask_avx512(long C, const float *vals, const int64_t *start, const uint16_t *mask,
                                                     long r0, long r1, float *out) {
    long nm = (C + 15) / 16, nb = C / 16;
    for (long r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
        const float *q = vals + start[r];
        const uint16_t *m = mask + r * nm;
        for (long b = 0; b < nb; b++) {
            if ((b & 1) == 0) _mm_prefetch((const char *)(q + SURGEON_PREFETCH_FLOATS), _MM_HINT_T0);
            unsigned k = m[b];
            _mm512_storeu_ps(o + 16 * b, _mm512_maskz_expand_ps((__mmask16)k, _mm512_loadu_ps(q)));
            q += __builtin_popcount(k);
        }
        if (nb < nm) {
            unsigned k = m[nb];
            for (long c = 16 * nb; c < C; c++) o[c] = 0;
            while (k) {
                o[16 * nb + __builtin_ctz(k)] = *q++;
                k &= k - 1;
            }
        }
    }
}
#endif

static inline void surgeon_decompress_bitmask(int level, long C, const float *vals, const int64_t *start, const uint16_t *mask,
                                              long r0, long r1, float *out) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_decompress_bitmask_avx512(C, vals, start, mask, r0, r1, out); return; }
#endif
    surgeon_decompress_bitmask_portable(C, vals, start, mask, r0, r1, out);
}

#endif
