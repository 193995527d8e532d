/* SPDX-License-Identifier: MIT */
/*
 * Configuration reload on SIGHUP (see reload.h).
 */
#include "build-config.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "acl.h"
#include "broker.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "status.h"

struct reload {
        struct broker *broker;
        struct config *config; /* the running one, main()'s */
        char *path;
        bool required;
        struct event *sighup;
};

/* --- "listen": compared, logged, never applied --- */

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* Addresses, "insecure", and every TLS setting: certificates are loaded once, at start-up. */
static bool tcp_equal(const struct config *a, const struct config *b) {
        if (a->n_tcp != b->n_tcp)
                return false;
        for (size_t i = 0; i < a->n_tcp; i++)
                if (!config_tcp_equal(&a->tcp[i], &b->tcp[i]))
                        return false;
        return true;
}

static void log_restart(const struct config *next, const char *key) {
        log_warning("%s: listen.%s changed; that needs a restart, the running value stays",
                    next->path ? next->path : "configuration", key);
}

/* Logs what differs, then swaps the "listen" settings so @next keeps the running ones. */
static void listen_keep(struct config *running, struct config *next) {
        char *unix_path = next->unix_path;
        struct config_tcp tcp[CONFIG_TCP_MAX];
        size_t n_tcp = next->n_tcp;

        if (!str_equal(running->unix_path, next->unix_path) ||
            running->unix_disabled != next->unix_disabled)
                log_restart(next, "unix");
        if (!tcp_equal(running, next))
                log_restart(next, "tcp");
        if (running->unix_mode != next->unix_mode)
                log_restart(next, "unix_mode");
        if (running->unix_group_set != next->unix_group_set ||
            running->unix_gid != next->unix_gid)
                log_restart(next, "unix_group");
        /* running is freed after the swap: give it next's strings. */
        memcpy(tcp, next->tcp, sizeof(tcp));
        next->unix_path = running->unix_path;
        next->unix_disabled = running->unix_disabled;
        memcpy(next->tcp, running->tcp, sizeof(next->tcp));
        next->n_tcp = running->n_tcp;
        next->unix_mode = running->unix_mode;
        next->unix_group_set = running->unix_group_set;
        next->unix_gid = running->unix_gid;
        running->unix_path = unix_path;
        memcpy(running->tcp, tcp, sizeof(running->tcp));
        running->n_tcp = n_tcp;
}

/* --- "limits", "channel_defaults", "channels": applied --- */

struct limit_field {
        const char *name;
        size_t offset;
        size_t size;
        uint64_t scale; /* stored value / scale = the value the file states */
};

#define LIMIT(name, field, scale)                                                                  \
        { name, offsetof(struct config, field), sizeof(((struct config *)0)->field), scale }

static const struct limit_field limit_fields[] = {
        LIMIT("max_connections", max_connections, 1),
        LIMIT("max_message_bytes", max_message_bytes, 1),
        LIMIT("output_queue_bytes", output_queue_bytes, 1),
        LIMIT("stall_timeout_ms", stall_timeout_usec, USEC_PER_MSEC),
        LIMIT("handshake_timeout_ms", handshake_timeout_usec, USEC_PER_MSEC),
        LIMIT("frame_timeout_ms", frame_timeout_usec, USEC_PER_MSEC),
        LIMIT("max_subscriptions", max_subscriptions, 1),
        LIMIT("max_connections_per_uid", max_connections_per_uid, 1),
        LIMIT("max_channels", max_channels, 1),
        LIMIT("max_queued_bytes_per_uid", max_queued_bytes_per_uid, 1),
        LIMIT("max_rings_per_uid", max_rings_per_uid, 1),
};

static uint64_t limit_get(const struct config *c, const struct limit_field *f) {
        const char *p = (const char *)c + f->offset;
        uint32_t v32;
        uint64_t v64;

        if (f->size == sizeof(v32)) {
                memcpy(&v32, p, sizeof(v32));
                return v32 / f->scale;
        }
        memcpy(&v64, p, sizeof(v64));
        return v64 / f->scale;
}

static void limits_log(const struct config *running, const struct config *next) {
        for (size_t i = 0; i < ARRAY_SIZE(limit_fields); i++) {
                uint64_t was = limit_get(running, &limit_fields[i]);
                uint64_t now = limit_get(next, &limit_fields[i]);

                if (was != now)
                        log_info("limits.%s: %llu -> %llu", limit_fields[i].name,
                                 (unsigned long long)was, (unsigned long long)now);
        }
}

