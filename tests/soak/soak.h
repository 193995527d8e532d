/* SPDX-License-Identifier: MIT */
/*
 * Soak test parts (tests/soak/run-soak.sh drives them): publishers and
 * subscribers run as separate processes so the script can kill -9 them,
 * and every check a killed process made survives it: events are appended
 * to files at once (O_APPEND writes reach the kernel before the kill), and
 * counters are snapshotted twice a second.
 *
 * Payload: struct soak_head, then random bytes; crc is CRC-32 of the whole
 * payload with the crc field zero. seq counts per publisher and channel
 * from 0 within one incarnation (epoch) of the publisher.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOAK_MAGIC    0x4b414f53u /* "SOAK" */
#define SOAK_CHANNELS 3u
#define SOAK_PUBS_MAX 16u
#define SOAK_MIN_SIZE 32u
#define SOAK_MAX_SIZE 4096u

struct soak_head {
        uint32_t magic;
        uint32_t pub_id;
        uint32_t epoch;
        uint32_t size;
        uint64_t seq;
        uint32_t crc;
        uint32_t channel;
};

extern const char *const soak_channel_names[SOAK_CHANNELS];

uint32_t soak_crc32(const void *p, size_t n, uint32_t crc);
/* CRC of a payload as the publisher computes it (crc field taken as zero). */
uint32_t soak_payload_crc(const void *p, size_t n);
uint64_t soak_now_usec(void);
uint64_t soak_rand(uint64_t *state);
/* Appends one line to DIR/NAME (O_APPEND, one write). */
void soak_append(const char *dir, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Replaces DIR/NAME with @text (write to a temporary name, rename). */
void soak_replace(const char *dir, const char *name, const char *text);

int soak_pub_main(int argc, char **argv);
int soak_sub_main(int argc, char **argv);
int soak_report_main(int argc, char **argv);
int soak_start_broker_main(int argc, char **argv);
