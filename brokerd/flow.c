/* SPDX-License-Identifier: MIT */
/*
 * Back-pressure for the "block" overflow policy (see peer.h).
 *
 * When a message of a block-policy channel lands in a subscriber queue that
 * is over the cap, the publishing connection stops being read until every
 * such subscriber it fed has drained below half the cap or gone away. The
 * bytes then wait in the kernel socket buffer, so the publisher is slowed
 * to the slowest subscriber and broker memory stays bounded. Each
 * publisher/subscriber pair is one flow_wait, linked into both peers, so
 * either side can end the relation in O(1) per wait.
 *
 * A channel with a ring has no publishing connection behind a delivery:
 * its bridge reads the ring (bridge.h). Then the bridge is what waits, and
 * with it stopped the ring fills up and its publishers wait for space, so
 * the same back-pressure reaches ring and socket publishers alike.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"
#include "peer.h"

bool flow_is_blocked(const struct peer *pub) {
        return !list_is_empty(&pub->waits) || pub->space_wait || pub->reply_wait;
}

int flow_wait(struct peer *pub, struct peer *sub) {
        struct flow_wait *w;

        list_for_each(w, &pub->waits, pub_node) {
                if (w->sub == sub)
                        return 0;
        }
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->pub = pub;
        w->sub = sub;
        if (list_is_empty(&pub->waits))
                (void)bufferevent_disable(pub->bev, EV_READ);
        list_append(&pub->waits, &w->pub_node);
        list_append(&sub->waiters, &w->sub_node);
        return 0;
}

int flow_wait_bridge(struct bridge *br, struct peer *sub) {
        struct flow_wait *w;

        list_for_each(w, &br->waits, pub_node) {
                if (w->sub == sub)
                        return 0;
        }
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->bridge = br;
        w->sub = sub;
        list_append(&br->waits, &w->pub_node);
        list_append(&sub->waiters, &w->sub_node);
        return 0;
}

static void flow_wait_free(struct flow_wait *w) {
        list_unlink(&w->pub_node);
        list_unlink(&w->sub_node);
        free(w);
}

void flow_release_waiters(struct peer *sub) {
        struct flow_wait *w, *tmp;

        list_for_each_safe(w, tmp, &sub->waiters, sub_node) {
                struct bridge *br = w->bridge;
                struct peer *pub = w->pub;

                flow_wait_free(w);
                /* Deferred, both: resuming runs the publisher's input (or the bridge's
                 * fan-out), which may block it on @sub again while we walk @sub's list. */
                if (br) {
                        if (!bridge_is_paused(br))
                                bridge_resume(br);
                } else if (!flow_is_blocked(pub)) {
                        peer_resume(pub);
                }
        }
}

void flow_cancel_waits(struct peer *pub) {
        struct flow_wait *w, *tmp;

        list_for_each_safe(w, tmp, &pub->waits, pub_node) {
                flow_wait_free(w);
        }
}

void flow_cancel_bridge_waits(struct bridge *br) {
        struct flow_wait *w, *tmp;

        list_for_each_safe(w, tmp, &br->waits, pub_node) {
                flow_wait_free(w);
        }
}