static bool settings_equal(const struct channel_settings *a, const struct channel_settings *b) {
        return a->max_message_bytes == b->max_message_bytes && a->ring_bytes == b->ring_bytes &&
               a->overflow == b->overflow && a->shared_memory == b->shared_memory;
}

static bool rules_equal(const struct config *a, const struct config *b) {
        if (a->n_rules != b->n_rules)
                return false;
        for (size_t i = 0; i < a->n_rules; i++)
                if (strcmp(a->rules[i].pattern, b->rules[i].pattern) != 0 ||
                    !settings_equal(&a->rules[i].settings, &b->rules[i].settings))
                        return false;
        return true;
}

static void channels_log(const struct config *running, const struct config *next) {
        if (!settings_equal(&running->channel_defaults, &next->channel_defaults) ||
            !rules_equal(running, next))
                log_info("channel settings changed; channels created from now on get them, "
                         "existing channels keep theirs");
}

static bool declared_in(const struct config *c, const char *name) {
        for (size_t i = 0; i < c->n_rules; i++)
                if (!c->rules[i].is_pattern && strcmp(c->rules[i].pattern, name) == 0)
                        return true;
        return false;
}

/*
 * Channels follow the exact names of the new "channels": ones no longer
 * named lose their declaration (and go if nothing else holds them), new
 * ones are created.
 */
static void channels_redeclare(struct broker *b) {
        struct channel_registry *reg = &b->registry;
        struct channel *c, *tmp;
        int r;

        list_for_each_safe(c, tmp, &reg->channels, node) {
                if (!c->declared || declared_in(reg->config, c->name))
                        continue;
                c->declared = false;
                channel_release(c); /* Careful: may free c */
        }
        r = channel_registry_declare(reg);
        if (r < 0)
                log_errno(LOG_ERR, r, "cannot create the channels the configuration declares: %m");
}

/* --- "access": applied to opens from now on --- */

static void access_log(const struct config *running, const struct config *next) {
        if (!acl_equal(&running->access, &next->access))
                log_info("access rules changed (%zu rules, default %s); they apply to opens from "
                         "now on, publishers and subscriptions already open stay",
                         next->access.n_rules, next->access.default_allow ? "allow" : "deny");
}

static void reload_apply(struct reload *rl, struct config *next) {
        listen_keep(rl->config, next);
        limits_log(rl->config, next);
        channels_log(rl->config, next);
        access_log(rl->config, next);
        config_deinit(rl->config);
        *rl->config = *next;
        channels_redeclare(rl->broker);
}

int reload_run(struct reload *rl) {
        char err[CONFIG_ERROR_MAX];
        struct config next;
        int r;

        notify_reloading();
        r = config_load(&next, rl->path, rl->required, err, sizeof(err));
        if (r < 0) {
                /* The start-up message, word for word, then what it means now. */
                log_error("%s", err);
                log_error("configuration not reloaded; the running one stays in force");
        } else {
                reload_apply(rl, &next);
                if (rl->config->path)
                        log_info("configuration reloaded from %s", rl->config->path);
                else
                        log_info("no configuration file %s; reloaded the built-in defaults",
                                 rl->path);
        }
        (void)status_send_ready(rl->broker->status);
        return r < 0 ? r : 0;
}

static void reload_signal_cb(evutil_socket_t sig, short what, void *userdata) {
        struct reload *rl = userdata;

        if (rl->broker->stopping)
                return;
        log_info("received SIGHUP, reloading the configuration");
        (void)reload_run(rl);
}

int reload_new(struct broker *b, struct config *running, const char *path, bool required,
               struct reload **ret) {
        struct reload *rl;

        rl = calloc(1, sizeof(*rl));
        if (!rl)
                return -ENOMEM;
        rl->broker = b;
        rl->config = running;
        rl->required = required;
        rl->path = strdup(path);
        rl->sighup = evsignal_new(b->base, SIGHUP, reload_signal_cb, rl);
        if (!rl->path || !rl->sighup) {
                reload_free(rl);
                return -ENOMEM;
        }
        if (evsignal_add(rl->sighup, NULL) < 0) {
                reload_free(rl);
                return -EIO;
        }
        *ret = rl;
        return 0;
}

struct reload *reload_free(struct reload *rl) {
        if (!rl)
                return NULL;
        if (rl->sighup)
                event_free(rl->sighup);
        free(rl->path);
        free(rl);
        return NULL;
}
