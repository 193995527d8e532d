/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares: the libFuzzer entry points (also called by
 * tests/fuzz/replay.c, so the same file builds into a libFuzzer binary with
 * clang --enable-fuzzing and into a corpus replayer with any compiler), a
 * reader that takes typed values off the fuzz input, and an assertion that
 * aborts with file:line, which both libFuzzer and the replayer report as a
 * crash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called once before the first input. Return: 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* One input; the bytes are not NUL-terminated. Return: 0 (-1 keeps it out of the corpus). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: a violation is a finding, reported as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* The rest of an input, consumed front to back; reads past the end give zeros. */
struct fuzz_input {
        const uint8_t *p;
        size_t left;
};

static inline bool fuzz_empty(const struct fuzz_input *in) {
        return in->left == 0;
}

static inline void fuzz_take(struct fuzz_input *in, void *buf, size_t n) {
        size_t k = n < in->left ? n : in->left;

        memcpy(buf, in->p, k);
        memset((uint8_t *)buf + k, 0, n - k);
        in->p += k;
        in->left -= k;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in) {
        uint8_t v;

        fuzz_take(in, &v, sizeof(v));
        return v;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in) {
        uint8_t b[2];

        fuzz_take(in, b, sizeof(b));
        return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in) {
        uint8_t b[4];

        fuzz_take(in, b, sizeof(b));
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in) {
        uint64_t lo = fuzz_u32(in);

        return lo | (uint64_t)fuzz_u32(in) << 32;
}
