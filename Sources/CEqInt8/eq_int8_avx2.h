// AVX2 pieces shared by the GEMM (eq_int8.c) and the layout changes
// (eq_int8_layout.c); x86 only, compiled per function for AVX2 + FMA.
#ifndef EQ_INT8_AVX2_H
#define EQ_INT8_AVX2_H

#include <immintrin.h>

#define EQ_X86 1
#define AVX2 __attribute__((target("avx2,fma")))

/// True when the running CPU (not the building one) has what AVX2 functions use.
static inline int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

/// Transposes eight rows of eight 32-bit lanes in place.
AVX2 static inline void transpose8x8(__m256i r[8]) {
    __m256 a[8], b[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_ps(_mm256_castsi256_ps(r[i]), _mm256_castsi256_ps(r[i + 1]));
        a[i + 1] = _mm256_unpackhi_ps(_mm256_castsi256_ps(r[i]), _mm256_castsi256_ps(r[i + 1]));
    }
    for (int i = 0; i < 8; i += 4) {
        b[i] = _mm256_shuffle_ps(a[i], a[i + 2], 0x44);
        b[i + 1] = _mm256_shuffle_ps(a[i], a[i + 2], 0xEE);
        b[i + 2] = _mm256_shuffle_ps(a[i + 1], a[i + 3], 0x44);
        b[i + 3] = _mm256_shuffle_ps(a[i + 1], a[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_castps_si256(_mm256_permute2f128_ps(b[i], b[i + 4], 0x20));
        r[i + 4] = _mm256_castps_si256(_mm256_permute2f128_ps(b[i], b[i + 4], 0x31));
    }
}

/// Eight sums of one output channel as floats: clamp((sum − correction) ·
/// scale + shift + residual, low, high), multiply and add rounded apart as
/// the scalar path does.
AVX2 static inline __m256 dequantized8(__m256i sums, int32_t correction, float scale, float shift, __m256 residual,
                                       __m256 low, __m256 high) {
    const __m256i centred = _mm256_sub_epi32(sums, _mm256_set1_epi32(correction));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(centred), _mm256_set1_ps(scale));
    v = _mm256_add_ps(_mm256_add_ps(v, _mm256_set1_ps(shift)), residual);
    return _mm256_min_ps(_mm256_max_ps(v, low), high);
}

#endif
