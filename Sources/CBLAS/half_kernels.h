// Kernels of the dense 16-bit weight storage (Runtime/Weights/Dense16Storage.swift): W [R, C] kept
// as IEEE half (f16) or bfloat16 (bf16) bits, arithmetic in float32. As in sparse_kernels.h the SIMD
// versions carry clang target attributes and are picked at run time (surgeon_simd_level, plus
// F16C for f16); the portable versions run everywhere. `bf16` selects the format: 0 f16, 1 bf16.
#ifndef SURGEON_HALF_KERNELS_H
#define SURGEON_HALF_KERNELS_H

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

/// 1 when the CPU converts f16 in hardware (F16C, CPUID.1:ECX bit 29).
static inline int surgeon_has_f16c(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 29) & 1;
#else
    return 0;
#endif
}

/// One f16 or bf16 value as float32 (exact: every 16-bit value is a float32).
static inline float surgeon_16_to_float(uint16_t h, int bf16) {
    uint32_t bits;
    if (bf16) {
        bits = (uint32_t)h << 16;
    } else {
        uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
        if (e == 0x1F) {
            bits = sign | 0x7F800000u | (m << 13);                // inf, nan
        } else if (e != 0) {
            bits = sign | ((e + 112) << 23) | (m << 13);          // normal: bias 15 -> 127
        } else if (m == 0) {
            bits = sign;                                          // ±0
        } else {                                                  // subnormal: normalise
            int s = 0;
            while (!(m & 0x400)) { m <<= 1; s++; }
            bits = sign | ((uint32_t)(113 - s) << 23) | ((m & 0x3FF) << 13);
        }
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// ---------------------------------------------------------------------------------------------
// Conversion of n 16-bit values to float32 (prefill tiles, embedding rows).  src: [n]; dst: [n]
// ---------------------------------------------------------------------------------------------

static inline void surgeon_cvt16_portable(const uint16_t *src, float *dst, long n, int bf16) {
    for (long i = 0; i < n; i++) dst[i] = surgeon_16_to_float(src[i], bf16);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c")))
static inline void surgeon_cvt16_avx2(const uint16_t *src, float *dst, long n, int bf16) {
    long i = 0;
    if (bf16) {
        for (; i + 8 <= n; i += 8) {
            __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        }
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    }
    for (; i < n; i++) dst[i] = surgeon_16_to_float(src[i], bf16);
}

__attribute__((target("avx512f")))
static inline void surgeon_cvt16_avx512(const uint16_t *src, float *dst, long n, int bf16) {
    long i = 0;
    if (bf16) {
        for (; i + 16 <= n; i += 16) {
            __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
            _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        }
    } else {
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    }
    for (; i < n; i++) dst[i] = surgeon_16_to_float(src[i], bf16);
}
#endif

// ---------------------------------------------------------------------------------------------
// GEMV: y[r] = Σ_c w[r, c]·x[c] (y[r] += when accumulate) for r in r0..<r1.
// x: [C]; w: [R, C] (16-bit); y: [R]
// ---------------------------------------------------------------------------------------------

static inline void surgeon_gemv16_portable(const float *x, long C, const uint16_t *w, long ldw, long r0, long r1, float *y,
                                           int accumulate, int bf16) {
    for (long r = r0; r < r1; r++) {
        const uint16_t *wr = w + r * ldw;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        long c = 0;
        for (; c + 4 <= C; c += 4) {
            s0 += surgeon_16_to_float(wr[c], bf16) * x[c];
            s1 += surgeon_16_to_float(wr[c + 1], bf16) * x[c + 1];
            s2 += surgeon_16_to_float(wr[c + 2], bf16) * x[c + 2];
            s3 += surgeon_16_to_float(wr[c + 3], bf16) * x[c + 3];
        }
        for (; c < C; c++) s0 += surgeon_16_to_float(wr[c], bf16) * x[c];
        float s = (s0 + s1) + (s2 + s3);
        y[r] = accumulate ? y[r] + s : s;
    }
}

#if defined(__x86_64__)
// Bytes of weights prefetched ahead of the row being read.
#define SURGEON_16_PREFETCH_BYTES 2048

#define SURGEON_LOAD8_F16(P) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(P)))
#define SURGEON_LOAD8_BF16(P) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(P))), 16))

// One row at a time (streamed, as the sparse kernels: the prefetchers follow it), 32 inputs per step
// over four accumulators.
#define SURGEON_GEMV16_AVX2_BODY(LOAD)                                                                  \
    for (long r = r0; r < r1; r++) {                                                                    \
        const uint16_t *wr = w + r * ldw;                                                                 \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                     \
        long c = 0;                                                                                     \
        for (; c + 32 <= C; c += 32) {                                                                  \
            _mm_prefetch((const char *)(wr + c) + SURGEON_16_PREFETCH_BYTES, _MM_HINT_T0);              \
            a0 = _mm256_fmadd_ps(LOAD(wr + c), _mm256_loadu_ps(x + c), a0);                             \
            a1 = _mm256_fmadd_ps(LOAD(wr + c + 8), _mm256_loadu_ps(x + c + 8), a1);                     \
            a2 = _mm256_fmadd_ps(LOAD(wr + c + 16), _mm256_loadu_ps(x + c + 16), a2);                   \
            a3 = _mm256_fmadd_ps(LOAD(wr + c + 24), _mm256_loadu_ps(x + c + 24), a3);                   \
        }                                                                                               \
        for (; c + 8 <= C; c += 8) a0 = _mm256_fmadd_ps(LOAD(wr + c), _mm256_loadu_ps(x + c), a0);     \
        __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));                         \
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));                  \
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));                                                         \
        h = _mm_add_ss(h, _mm_movehdup_ps(h));                                                          \
        float s = _mm_cvtss_f32(h);                                                                     \
        for (; c < C; c++) s += surgeon_16_to_float(wr[c], bf16) * x[c];                                \
        y[r] = accumulate ? y[r] + s : s;                                                               \
    }

