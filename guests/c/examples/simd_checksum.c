/*
 * simd_checksum.c: a guest that uses WebAssembly SIMD (simd128) through clang's
 * <wasm_simd128.h>, on palisade.h. It runs on hosts whose Palisade has the `simd` feature
 * (desktop, server, the std host kit); a build without it refuses the module at compile time.
 * Needs no capability.
 *
 * Entry point `checksum`: the input bytes in, 8 bytes out: the sum of the bytes (u32 LE, modulo
 * 2^32) and the sum of byte[i] * (i % 16 + 1) (u32 LE, modulo 2^32). Sixteen bytes at a time
 * in v128 lanes; the tail byte by byte.
 *
 * Built by guests/artifacts/build.rs:
 *   clang --target=wasm32 -msimd128 -nostdlib -O2 -Wl,--no-entry -I guests/c simd_checksum.c
 */
#include <wasm_simd128.h>

#include "palisade.h"

static uint8_t OUT[8];

PALISADE_ENTRY(checksum)(const uint8_t *in, size_t len) {
    const v128_t weights_lo = wasm_u16x8_make(1, 2, 3, 4, 5, 6, 7, 8);
    const v128_t weights_hi = wasm_u16x8_make(9, 10, 11, 12, 13, 14, 15, 16);
    v128_t sum = wasm_i32x4_splat(0);
    v128_t weighted = wasm_i32x4_splat(0);
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        v128_t bytes = wasm_v128_load(in + i);
        /* bytes -> u16 pairs -> u32 sums. */
        sum = wasm_i32x4_add(sum, wasm_u32x4_extadd_pairwise_u16x8(
                                      wasm_u16x8_extadd_pairwise_u8x16(bytes)));
        v128_t lo = wasm_i16x8_mul(wasm_u16x8_extend_low_u8x16(bytes), weights_lo);
        v128_t hi = wasm_i16x8_mul(wasm_u16x8_extend_high_u8x16(bytes), weights_hi);
        weighted = wasm_i32x4_add(weighted, wasm_u32x4_extadd_pairwise_u16x8(lo));
        weighted = wasm_i32x4_add(weighted, wasm_u32x4_extadd_pairwise_u16x8(hi));
    }
    uint32_t s = 0, w = 0;
    for (int lane = 0; lane < 4; lane++) {
        s += (uint32_t)wasm_i32x4_extract_lane(sum, 0);
        w += (uint32_t)wasm_i32x4_extract_lane(weighted, 0);
        /* Rotate the next lane into lane 0. */
        sum = wasm_i32x4_shuffle(sum, sum, 1, 2, 3, 0);
        weighted = wasm_i32x4_shuffle(weighted, weighted, 1, 2, 3, 0);
    }
    for (; i < len; i++) {
        s += in[i];
        w += (uint32_t)in[i] * (uint32_t)(i % 16 + 1);
    }
    for (int b = 0; b < 4; b++) {
        OUT[b] = (uint8_t)(s >> (8 * b));
        OUT[4 + b] = (uint8_t)(w >> (8 * b));
    }
    palisade_output(OUT, sizeof OUT);
    return 0;
}
