/* SPDX-License-Identifier: MIT */
/*
 * Channel rings kept across restarts in the service manager's file
 * descriptor store (sd_pid_notify_with_fds(3) FDSTORE=1, systemd.service(5)
 * FileDescriptorStoreMax=).
 *
 * Only when $FDSTORE is a positive number (the store's size, set by
 * systemd 254 and later from FileDescriptorStoreMax=, and by our unit for
 * older ones): when a channel's ring is created, its DATA and STATE memfds go to the
 * store; when the channel is freed while the broker runs, they are taken
 * out again (FDSTOREREMOVE=1). A clean shutdown leaves them there, so
 * `systemctl restart` and a crash restarted by Restart=on-failure both
 * find them. Subscriber pages are per holder and are not stored.
 *
 * Names: FDNAME= allows at most 255 printable ASCII characters without
 * ':', and a channel name can be 255 bytes and contain ':', so no prefix
 * plus an encoding of the name fits every channel. The name lives in the
 * ring's DATA header instead (checked on the way back), and FDNAME only
 * pairs the two regions: "ring-data-INODE" and "ring-state-INODE", INODE
 * being the DATA memfd's inode number in decimal (unique among live
 * memfds). Other names ("unix", "tcp", ...) are sockets (activation.h).
 *
 * On start the stored descriptors come back through
 * sd_listen_fds_with_names() like sockets; activation_collect() hands the
 * ones named as above to ring_store_take(), and ring_store_restore()
 * re-creates each channel around its ring (ring_owner_adopt()), or, for a
 * corrupt or mismatched ring, logs the channel and the reason, closes it
 * and removes it from the store.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct broker;
struct ring_owner;

/* FileDescriptorStoreMax= in the unit: two per ring, a ring per channel of the default
 * limits.max_channels (4096). */
#define RING_STORE_FDS_MAX 8192

struct ring_store_fd {
        int fd;
        bool state; /* STATE, else DATA */
        unsigned long long key;
};

/* Stored descriptors handed back at start, until ring_store_restore(). */
struct ring_store {
        struct ring_store_fd *fds;
        size_t n;
        size_t cap;
};

/* Whether @name is one of ours ("ring-data-N", "ring-state-N"). */
bool ring_store_name_is_ring(const char *name);

/* Keeps passed fd @fd named @name (ring_store_name_is_ring()); closes it on failure. */
void ring_store_take(struct ring_store *st, int fd, const char *name);

/*
 * ring_store_restore() - re-create the channels of the stored rings in @b's
 * registry (see above); every descriptor is used or closed.
 * Return: the number of channels restored.
 */
unsigned ring_store_restore(struct ring_store *st, struct broker *b);

/* Closes whatever ring_store_restore() did not take. */
void ring_store_done(struct ring_store *st);

/* Hands the ring's DATA and STATE to the store (FDSTORE=1). */
void ring_store_add(const struct ring_owner *o);

/* Takes them out again (FDSTOREREMOVE=1): the channel is gone. */
void ring_store_remove(const struct ring_owner *o);
