/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: reload the configuration file the daemon started with.
 *
 * The service manager hears RELOADING=1 (with MONOTONIC_USEC=) first and
 * READY=1 last, whether the reload worked or not. The file is loaded into a
 * scratch config; an invalid one is logged with the same message as at
 * start-up ("FILE: key.path: ..." or "FILE:LINE:COLUMN: ...") and the
 * running configuration stays in force, untouched.
 *
 * A valid one replaces the running configuration in place, so the
 * `const struct config *` the broker and the channel registry hold stays
 * valid; that is safe because every user reads it afresh (limits at each
 * check) or copies what it needs (a channel copies its settings when it is
 * created, a listener its address), and nothing keeps a pointer into its
 * strings or rules. So limits apply from the next check on, and
 * "channel_defaults" and "channels" apply to channels created from now on;
 * exact channel names newly in "channels" are created, and ones no longer
 * there stop being kept alive. "access" applies to every open from now on
 * and to every channel a wildcard subscription attaches to from now on
 * (user and group names are looked up again); publishers, subscriptions,
 * ring slots and wildcard attachments already made are not re-checked.
 * "listen" cannot change without re-binding: each difference is logged as
 * needing a restart and the running "listen" settings are kept, so the
 * config in force always describes the sockets in use.
 */
#pragma once

#include <stdbool.h>

struct broker;
struct config;
struct reload;

/*
 * reload_new() - reload on SIGHUP from now on.
 * @running: the config @b was built with; replaced in place on each
 *           successful reload, so it must stay where it is (main() owns it).
 * @path, @required: as given to config_load() at start-up (copied).
 * Return: 0; -ENOMEM; -EIO when the signal cannot be watched.
 */
int reload_new(struct broker *b, struct config *running, const char *path, bool required,
               struct reload **ret);

/* Stops watching SIGHUP and frees. Accepts NULL. Return: NULL. */
struct reload *reload_free(struct reload *rl);

/*
 * reload_run() - what SIGHUP does, callable directly.
 * Return: 0 reloaded; negative errno when the file was rejected (logged).
 */
int reload_run(struct reload *rl);
