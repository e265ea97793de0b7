// Elementwise kernels of the forward pass that libm and Swift's baseline x86-64 code cannot
// vectorize well: the softmax rows of attention and the SiLU gate of the Llama MLP. Same scheme as
// sparse_kernels.h: AVX-512 and AVX2 versions behind clang target attributes, picked at run time
// by surgeon_simd_level(); the portable versions call libm.
//
// exp: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its degree-7 Taylor
// polynomial (truncation < 6e-9), times 2^n. Relative error ≈ 1e-7 on [−87.3, 88]; below −87.3
// the result is 0 (inputs are clamped first, so ±∞ and huge values never make NaN).
#ifndef SURGEON_VECTOR_KERNELS_H
#define SURGEON_VECTOR_KERNELS_H

#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// r[i] ← e^(r[i] − max) / Σ for i < n (n ≥ 1).  r: [n]
static inline void surgeon_softmax_portable(float *r, long n) {
    float m = r[0];
    for (long i = 1; i < n; i++) m = r[i] > m ? r[i] : m;
    float s = 0;
    for (long i = 0; i < n; i++) { r[i] = expf(r[i] - m); s += r[i]; }
    float inv = 1 / s;
    for (long i = 0; i < n; i++) r[i] *= inv;
}

/// g[i] ← silu(g[i])·u[i] = g[i]·u[i] / (1 + e^(−g[i])).  g, u: [n]
static inline void surgeon_silu_gate_portable(float *g, const float *u, long n) {
    for (long i = 0; i < n; i++) g[i] = g[i] / (1 + expf(-g[i])) * u[i];
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static inline __m512 surgeon_exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));
}

__attribute__((target("avx512f")))
static inline void surgeon_softmax_avx512(float *r, long n) {
    long nb = n / 16 * 16;
    __m512 m16 = _mm512_set1_ps(-INFINITY);
    for (long i = 0; i < nb; i += 16) m16 = _mm512_max_ps(m16, _mm512_loadu_ps(r + i));
    float m = _mm512_reduce_max_ps(m16);
    for (long i = nb; i < n; i++) m = r[i] > m ? r[i] : m;
    __m512 sh = _mm512_set1_ps(m), s16 = _mm512_setzero_ps();
    for (long i = 0; i < nb; i += 16) {
        __m512 e = surgeon_exp16(_mm512_sub_ps(_mm512_loadu_ps(r + i), sh));
        _mm512_storeu_ps(r + i, e);
        s16 = _mm512_add_ps(s16, e);
    }
    float s = _mm512_reduce_add_ps(s16);
    for (long i = nb; i < n; i++) { r[i] = expf(r[i] - m); s += r[i]; }
    __m512 inv = _mm512_set1_ps(1 / s);
    for (long i = 0; i < nb; i += 16) _mm512_storeu_ps(r + i, _mm512_mul_ps(_mm512_loadu_ps(r + i), inv));
    for (long i = nb; i < n; i++) r[i] *= 1 / s;
}

__attribute__((target("avx512f")))
static inline void surgeon_silu_gate_avx512(float *g, const float *u, long n) {
    long nb = n / 16 * 16;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < nb; i += 16) {
        __m512 v = _mm512_loadu_ps(g + i);
        __m512 e = surgeon_exp16(_mm512_sub_ps(_mm512_setzero_ps(), v));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(v, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
    }
    surgeon_silu_gate_portable(g + nb, u + nb, n - nb);
}

__attribute__((target("avx2,fma")))
static inline __m256 surgeon_exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    // 2^n in the exponent bits (n ∈ [−126, 127] after the clamp)
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

__attribute__((target("avx2,fma")))
static inline float surgeon_hmax256(__m256 a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma")))
static inline float surgeon_hadd256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static inline void surgeon_softmax_avx2(float *r, long n) {
    long nb = n / 8 * 8;
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    for (long i = 0; i < nb; i += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(r + i));
    float m = surgeon_hmax256(m8);
    for (long i = nb; i < n; i++) m = r[i] > m ? r[i] : m;
    __m256 sh = _mm256_set1_ps(m), s8 = _mm256_setzero_ps();
    for (long i = 0; i < nb; i += 8) {
        __m256 e = surgeon_exp8(_mm256_sub_ps(_mm256_loadu_ps(r + i), sh));
        _mm256_storeu_ps(r + i, e);
        s8 = _mm256_add_ps(s8, e);
    }
    float s = surgeon_hadd256(s8);
    for (long i = nb; i < n; i++) { r[i] = expf(r[i] - m); s += r[i]; }
    __m256 inv = _mm256_set1_ps(1 / s);
    for (long i = 0; i < nb; i += 8) _mm256_storeu_ps(r + i, _mm256_mul_ps(_mm256_loadu_ps(r + i), inv));
    for (long i = nb; i < n; i++) r[i] *= 1 / s;
}

__attribute__((target("avx2,fma")))
static inline void surgeon_silu_gate_avx2(float *g, const float *u, long n) {
    long nb = n / 8 * 8;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (long i = 0; i < nb; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 e = surgeon_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    surgeon_silu_gate_portable(g + nb, u + nb, n - nb);
}
#endif

/// Softmax of r[0..<n] in place (n ≥ 1).
static inline void surgeon_softmax(int level, float *r, long n) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_softmax_avx512(r, n); return; }
    if (level == 1) { surgeon_softmax_avx2(r, n); return; }
#endif
    surgeon_softmax_portable(r, n);
}

/// g ← silu(g)·u in place.  g, u: [n]
static inline void surgeon_silu_gate(int level, float *g, const float *u, long n) {
#if defined(__x86_64__)
    if (level >= 2) { surgeon_silu_gate_avx512(g, u, n); return; }
    if (level == 1) { surgeon_silu_gate_avx2(g, u, n); return; }
#endif
    surgeon_silu_gate_portable(g, u, n);
}

#endif
