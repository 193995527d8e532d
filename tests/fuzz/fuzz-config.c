/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config: the daemon's config loader (brokerd/config.c) on arbitrary
 * bytes, through the same path as a real file: the input is written to a
 * memfd and loaded as /proc/self/fd/N, so config_load() runs unchanged,
 * fopen() and jansson included.
 *
 * Checked besides memory safety and leaks: a failed load leaves the struct
 * as it was and explains itself with a message naming the file; a
 * successful one keeps its values in the documented ranges and answers
 * settings lookups; config_deinit() gives the defaults back.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

static int config_fd = -1;
static char config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        config_fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        FUZZ_CHECK(config_fd >= 0);
        (void)snprintf(config_path, sizeof(config_path), "/proc/self/fd/%d", config_fd);
        return 0;
}

static void write_input(const uint8_t *data, size_t size) {
        size_t done = 0;

        FUZZ_CHECK(ftruncate(config_fd, 0) == 0);
        while (done < size) {
                ssize_t n = pwrite(config_fd, data + done, size - done, (off_t)done);

                FUZZ_CHECK(n > 0);
                done += (size_t)n;
        }
}

static void check_settings(const struct config *c, const struct channel_settings *s) {
        FUZZ_CHECK(s->max_message_bytes >= 1 && s->max_message_bytes <= c->max_message_bytes);
        FUZZ_CHECK(s->ring_bytes >= 64 * 1024 && (s->ring_bytes & (s->ring_bytes - 1)) == 0);
        FUZZ_CHECK((unsigned)s->overflow < _PROTO_OVERFLOW_MAX);
}

/* A loaded config: ranges hold, and every rule's own name finds settings. */
static void check_loaded(const struct config *c) {
        FUZZ_CHECK(c->path && strcmp(c->path, config_path) == 0);
        FUZZ_CHECK(c->n_tcp <= CONFIG_TCP_MAX);
        FUZZ_CHECK(c->unix_mode <= 0777);
        FUZZ_CHECK(c->max_connections >= 1);
        FUZZ_CHECK(c->max_message_bytes >= 1 && c->max_message_bytes <= PROTO_MESSAGE_BYTES_MAX);
        FUZZ_CHECK(c->max_subscriptions >= 1);
        check_settings(c, &c->channel_defaults);
        for (size_t i = 0; i < c->n_rules; i++) {
                const struct channel_rule *r = &c->rules[i];

                FUZZ_CHECK(r->pattern && strlen(r->pattern) <= PROTO_NAME_MAX);
                check_settings(c, &r->settings);
                check_settings(c, config_channel_settings(c, r->pattern));
        }
        check_settings(c, config_channel_settings(c, "a.b.c"));
}

/* What config_init_defaults() gives (field by field: padding bytes are unspecified). */
static bool is_defaults(const struct config *c) {
        struct config d;

        config_init_defaults(&d);
        return !c->path && !c->unix_path && !c->unix_disabled && c->n_tcp == 0 && !c->rules &&
               c->n_rules == 0 && c->unix_mode == d.unix_mode &&
               c->max_connections == d.max_connections &&
               c->max_message_bytes == d.max_message_bytes &&
               c->output_queue_bytes == d.output_queue_bytes &&
               c->stall_timeout_usec == d.stall_timeout_usec &&
               c->handshake_timeout_usec == d.handshake_timeout_usec &&
               c->max_subscriptions == d.max_subscriptions &&
               c->channel_defaults.max_message_bytes == d.channel_defaults.max_message_bytes &&
               c->channel_defaults.ring_bytes == d.channel_defaults.ring_bytes &&
               c->channel_defaults.overflow == d.channel_defaults.overflow &&
               c->channel_defaults.shared_memory == d.channel_defaults.shared_memory;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char err[CONFIG_ERROR_MAX];
        struct config c;
        int r;

        write_input(data, size);
        config_init_defaults(&c);
        err[0] = 'x';
        r = config_load(&c, config_path, true, err, sizeof(err));
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
                FUZZ_CHECK(is_defaults(&c));
                FUZZ_CHECK(strncmp(err, config_path, strlen(config_path)) == 0);
                FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
                return 0;
        }
        check_loaded(&c);
        config_deinit(&c);
        FUZZ_CHECK(is_defaults(&c));
        return 0;
}
