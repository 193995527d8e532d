/* SPDX-License-Identifier: MIT */
/*
 * Receiving: ipc_client_receive() takes the next message from one of the
 * client's sources, the socket (messages already read and checked) and
 * each ring subscription, and releases the message handed out before.
 *
 * Fairness: the sources take turns, each giving up to CLIENT_BATCH_MAX
 * messages in a row, so a busy ring cannot starve the socket or another
 * ring and a ring's cursor is stored once per batch. The socket is read
 * when its turn finds nothing buffered and it has subscriptions, once per
 * call; a client with ring subscriptions only makes no system call while
 * its rings have data.
 *
 * A dead client (broker gone, or it closed us) still hands out socket
 * messages read before the error, but no more ring records: the broker
 * released our slots, so publishers no longer wait for us and a record
 * could change while we read it. A client that is down (reconnecting)
 * hands out the socket messages read before the loss, then -ENOTCONN once,
 * and reads its rings all along: their publishers still write them.
 *
 * Waiting: with nothing anywhere, every ring subscription announces sleep
 * (sub_ring_sleep()), so the client's epoll fd turns readable on the next
 * record; timeout 0 then returns -EAGAIN, a blocking call first spins for
 * the client's spin budget (rings only), then polls that fd.
 */
#include <errno.h>

#include "client-internal.h"
#include "util.h"

/* Re-checks after a record arrived during the sleep announcement, before waiting anyway. */
#define RECEIVE_RACES_MAX 4

/* Releases the message handed out last; the subscription pointer stays for the getters. */
static int msg_release(ipc_client *c) {
        int r = 0;

        if (c->msg.ring_sub) {
                /* The socket's view was released when this message was taken. */
                r = sub_ring_release(c, c->msg.ring_sub);
                c->msg.ring_sub = NULL;
                return r;
        }
        client_release_view(c);
        return r;
}

/**
 * client_msg_release() - the message handed out last is no longer used
 * (receive and process start with this).
 * Return: 0; -ESTALE (see sub_ring_release()).
 */
int client_msg_release(ipc_client *c) {
        int r = msg_release(c);

        c->msg.sub = NULL;
        return r;
}

IPC_EXPORT int ipc_msg_release(const ipc_msg *msg) {
        if (!msg || !msg->client)
                return -EINVAL;
        return msg_release(msg->client);
}

/** client_rings_drain_ready() - consume the wake-ups of the ring subscriptions whose fds are in
 * @fds. */
void client_rings_drain_ready(ipc_client *c, const int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < c->n_ring_subs; k++)
                        if (c->ring_subs[k]->ring->fds[CLIENT_RING_FD_WAKE] == fds[i])
                                sub_ring_drain(c, c->ring_subs[k]);
}

/*
 * client_rings_drain() - consume the wake-ups that came: the epoll set says
 * which eventfds are signalled (one look, no per-ring read).
 */
void client_rings_drain(ipc_client *c) {
        int fds[CLIENT_READY_MAX];
        int n;

        if (c->n_ring_subs == 0)
                return;
        n = plat_poller_wait(c->poller, 0, fds, ARRAY_SIZE(fds));
        if (n > 0)
                client_rings_drain_ready(c, fds, (size_t)n);
}

/**
 * client_rings_idle() - every ring subscription announces sleep.
 * Return: true when all are asleep; false when one has a record after all.
 */
bool client_rings_idle(ipc_client *c) {
        bool idle = true;

        for (size_t i = 0; i < c->n_ring_subs; i++)
                if (!sub_ring_sleep(c, c->ring_subs[i]))
                        idle = false;
        return idle;
}

/** client_rings_ready() - whether a ring subscription has a message (or an error) to hand out. */
int client_rings_ready(ipc_client *c) {
        if (c->dead)
                return 0;
        for (size_t i = 0; i < c->n_ring_subs; i++)
                if (sub_ring_peek(c, c->ring_subs[i]) != 0)
                        return 1;
        return 0;
}

/** client_rings_asleep() - every ring subscription has announced sleep (the fd will wake us). */
bool client_rings_asleep(const ipc_client *c) {
        for (size_t i = 0; i < c->n_ring_subs; i++)
                if (!c->ring_subs[i]->sleeping)
                        return false;
        return true;
}

/*
 * The socket's turn: a buffered message, else (once per call, and only
 * when socket subscriptions exist) one non-blocking write and read.
 * Return: 1 ready; 0 none; -ENOMEM.
 */
