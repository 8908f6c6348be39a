// Integer GEMM for int8 inference: uint8 activations × int8 weights, summed
// exactly in int32, as deployment int8 runtimes compute conv and linear
// layers (ONNX Runtime's QLinearConv / MatMulInteger, u8×s8).
//
// C[n][m] = Σ_k A[n][k] · W[m][k], exact. A is row-major [N][lda] with
// lda ≥ eq_i8_padded_k(K) and zeros in columns K..<padded K; W is packed once
// per layer (eq_i8_pack_weights). The kernel is picked by the running CPU's
// features (eq_i8_kernel_name): AVX2 (vpmaddubsw + vpmaddwd) or portable C.
#ifndef EQ_INT8_H
#define EQ_INT8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A layer's weights in the kernel's layout, with the corrections that keep
/// vpmaddubsw's 16-bit pair sums from saturating.
typedef struct EqI8PackedWeights {
    int m;              // output channels
    int k;              // inputs per output channel
    int padded_k;       // k rounded up to a multiple of 4
    int8_t *panels;     // [ceil(m/16)][padded_k/4][16][4]
    int32_t *row_sums;  // Σ_k W[m][k], for zero-point corrections
    // Sparse exact residual: for channel m, entries corr_start[m]..<corr_start[m+1]
    // of (corr_k, corr_w) are added as A[n][corr_k] · corr_w.
    int32_t *corr_start;
    int32_t *corr_k;
    int16_t *corr_w;
} EqI8PackedWeights;

/// k rounded up to the kernel's multiple (4).
int eq_i8_padded_k(int k);

/// Packs row-major int8 weights [m][k]; returns 0, or -1 when memory runs out.
int eq_i8_pack_weights(const int8_t *weights, int m, int k, EqI8PackedWeights *packed);
void eq_i8_free_weights(EqI8PackedWeights *packed);

/// C[n][m] (row-major, ldc ≥ m) = Σ_k A[n][k] · W[m][k] for n < rows.
void eq_i8_gemm(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, int32_t *c, int ldc);

/// Where a conv's outputs go and how its int32 sums become them:
/// out[m·ld + n] = clamp((C[n][m] − correction[m]) · scale[m] + shift[m]
/// (+ residual[m·ld + n]), lower, upper).
typedef struct EqI8Output {
    const int32_t *correction;
    const float *scale;
    const float *shift;
    const float *residual;  // NULL, or laid out as out
    float lower, upper;
    float *out;
    int ld;
} EqI8Output;

/// eq_i8_gemm with the sums dequantized in registers and stored channel-major
/// (NCHW planes), never written as int32.
void eq_i8_gemm_dequantize(const uint8_t *a, int lda, int rows, const EqI8PackedWeights *w, const EqI8Output *o);

/// The same sums by plain loops on the unpacked weights: the tests' reference.
void eq_i8_gemm_reference(const uint8_t *a, int lda, int rows, const int8_t *weights, int m, int k, int32_t *c, int ldc);

/// A conv window over a pixel-major (HWC) image of codes.
typedef struct EqI8Window {
    int channels, in_h, in_w, out_h, out_w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
} EqI8Window;

/// out[i] = clamp(round_half_even(x[i] · inverse_scale) + zero, qmin, qmax):
/// the codes of activations quantized with that scale and zero point.
void eq_i8_codes(const float *x, size_t count, float inverse_scale, int zero, int qmin, int qmax, uint8_t *out);

/// out[p][c] = the code of x[c][p] (as eq_i8_codes): channel-major floats
/// to pixel-major codes.
void eq_i8_codes_transposed(const float *x, int channels, int pixels, float inverse_scale, int zero, int qmin, int qmax,
                            uint8_t *out);

/// GEMM rows of a conv: row (oh·out_w + ow) holds the window's codes in
/// (kernel row, kernel column, channel) order, `zero` where the window
/// leaves the image, then zeros up to lda.
void eq_i8_im2col(const uint8_t *x, const EqI8Window *window, uint8_t zero, uint8_t *a, int lda);

/// out[n][m] = clamp((sums[n][m] − correction[m]) · scale[m] + shift[m],
/// lower, upper): a linear layer's int32 sums as floats.
void eq_i8_dequantize_rows(const int32_t *sums, int ldc, int rows, int channels, const int32_t *correction,
                           const float *scale, const float *shift, float lower, float upper, float *out);

/// "avx2" or "portable": the kernel eq_i8_gemm runs on this CPU.
const char *eq_i8_kernel_name(void);

#ifdef __cplusplus
}
#endif

#endif
