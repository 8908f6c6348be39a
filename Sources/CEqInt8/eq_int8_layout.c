// Moving activations into and out of the integer GEMM (see include/eq_int8.h):
// float planes to uint8 codes in pixel-major order, windows of codes as GEMM
// rows, and a linear layer's int32 sums back to floats (a conv's are
// dequantized inside eq_i8_gemm_dequantize). Each body is compiled for AVX2
// and for any x86-64 and picked by the running CPU; the transposing one has
// an AVX2 version that moves 8 × 8 blocks through registers.
#include "eq_int8.h"

#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/// Rounds half to even by adding 1.5 · 2²³: the float's low mantissa bits
/// then hold the integer. Valid for |v| < 2²²; callers clamp first.
ALWAYS_INLINE int32_t round_even(float v) {
    union { float f; int32_t i; } u = { v + 12582912.0f };
    return u.i - 0x4B400000;
}

/// x's code: x / scale rounded half to even, plus the zero point, clamped
/// (clamped before rounding too, where the trick above holds).
ALWAYS_INLINE uint8_t code_of(float x, float inverse_scale, float lo, float hi, int zero, int qmin, int qmax) {
    float v = x * inverse_scale;
    v = v < lo ? lo : (v > hi ? hi : v);
    const int32_t q = round_even(v) + zero;
    return (uint8_t)(q < qmin ? qmin : (q > qmax ? qmax : q));
}

ALWAYS_INLINE void codes_body(const float *x, size_t count, float inverse_scale, int zero, int qmin, int qmax,
                              uint8_t *out) {
    const float lo = (float)(qmin - zero) - 1, hi = (float)(qmax - zero) + 1;
    for (size_t i = 0; i < count; i++) out[i] = code_of(x[i], inverse_scale, lo, hi, zero, qmin, qmax);
}

/// out[p][c] = code(x[c][p]) for channels c0..<c1 and pixels p0..<p1.
ALWAYS_INLINE void codes_transposed_block(const float *x, int pixels, int channels, int c0, int c1, int p0, int p1,
                                          float inverse_scale, int zero, int qmin, int qmax, uint8_t *out) {
    const float lo = (float)(qmin - zero) - 1, hi = (float)(qmax - zero) + 1;
    for (int p = p0; p < p1; p++) {
        for (int c = c0; c < c1; c++) {
            out[(size_t)p * channels + c] = code_of(x[(size_t)c * pixels + p], inverse_scale, lo, hi, zero, qmin, qmax);
        }
    }
}

ALWAYS_INLINE void codes_transposed_body(const float *x, int channels, int pixels, float inverse_scale, int zero, int qmin,
                                         int qmax, uint8_t *out) {
    // In blocks that keep the source rows and the destination in L1.
    enum { BLOCK = 32 };
    for (int p0 = 0; p0 < pixels; p0 += BLOCK) {
        const int p1 = p0 + BLOCK < pixels ? p0 + BLOCK : pixels;
        for (int c0 = 0; c0 < channels; c0 += BLOCK) {
            const int c1 = c0 + BLOCK < channels ? c0 + BLOCK : channels;
            codes_transposed_block(x, pixels, channels, c0, c1, p0, p1, inverse_scale, zero, qmin, qmax, out);
        }
    }
}

/// Copies n bytes in 16-, 8- and 4-byte moves (the last one overlapping):
/// window rows are short, and a call to memcpy per row costs more than the copy.
ALWAYS_INLINE void copy_bytes(uint8_t *d, const uint8_t *s, int n) {
    if (n >= 16) {
        int i = 0;
        for (; i + 16 <= n; i += 16) memcpy(d + i, s + i, 16);
        if (i < n) memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (int i = 0; i < n; i++) d[i] = s[i];
    }
}

/// Sets n bytes to `value` in the same moves.
ALWAYS_INLINE void fill_bytes(uint8_t *d, uint8_t value, int n) {
    uint8_t pattern[16];
    memset(pattern, value, 16);
    if (n >= 16) {
        int i = 0;
        for (; i + 16 <= n; i += 16) memcpy(d + i, pattern, 16);
        if (i < n) memcpy(d + n - 16, pattern, 16);
    } else {
        for (int i = 0; i < n; i++) d[i] = value;
    }
}

ALWAYS_INLINE void im2col_body(const uint8_t *x, const EqI8Window *g, uint8_t zero, uint8_t *a, int lda) {
    const int c = g->channels, span = g->kernel_w * c, row_bytes = g->kernel_h * span;
    for (int oh = 0; oh < g->out_h; oh++) {
        for (int ow = 0; ow < g->out_w; ow++) {
            uint8_t *row = a + ((size_t)oh * g->out_w + ow) * lda;
            uint8_t *dst = row;
            const int left = ow * g->stride_w - g->pad_left;
            // Undilated and inside the width: each kernel row is one run of the image row.
            const int whole = g->dilation_w == 1 && left >= 0 && left + g->kernel_w <= g->in_w;
            for (int i = 0; i < g->kernel_h; i++, dst += span) {
                const int ih = oh * g->stride_h - g->pad_top + i * g->dilation_h;
                if (ih < 0 || ih >= g->in_h) {
                    fill_bytes(dst, zero, span);
                } else if (whole) {
                    copy_bytes(dst, x + ((size_t)ih * g->in_w + left) * c, span);
                } else {
                    for (int j = 0; j < g->kernel_w; j++) {
                        const int iw = left + j * g->dilation_w;
                        if (iw < 0 || iw >= g->in_w) fill_bytes(dst + j * c, zero, c);
                        else copy_bytes(dst + j * c, x + ((size_t)ih * g->in_w + iw) * c, c);
                    }
                }
            }
            for (int k = row_bytes; k < lda; k++) row[k] = 0;
        }
    }
}