__attribute__((target("avx2,fma,f16c")))
static inline void surgeon_gemv16_avx2(const float *x, long C, const uint16_t *w, long ldw, long r0, long r1, float *y,
                                       int accumulate, int bf16) {
    if (bf16) {
        SURGEON_GEMV16_AVX2_BODY(SURGEON_LOAD8_BF16)
    } else {
        SURGEON_GEMV16_AVX2_BODY(SURGEON_LOAD8_F16)
    }
}
#undef SURGEON_GEMV16_AVX2_BODY
#undef SURGEON_LOAD8_F16
#undef SURGEON_LOAD8_BF16

#define SURGEON_LOAD16_F16(P) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(P)))
#define SURGEON_LOAD16_BF16(P) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(P))), 16))

#define SURGEON_GEMV16_AVX512_BODY(LOAD)                                                                \
    for (long r = r0; r < r1; r++) {                                                                    \
        const uint16_t *wr = w + r * ldw;                                                                 \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                                       \
        long c = 0;                                                                                     \
        for (; c + 32 <= C; c += 32) {                                                                  \
            _mm_prefetch((const char *)(wr + c) + SURGEON_16_PREFETCH_BYTES, _MM_HINT_T0);              \
            a0 = _mm512_fmadd_ps(LOAD(wr + c), _mm512_loadu_ps(x + c), a0);                             \
            a1 = _mm512_fmadd_ps(LOAD(wr + c + 16), _mm512_loadu_ps(x + c + 16), a1);                   \
        }                                                                                               \
        for (; c + 16 <= C; c += 16) a0 = _mm512_fmadd_ps(LOAD(wr + c), _mm512_loadu_ps(x + c), a0);   \
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));                                          \
        for (; c < C; c++) s += surgeon_16_to_float(wr[c], bf16) * x[c];                                \
        y[r] = accumulate ? y[r] + s : s;                                                               \
    }

__attribute__((target("avx512f,fma")))
static inline void surgeon_gemv16_avx512(const float *x, long C, const uint16_t *w, long ldw, long r0, long r1, float *y,
                                         int accumulate, int bf16) {
    if (bf16) {
        SURGEON_GEMV16_AVX512_BODY(SURGEON_LOAD16_BF16)
    } else {
        SURGEON_GEMV16_AVX512_BODY(SURGEON_LOAD16_F16)
    }
}
#undef SURGEON_GEMV16_AVX512_BODY
#undef SURGEON_LOAD16_F16
#undef SURGEON_LOAD16_BF16
#endif

// ---------------------------------------------------------------------------------------------
// Dispatch on a level (0 portable, 1 AVX2 + F16C, 2 AVX-512F; see surgeon_simd_level). The
// caller passes 0 for f16 on a CPU without F16C (checked once, see HalfKernels.swift: cpuid is
// slow under virtualisation and must not run per call).
// ---------------------------------------------------------------------------------------------

/// The same over rows of stride ldw ≥ C (the first C values of each row; compacted weights).
/// x: [C]; w: [R, ldw] (16-bit); y: [R]
static inline void surgeon_gemv16_strided(int level, const float *x, long C, const uint16_t *w, long ldw, long r0, long r1,
                                          float *y, int accumulate, int bf16) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_gemv16_avx512(x, C, w, ldw, r0, r1, y, accumulate, bf16); return; }
    if (level >= 1) { surgeon_gemv16_avx2(x, C, w, ldw, r0, r1, y, accumulate, bf16); return; }
#endif
    surgeon_gemv16_portable(x, C, w, ldw, r0, r1, y, accumulate, bf16);
}

static inline void surgeon_gemv16(int level, const float *x, long C, const uint16_t *w, long r0, long r1, float *y,
                                  int accumulate, int bf16) {
    surgeon_gemv16_strided(level, x, C, w, C, r0, r1, y, accumulate, bf16);
}

static inline void surgeon_cvt16(int level, const uint16_t *src, float *dst, long n, int bf16) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_cvt16_avx512(src, dst, n, bf16); return; }
    if (level >= 1) { surgeon_cvt16_avx2(src, dst, n, bf16); return; }
#endif
    surgeon_cvt16_portable(src, dst, n, bf16);
}

#endif
