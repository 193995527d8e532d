/* SPDX-License-Identifier: MIT */
/*
 * The operation codes of fuzz-ring inputs, shared with the seed generator
 * (gen-seeds.c) so its seeds keep meaning what they say. An input is one
 * geometry byte, then operations: a code byte and its arguments.
 */
#pragma once

/* Geometry byte: bits 0-1 overflow (mod 3), 2-3 message limit, 4-5 first seq. */
#define RING_FUZZ_GEOMETRY(overflow, limit, seq) ((overflow) | (limit) << 2 | (seq) << 4)

enum ring_fuzz_op {
        RING_OP_PUBLISH = 0, /* u16 size, u8 flags: claim, fill, commit */
        RING_OP_ABORT = 1,   /* u16 size, u8 flags: claim, fill, abort */
        RING_OP_DIE = 2,     /* u16 size: claim on the dying slot, which dies holding it */
        RING_OP_PATCH = 3,   /* u8 region, u32 offset, u8 length - 1, bytes */
        RING_OP_READ = 4,    /* u8 count */
        RING_OP_ATTACH = 5,  /* the subscriber maps the ring again; its reader carries on */
        RING_OP_HOUSE = 6,   /* u8 flags, u16 size: broker scan, space and sleep handshakes */
        RING_OP_REJOIN = 7,  /* the subscriber's slot is released and activated again */
        RING_OP_RECOVER = 8, /* the broker repairs the dying slot's claim, reactivates it */
        _RING_OP_MAX,
};

/* Regions RING_OP_PATCH writes to. */
enum ring_fuzz_region {
        RING_REGION_HEADER = 0,
        RING_REGION_TAIL = 1,
        RING_REGION_AREA = 2,
        RING_REGION_STATE = 3,
        RING_REGION_PAGE = 4, /* the subscriber's own page: all it may write */
        _RING_REGION_MAX,
};