static int source_socket(ipc_client *c, bool *read_done) {
        int r;

        if (client_peek_message(c))
                return 1;
        if (*read_done || c->n_subs == 0 || c->dead || c->link_down)
                return 0;
        *read_done = true;
        r = client_write(c);
        if (r >= 0)
                r = client_read(c, 1);
        if (r < 0 && !c->dead && r != -ENOTCONN)
                return r;
        return client_peek_message(c);
}

/* Moves on to the next source; a ring subscription left behind stores its cursor. */
static void source_leave(ipc_client *c) {
        if (c->src > 0)
                sub_ring_store(c, c->ring_subs[c->src - 1]);
        c->src = (c->src + 1) % (1 + c->n_ring_subs);
        c->src_run = 0;
}

/*
 * client_next() - the next message from the sources in turn. One more step
 * than there are sources, so a source left only for its batch limit gets
 * another turn when the others are empty.
 * Return: 0 and *ret; -EAGAIN (all empty); -EBADMSG (a corrupt ring
 * record); -ENOMEM.
 */
static int client_next(ipc_client *c, bool *read_done, const ipc_msg **ret) {
        size_t n = 1 + c->n_ring_subs;
        int r;

        for (size_t step = 0; step <= n; step++) {
                ipc_sub *sub;

                if (c->src >= n) {
                        c->src = 0;
                        c->src_run = 0;
                }
                sub = c->src > 0 ? c->ring_subs[c->src - 1] : NULL;
                /* Dead: the broker freed our slots, so a ring is no longer safe to read. */
                if (c->src_run < CLIENT_BATCH_MAX && !(sub && c->dead)) {
                        r = sub ? sub_ring_peek(c, sub) : source_socket(c, read_done);
                        if (r < 0) {
                                if (sub)
                                        source_leave(c);
                                return r;
                        }
                        if (r > 0) {
                                c->src_run++;
                                if (sub)
                                        sub_ring_take(c, sub, &c->msg);
                                else
                                        client_take_message(c);
                                *ret = &c->msg;
                                return 0;
                        }
                }
                source_leave(c);
        }
        return -EAGAIN;
}

/* timeout 0: one non-blocking write and read, no poll(). */
static int client_receive_once(ipc_client *c) {
        int r;

        if (c->dead)
                return c->dead;
        r = client_write(c);
        if (r >= 0)
                r = client_read(c, 1);
        return r;
}

IPC_EXPORT int ipc_client_receive(ipc_client *client, uint64_t timeout_usec, const ipc_msg **ret) {
        uint64_t now, deadline, spin_end = 0;
        bool read_done = false, expired = false;
        unsigned races = 0;
        int r;

        if (!client || !ret)
                return -EINVAL;
        (void)client_msg_release(client);
        /* Under load a message is waiting: no clock read for it. */
        r = client_next(client, &read_done, ret);
        if (r != -EAGAIN)
                return r;
        if (client->link_lost_unseen && !client->dead) {
                client->link_lost_unseen = false;
                return -ENOTCONN;
        }
        now = plat_now_usec();
        deadline = usec_add(now, timeout_usec);
        if (timeout_usec > 0 && client->n_ring_subs > 0)
                spin_end = usec_add(now, MIN(client->spin_usec, timeout_usec));
        for (bool first = true;; first = false) {
                if (!first) {
                        r = client_next(client, &read_done, ret);
                        if (r != -EAGAIN)
                                return r;
                }
                if (client->dead)
                        return client->dead;
                if (client->link_lost_unseen) {
                        client->link_lost_unseen = false;
                        return -ENOTCONN;
                }
                if (client->link_down) {
                        client_link_tick(client);
                        if (!client->link_down) {
                                read_done = false;
                                continue;
                        }
                        read_done = true;
                }
                /*
                 * Without socket subscriptions only control frames come on
                 * the socket; the poll below notices them, so a ring-only
                 * client makes no read per empty look at its rings.
                 */
                if (!read_done && client->n_subs == 0)
                        read_done = true;
                if (!read_done) {
                        /* Under load data is usually waiting: try before paying for poll(). */
                        read_done = true;
                        r = client_receive_once(client);
                        if (r < 0 && !client->dead && r != -ENOTCONN)
                                return r;
                        continue;
                }
                if (spin_end && plat_now_usec() < spin_end) {
                        plat_cpu_relax();
                        continue;
                }
                if (!client_rings_idle(client) && races++ < RECEIVE_RACES_MAX)
                        continue;
                if (timeout_usec == 0)
                        return -EAGAIN;
                if (expired)
                        return -ETIMEDOUT;
                r = client_wait_all(client, deadline);
                expired = r > 0;
                /* A dead client may still have messages read before the error. */
                if (r < 0 && !client->dead && r != -ENOTCONN)
                        return r;
        }
}
