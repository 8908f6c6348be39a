// u8 × s8 → int32 GEMM (see include/eq_int8.h).
//
// AVX2 has no 8-bit dot product into int32: vpmaddubsw multiplies 32 u8 × s8
// pairs and adds neighbours into 16-bit sums, which saturate when both
// products are large and of one sign (255·127·2 > 32767), and vpmaddwd with
// ones widens those to int32. Packing keeps every pair of one sign within
// |w0| + |w1| ≤ 128 (at most 255·128 = 32640, no saturation) by moving the
// excess of the second weight into a sparse residual that is added exactly
// afterwards; pairs of opposite sign cannot saturate. The result equals the
// plain int32 sum for every input.
#include "eq_int8.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EQ_X86 1
#endif

int eq_i8_padded_k(int k) { return (k + 3) / 4 * 4; }

int eq_i8_pack_weights(const int8_t *weights, int m, int k, EqI8PackedWeights *p) {
    memset(p, 0, sizeof *p);
    p->m = m;
    p->k = k;
    p->padded_k = eq_i8_padded_k(k);
    const int blocks = (m + 15) / 16, quads = p->padded_k / 4;
    p->panels = calloc((size_t)blocks * quads * 64, 1);
    p->row_sums = calloc((size_t)m, sizeof(int32_t));
    p->corr_start = calloc((size_t)m + 1, sizeof(int32_t));
    // At most one residual per pair.
    size_t capacity = (size_t)m * (p->padded_k / 2) + 1;
    p->corr_k = malloc(capacity * sizeof(int32_t));
    p->corr_w = malloc(capacity * sizeof(int16_t));
    if (!p->panels || !p->row_sums || !p->corr_start || !p->corr_k || !p->corr_w) {
        eq_i8_free_weights(p);
        return -1;
    }
    int32_t entries = 0;
    for (int row = 0; row < m; row++) {
        p->corr_start[row] = entries;
        const int8_t *w = weights + (size_t)row * k;
        int8_t *panel = p->panels + (size_t)(row / 16) * quads * 64 + (row % 16) * 4;
        int32_t sum = 0;
        for (int pair = 0; pair < p->padded_k / 2; pair++) {
            int k0 = 2 * pair, k1 = k0 + 1;
            int w0 = k0 < k ? w[k0] : 0, w1 = k1 < k ? w[k1] : 0;
            sum += w0 + w1;
            if ((w0 > 0 && w1 > 0) || (w0 < 0 && w1 < 0)) {
                int a0 = abs(w0), a1 = abs(w1);
                if (a0 + a1 > 128) {
                    int kept = (w1 > 0 ? 1 : -1) * (128 - a0);
                    p->corr_k[entries] = k1;
                    p->corr_w[entries] = (int16_t)(w1 - kept);
                    entries++;
                    w1 = kept;
                }
            }
            panel[(size_t)(k0 / 4) * 64 + k0 % 4] = (int8_t)w0;
            panel[(size_t)(k1 / 4) * 64 + k1 % 4] = (int8_t)w1;
        }
        p->row_sums[row] = sum;
    }
    p->corr_start[m] = entries;
    return 0;
}

void eq_i8_free_weights(EqI8PackedWeights *p) {
    free(p->panels);
    free(p->row_sums);
    free(p->corr_start);
    free(p->corr_k);
    free(p->corr_w);
    memset(p, 0, sizeof *p);
}

void eq_i8_gemm_reference(const uint8_t *a, int lda, int rows, const int8_t *weights, int m, int k, int32_t *c, int ldc) {
    for (int n = 0; n < rows; n++) {
        for (int j = 0; j < m; j++) {
            int32_t sum = 0;
            for (int i = 0; i < k; i++) sum += (int32_t)a[(size_t)n * lda + i] * weights[(size_t)j * k + i];
            c[(size_t)n * ldc + j] = sum;
        }
    }
}

/// Adds the packed residuals: C[n][m] += A[n][k] · r.
static void add_residuals(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, int32_t *c, int ldc) {
    for (int j = 0; j < w->m; j++) {
        for (int32_t e = w->corr_start[j]; e < w->corr_start[j + 1]; e++) {
            const int32_t k = w->corr_k[e], r = w->corr_w[e];
            for (int n = 0; n < rows; n++) c[(size_t)n * ldc + j] += (int32_t)a[(size_t)n * lda + k] * r;
        }
    }
}