ALWAYS_INLINE float dequantized(int32_t sum, int32_t correction, float scale, float shift) {
    const float scaled = (float)(sum - correction) * scale;
    return scaled + shift;
}

ALWAYS_INLINE void dequantize_rows_body(const int32_t *sums, int ldc, int rows, int channels, const int32_t *correction,
                                        const float *scale, const float *shift, float lower, float upper, float *out) {
    for (int n = 0; n < rows; n++) {
        const int32_t *s = sums + (size_t)n * ldc;
        float *o = out + (size_t)n * channels;
        for (int m = 0; m < channels; m++) {
            const float v = dequantized(s[m], correction[m], scale[m], shift[m]);
            o[m] = v < lower ? lower : (v > upper ? upper : v);
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include "eq_int8_avx2.h"

/// Eight channels × eight pixels per block: quantized as rows of channels,
/// transposed, each pixel's eight codes narrowed to bytes and stored (the
/// last block's missing channels as zero rows, not stored).
AVX2 static void codes_transposed_avx2(const float *x, int channels, int pixels, float inverse_scale, int zero, int qmin,
                                       int qmax, uint8_t *out) {
    const int full_p = pixels / 8 * 8;
    const __m256 inverse = _mm256_set1_ps(inverse_scale);
    const __m256 lo = _mm256_set1_ps((float)(qmin - zero) - 1), hi = _mm256_set1_ps((float)(qmax - zero) + 1);
    const __m256i z = _mm256_set1_epi32(zero), qlo = _mm256_set1_epi32(qmin), qhi = _mm256_set1_epi32(qmax);
    for (int p0 = 0; p0 < full_p; p0 += 8) {
        for (int c0 = 0; c0 < channels; c0 += 8) {
            const int valid = channels - c0 < 8 ? channels - c0 : 8;
            __m256i r[8];
            for (int i = 0; i < 8; i++) {
                if (i >= valid) {
                    r[i] = _mm256_setzero_si256();
                    continue;
                }
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + (size_t)(c0 + i) * pixels + p0), inverse);
                v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
                const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
                r[i] = _mm256_min_epi32(_mm256_max_epi32(q, qlo), qhi);
            }
            transpose8x8(r);
            for (int j = 0; j < 8; j++) {
                const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(r[j]), _mm256_extracti128_si256(r[j], 1));
                uint8_t *dst = out + (size_t)(p0 + j) * channels + c0;
                if (valid == 8) {
                    _mm_storel_epi64((__m128i *)dst, _mm_packus_epi16(words, words));
                } else {
                    uint8_t bytes[16];
                    _mm_storeu_si128((__m128i *)bytes, _mm_packus_epi16(words, words));
                    memcpy(dst, bytes, (size_t)valid);
                }
            }
        }
    }
    codes_transposed_block(x, pixels, channels, 0, channels, full_p, pixels, inverse_scale, zero, qmin, qmax, out);
}

// The auto-vectorized bodies, once per CPU level, and the dispatching entry point.
#define EQ_DISPATCH(name, params, args)                                \
    AVX2 static void name##_avx2 params { name##_body args; }          \
    static void name##_generic params { name##_body args; }            \
    void eq_i8_##name params {                                         \
        if (has_avx2()) name##_avx2 args;                              \
        else name##_generic args;                                      \
    }
#else
#define EQ_DISPATCH(name, params, args) \
    void eq_i8_##name params { name##_body args; }
#endif

EQ_DISPATCH(codes, (const float *x, size_t count, float inverse_scale, int zero, int qmin, int qmax, uint8_t *out),
            (x, count, inverse_scale, zero, qmin, qmax, out))
EQ_DISPATCH(im2col, (const uint8_t *x, const EqI8Window *g, uint8_t zero, uint8_t *a, int lda), (x, g, zero, a, lda))
EQ_DISPATCH(dequantize_rows, (const int32_t *sums, int ldc, int rows, int channels, const int32_t *correction,
                              const float *scale, const float *shift, float lower, float upper, float *out),
            (sums, ldc, rows, channels, correction, scale, shift, lower, upper, out))

void eq_i8_codes_transposed(const float *x, int channels, int pixels, float inverse_scale, int zero, int qmin, int qmax,
                            uint8_t *out) {
#ifdef EQ_X86
    if (has_avx2()) {
        codes_transposed_avx2(x, channels, pixels, inverse_scale, zero, qmin, qmax, out);
        return;
    }
#endif
    codes_transposed_body(x, channels, pixels, inverse_scale, zero, qmin, qmax, out);
}
