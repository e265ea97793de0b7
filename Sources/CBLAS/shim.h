// OpenBLAS: cblas plus the few LAPACK routines (from the same library) that Surgery calls.
#include <cblas.h>

// Cholesky factorization and inverse of a symmetric positive definite matrix (column-major).
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
// Inverse of a triangular matrix (column-major), in place.
void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotrs_(const char *uplo, const int *n, const int *nrhs, const float *a, const int *lda, float *b,
             const int *ldb, int *info);

#include <malloc.h>

// Hands the heap's free pages back to the kernel (glibc's malloc_trim; a no-op elsewhere).
static inline void surgeon_release_free_heap(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

// A spin-wait hint for the thread pool.
static inline void surgeon_cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// GEMV kernels of the 2:4 and bitmask weight storages (SIMD versions picked at run time).
#include "sparse_kernels.h"
#include "vector_kernels.h"
// GEMV and tile conversion of the dense 16-bit weight storage.
#include "half_kernels.h"
#include "sparse16_kernels.h"

// OpenBLAS's runtime kernel selection (DYNAMIC_ARCH builds, as Debian ships): 0.3.21 does not know
// AMD Zen 4/5 (AVX2 Haswell kernels) nor newer Intel Xeons (SSE3 Prescott kernels); `Parallel`
// switches to the best kernel set the CPU runs (SkylakeX with AVX-512, Haswell with AVX2 + FMA).
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
char *openblas_get_corename(void);

static inline int surgeon_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}
