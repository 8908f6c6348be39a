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
#include "eq_int8_avx2.h"
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

/// Adds the packed residuals: C[n][m] += A[n][k] · r, row by row (each row of A stays in cache).
static void add_residuals(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, int32_t *c, int ldc) {
    if (w->corr_start[w->m] == 0) return;
    for (int n = 0; n < rows; n++) {
        const uint8_t *x = a + (size_t)n * lda;
        int32_t *out = c + (size_t)n * ldc;
        for (int j = 0; j < w->m; j++) {
            int32_t sum = 0;
            for (int32_t e = w->corr_start[j]; e < w->corr_start[j + 1]; e++) sum += (int32_t)x[w->corr_k[e]] * w->corr_w[e];
            out[j] += sum;
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
AVX2 static inline __m256i broadcast4(const uint8_t *x) {
    int32_t v;
    memcpy(&v, x, 4);
    return _mm256_set1_epi32(v);
}

/// Stores 16 sums, or the first `valid` of them.
AVX2 static inline void store16(int32_t *c, __m256i lo, __m256i hi, int valid) {
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
AVX2 static void gemm_avx2(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w,
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

/// Σ of channel m's sparse residual over rows n0..<n0+8 of A (rows past
/// `rows` repeat the last one), as eight lanes.
AVX2 static inline __m256i residual8(const uint8_t *const x[8], const EqI8PackedWeights *w, int m) {
    int32_t extra[8] = {0};
    for (int32_t e = w->corr_start[m]; e < w->corr_start[m + 1]; e++) {
        const int32_t k = w->corr_k[e], r = w->corr_w[e];
        for (int i = 0; i < 8; i++) extra[i] += (int32_t)x[i][k] * r;
    }
    return _mm256_loadu_si256((const __m256i *)extra);
}

/// Tiles of 8 rows × 8 channels (half a 16-channel panel): per quad of k one
/// 32-byte weight load, eight broadcasts, eight vpmaddubsw + vpmaddwd +
/// vpaddd; then the tile transposed in registers so each channel's eight
/// outputs are one dequantized vector stored into its plane.
AVX2 static void gemm_dequantize_avx2(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, const EqI8Output *o) {
    const int quads = w->padded_k / 4;
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256 low = _mm256_set1_ps(o->lower), high = _mm256_set1_ps(o->upper);
    for (int m0 = 0; m0 < w->m; m0 += 8) {
        const int8_t *panel = w->panels + (size_t)(m0 / 16) * quads * 64 + (m0 % 16) / 8 * 32;
        const int valid_m = w->m - m0 < 8 ? w->m - m0 : 8;
        for (int n0 = 0; n0 < rows; n0 += 8) {
            const int valid_n = rows - n0 < 8 ? rows - n0 : 8;
            const uint8_t *x[8];
            for (int i = 0; i < 8; i++) x[i] = a + (size_t)(n0 + (i < valid_n ? i : valid_n - 1)) * lda;
            __m256i acc[8];
            for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_si256();
            for (int q = 0; q < quads; q++) {
                const __m256i wv = _mm256_loadu_si256((const __m256i *)(panel + (size_t)q * 64));
                for (int i = 0; i < 8; i++) {
                    acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(broadcast4(x[i] + 4 * q), wv), ones));
                }
            }
            transpose8x8(acc);
            for (int j = 0; j < valid_m; j++) {
                const int m = m0 + j;
                __m256i sums = acc[j];
                if (w->corr_start[m + 1] > w->corr_start[m]) sums = _mm256_add_epi32(sums, residual8(x, w, m));
                float *out = o->out + (size_t)m * o->ld + n0;
                const float *res = o->residual ? o->residual + (size_t)m * o->ld + n0 : NULL;
                if (valid_n == 8) {
                    const __m256 r = res ? _mm256_loadu_ps(res) : _mm256_setzero_ps();
                    _mm256_storeu_ps(out, dequantized8(sums, o->correction[m], o->scale[m], o->shift[m], r, low, high));
                } else {
                    float r[8] = {0}, v[8];
                    if (res) memcpy(r, res, (size_t)valid_n * sizeof(float));
                    _mm256_storeu_ps(v, dequantized8(sums, o->correction[m], o->scale[m], o->shift[m], _mm256_loadu_ps(r), low, high));
                    memcpy(out, v, (size_t)valid_n * sizeof(float));
                }
            }
        }
    }
}
#endif

typedef void (*GemmKernel)(const uint8_t *, int, int, const EqI8PackedWeights *, int32_t *, int);

/// The kernel for the running CPU (not the building one).
static GemmKernel kernel(void) {
#ifdef EQ_X86
    if (has_avx2()) return gemm_avx2;
#endif
    return gemm_portable;
}

const char *eq_i8_kernel_name(void) { return kernel() == gemm_portable ? "portable" : "avx2"; }

void eq_i8_gemm(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, int32_t *c, int ldc) {
    kernel()(a, lda, rows, w, c, ldc);
    add_residuals(a, lda, rows, w, c, ldc);
}

/// The portable path: the sums into a buffer, then dequantized.
static void gemm_dequantize_portable(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, const EqI8Output *o) {
    enum { BLOCK = 64 };
    int32_t *sums = malloc((size_t)BLOCK * w->m * sizeof(int32_t));
    if (!sums) abort();
    for (int n0 = 0; n0 < rows; n0 += BLOCK) {
        const int count = rows - n0 < BLOCK ? rows - n0 : BLOCK;
        eq_i8_gemm(a + (size_t)n0 * lda, lda, count, w, sums, w->m);
        for (int m = 0; m < w->m; m++) {
            for (int i = 0; i < count; i++) {
                const size_t at = (size_t)m * o->ld + n0 + i;
                const float scaled = (float)(sums[(size_t)i * w->m + m] - o->correction[m]) * o->scale[m];
                float v = scaled + o->shift[m];
                if (o->residual) v += o->residual[at];
                o->out[at] = v < o->lower ? o->lower : (v > o->upper ? o->upper : v);
            }
        }
    }
    free(sums);
}

void eq_i8_gemm_dequantize(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, const EqI8Output *o) {
#ifdef EQ_X86
    if (has_avx2()) {
        gemm_dequantize_avx2(a, lda, rows, w, o);
        return;
    }
#endif
    gemm_dequantize_portable(a, lda, rows, w, o);
}