/// The packed panels by plain loops (any CPU).
static void gemm_portable(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, int32_t *c, int ldc) {
    const int quads = w->padded_k / 4;
    for (int n = 0; n < rows; n++) {
        const uint8_t *x = a + (size_t)n * lda;
        for (int j = 0; j < w->m; j++) {
            const int8_t *panel = w->panels + (size_t)(j / 16) * quads * 64 + (j % 16) * 4;
            int32_t sum = 0;
            for (int q = 0; q < quads; q++) {
                for (int i = 0; i < 4; i++) sum += (int32_t)x[4 * q + i] * panel[(size_t)q * 64 + i];
            }
            c[(size_t)n * ldc + j] = sum;
        }
    }
}

#ifdef EQ_X86
/// Four input bytes as one 32-bit lane in every lane.
__attribute__((target("avx2"))) static inline __m256i broadcast4(const uint8_t *x) {
    int32_t v;
    memcpy(&v, x, 4);
    return _mm256_set1_epi32(v);
}

/// Stores 16 sums, or the first `valid` of them.
__attribute__((target("avx2"))) static inline void store16(int32_t *c, __m256i lo, __m256i hi, int valid) {
    if (valid == 16) {
        _mm256_storeu_si256((__m256i *)c, lo);
        _mm256_storeu_si256((__m256i *)(c + 8), hi);
    } else {
        int32_t tmp[16];
        _mm256_storeu_si256((__m256i *)tmp, lo);
        _mm256_storeu_si256((__m256i *)(tmp + 8), hi);
        memcpy(c, tmp, (size_t)valid * sizeof(int32_t));
    }
}

/// Tiles of 4 rows × 16 channels: per quad of k, two 32-byte weight loads,
/// one broadcast per row, and per row and weight vector one vpmaddubsw, one
/// vpmaddwd (widening) and one vpaddd.
__attribute__((target("avx2"))) static void gemm_avx2(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w,
                                                      int32_t *c, int ldc) {
    const int quads = w->padded_k / 4;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int mb = 0; mb < w->m; mb += 16) {
        const int8_t *panel = w->panels + (size_t)(mb / 16) * quads * 64;
        const int valid = w->m - mb < 16 ? w->m - mb : 16;
        int n = 0;
        for (; n + 4 <= rows; n += 4) {
            const uint8_t *x0 = a + (size_t)n * lda, *x1 = x0 + lda, *x2 = x1 + lda, *x3 = x2 + lda;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (int q = 0; q < quads; q++) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)q * 64));
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)q * 64 + 32));
                __m256i b = broadcast4(x0 + 4 * q);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w0), ones));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w1), ones));
                b = broadcast4(x1 + 4 * q);
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w0), ones));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w1), ones));
                b = broadcast4(x2 + 4 * q);
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w0), ones));
                c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w1), ones));
                b = broadcast4(x3 + 4 * q);
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w0), ones));
                c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(_mm256_maddubs_epi16(b, w1), ones));
            }
            int32_t *out = c + (size_t)n * ldc + mb;
            store16(out, c00, c01, valid);
            store16(out + ldc, c10, c11, valid);
            store16(out + 2 * (size_t)ldc, c20, c21, valid);
            store16(out + 3 * (size_t)ldc, c30, c31, valid);
        }
        for (; n < rows; n++) {
            const uint8_t *x = a + (size_t)n * lda;
            __m256i lo = _mm256_setzero_si256(), hi = lo;
            for (int q = 0; q < quads; q++) {
                const __m256i b = broadcast4(x + 4 * q);
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(b, _mm256_loadu_si256((const __m256i *)(panel + (size_t)q * 64))), ones));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(b, _mm256_loadu_si256((const __m256i *)(panel + (size_t)q * 64 + 32))), ones));
            }
            store16(c + (size_t)n * ldc + mb, lo, hi, valid);
        }
    }
}
#endif

typedef void (*GemmKernel)(const uint8_t *, int, int, const EqI8PackedWeights *, int32_t *, int);

/// The kernel for the running CPU (not the building one).
static GemmKernel kernel(void) {
#ifdef EQ_X86
    if (__builtin_cpu_supports("avx2")) return gemm_avx2;
#endif
    return gemm_portable;
}

const char *eq_i8_kernel_name(void) { return kernel() == gemm_portable ? "portable" : "avx2"; }

void eq_i8_gemm(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, int32_t *c, int ldc) {
    kernel()(a, lda, rows, w, c, ldc);
    add_residuals(a, lda, rows, w, c, ldc);
}
