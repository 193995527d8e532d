/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the daemon, the library and the tests: cleanup
 * attributes, little-endian access to wire and shared-memory bytes, clocks.
 * Internal only: never included from ipcclient.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* DEFINE_CLEANUP(type, func): type##p cleanup calling func(*p) when non-NULL. */
#define DEFINE_CLEANUP(type, func)                                                                 \
        static inline void func##p(type *p) {                                                      \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

static inline void freep(void *p) {
        free(*(void **)p);
}

#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
}

#define _cleanup_close_ _cleanup_(closep)

/* Takes ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _tp = (p);                                                           \
                (p) = NULL;                                                                        \
                _tp;                                                                               \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _tf = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _tf;                                                                               \
        })

/* Wire and ring integers are little-endian; memcpy keeps unaligned access defined. */
static inline uint16_t le16_get(const void *p) {
        const uint8_t *b = p;
        return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}

static inline uint32_t le32_get(const void *p) {
        const uint8_t *b = p;
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t le64_get(const void *p) {
        const uint8_t *b = p;
        return (uint64_t)le32_get(b) | (uint64_t)le32_get(b + 4) << 32;
}

static inline void le16_put(void *p, uint16_t v) {
        uint8_t *b = p;
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
}

static inline void le32_put(void *p, uint32_t v) {
        uint8_t *b = p;
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)(v >> 16);
        b[3] = (uint8_t)(v >> 24);
}

static inline void le64_put(void *p, uint64_t v) {
        le32_put(p, (uint32_t)v);
        le32_put((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define NSEC_PER_USEC UINT64_C(1000)
#define USEC_INFINITY UINT64_MAX

/* Adds a relative timeout to a monotonic time, saturating at USEC_INFINITY. */
static inline uint64_t usec_add(uint64_t base, uint64_t delta) {
        return delta > USEC_INFINITY - base ? USEC_INFINITY : base + delta;
}
