/* SPDX-License-Identifier: MIT */
/*
 * Per-user accounting, checked against quota.h: one user per uid, remote
 * name or "anonymous" whatever the process; connections, ring slots and
 * queued bytes counted and given back exactly; congestion that starts past
 * the limit and ends at half of it, once each; users freed with their last
 * connection; a table that grows past its first buckets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "quota.h"

static struct identity local(uid_t uid, pid_t pid) {
        return (struct identity){.kind = IDENTITY_LOCAL, .uid = uid, .pid = pid, .gid = 100};
}

static struct identity remote(const char *name) {
        struct identity id;

        identity_set_remote(&id, name, strlen(name));
        return id;
}

static int setup(void **state) {
        static struct quota q;

        if (quota_init(&q) < 0)
                return -1;
        *state = &q;
        return 0;
}

static int teardown(void **state) {
        struct quota *q = *state;

        /* Every test gives everything back: a user left over is a leak. */
        assert_int_equal(q->n_users, 0);
        assert_true(list_is_empty(&q->users));
        assert_true(list_is_empty(&q->drained));
        quota_deinit(q);
        return 0;
}

static struct quota_user *connect_ok(struct quota *q, const struct identity *id) {
        struct quota_user *u = NULL;

        assert_int_equal(quota_connect(q, id, &u), 0);
        assert_non_null(u);
        return u;
}

/* One user per uid, whatever the process; the last connection frees it. */
static void test_users(void **state) {
        struct quota *q = *state;
        struct identity a1 = local(1000, 10), a2 = local(1000, 11), b = local(1001, 10);
        struct identity anon1 = {.kind = IDENTITY_ANONYMOUS}, anon2 = {.kind = IDENTITY_ANONYMOUS};
        struct identity r1 = remote("sensor-1"), r2 = remote("sensor-2"), root = local(0, 1);
        struct quota_user *ua1, *ua2, *ub, *uanon1, *uanon2, *ur1, *ur2, *uroot;

        assert_null(quota_find(q, &a1));
        assert_int_equal(quota_connections(q, &a1), 0);
        ua1 = connect_ok(q, &a1);
        ua2 = connect_ok(q, &a2);
        ub = connect_ok(q, &b);
        assert_ptr_equal(ua1, ua2);
        assert_ptr_not_equal(ua1, ub);
        assert_int_equal(quota_connections(q, &a2), 2);
        assert_int_equal(quota_connections(q, &b), 1);

        /* Remote names are users of their own, anonymous clients share one. */
        uanon1 = connect_ok(q, &anon1);
        uanon2 = connect_ok(q, &anon2);
        ur1 = connect_ok(q, &r1);
        ur2 = connect_ok(q, &r2);
        uroot = connect_ok(q, &root);
        assert_ptr_equal(uanon1, uanon2);
        assert_ptr_not_equal(ur1, ur2);
        assert_ptr_not_equal(ur1, uanon1);
        /* uid 0 is a user like any other, not "anonymous" (zeroed fields). */
        assert_ptr_not_equal(uroot, uanon1);
        assert_int_equal(q->n_users, 6);

        assert_null(quota_disconnect(ua1));
        assert_ptr_equal(quota_find(q, &a1), ua2);
        assert_int_equal(quota_connections(q, &a1), 1);
        quota_disconnect(ua2);
        assert_null(quota_find(q, &a1));
        assert_int_equal(quota_connections(q, &a1), 0);
        assert_ptr_equal(quota_find(q, &b), ub);
        quota_disconnect(ub);
        quota_disconnect(uanon1);
        quota_disconnect(uanon2);
        quota_disconnect(ur1);
        quota_disconnect(ur2);
        quota_disconnect(uroot);
        assert_null(quota_disconnect(NULL));
}

static void test_describe(void **state) {
        struct quota *q = *state;
        struct identity a = local(1000, 42), anon = {.kind = IDENTITY_ANONYMOUS};
        struct identity r = remote("odd\n\"name\"");
        struct quota_user *ua = connect_ok(q, &a), *uanon = connect_ok(q, &anon);
        struct quota_user *ur = connect_ok(q, &r);
        char buf[QUOTA_USER_TEXT_MAX];

        /* The user, not the process: no pid. */
        assert_string_equal(quota_user_describe(ua, buf, sizeof(buf)), "uid 1000");
        assert_string_equal(quota_user_describe(uanon, buf, sizeof(buf)), "anonymous");
        assert_string_equal(quota_user_describe(ur, buf, sizeof(buf)),
                            "remote \"odd\\n\\\"name\\\"\"");
        quota_disconnect(ua);
        quota_disconnect(uanon);
        quota_disconnect(ur);
}

/* Ring slots: full at the limit, counted back exactly. */
static void test_rings(void **state) {
        struct quota *q = *state;
        struct identity a = local(1000, 1), b = local(1001, 1);
        struct quota_user *u = connect_ok(q, &a), *other = connect_ok(q, &b);

        assert_false(quota_rings_full(u, 2));
        quota_ring_charge(u);
        assert_false(quota_rings_full(u, 2));
        quota_ring_charge(u);
        assert_true(quota_rings_full(u, 2));
        assert_false(quota_rings_full(other, 2));
        quota_ring_release(u);
        assert_false(quota_rings_full(u, 2));
        quota_ring_charge(u);
        /* A lowered limit refuses new slots and keeps the ones held. */
        assert_true(quota_rings_full(u, 1));
        assert_int_equal(u->rings, 2);
        /* 0: no rings at all. */
        assert_true(quota_rings_full(other, 0));
        quota_ring_release(u);
        quota_ring_release(u);
        assert_int_equal(u->rings, 0);
        quota_disconnect(u);
        quota_disconnect(other);
}

/* Congested past the limit, drained at half of it: each transition reported once. */
static void test_queue(void **state) {
        struct quota *q = *state;
        struct identity a = local(1000, 1), b = local(1001, 1);
        struct quota_user *u = connect_ok(q, &a), *other = connect_ok(q, &b);

        assert_int_equal(quota_queue(u, 600, 0, 1000), QUOTA_UNCHANGED);
        assert_int_equal(quota_queue(u, 400, 0, 1000), QUOTA_UNCHANGED); /* at, not past */
        assert_false(quota_user_congested(u));
        assert_int_equal(quota_queue(u, 1, 0, 1000), QUOTA_CONGESTED);
        assert_true(quota_user_congested(u));
        assert_int_equal(quota_queue(u, 100, 0, 1000), QUOTA_UNCHANGED);
        /* Below the limit but above half: still congested. */
        assert_int_equal(quota_queue(u, 0, 400, 1000), QUOTA_UNCHANGED);
        assert_true(quota_user_congested(u));
        assert_int_equal(u->queued_bytes, 701);
        assert_null(quota_next_drained(q));
        assert_int_equal(quota_queue(u, 0, 201, 1000), QUOTA_DRAINED);
        assert_false(quota_user_congested(u));
        assert_int_equal(u->queued_bytes, 500);
        assert_int_equal(u->written, 601);
        /* Other users are untouched. */
        assert_false(quota_user_congested(other));
        assert_int_equal(other->queued_bytes, 0);
        assert_ptr_equal(quota_next_drained(q), u);
        assert_null(quota_next_drained(q));
        assert_int_equal(quota_queue(u, 0, 500, 1000), QUOTA_UNCHANGED);
        assert_int_equal(u->queued_bytes, 0);
        assert_int_equal(u->written, 1101);
        assert_false(quota_user_congested(NULL));
        quota_disconnect(u);
        quota_disconnect(other);
}

/* A user freed while it waits to be woken leaves the drained list. */
static void test_drained_then_gone(void **state) {
        struct quota *q = *state;
        struct identity a = local(1000, 1);
        struct quota_user *u = connect_ok(q, &a);

        assert_int_equal(quota_queue(u, 2000, 0, 1000), QUOTA_CONGESTED);
        assert_int_equal(quota_queue(u, 0, 2000, 1000), QUOTA_DRAINED);
        /* Congested again before it was woken: no stale wake-up. */
        assert_int_equal(quota_queue(u, 2000, 0, 1000), QUOTA_CONGESTED);
        assert_null(quota_next_drained(q));
        assert_int_equal(quota_queue(u, 0, 2000, 1000), QUOTA_DRAINED);
        quota_disconnect(u);
        assert_null(quota_next_drained(q));
}

/* More users than the first buckets: all found again, all freed. */
static void test_many_users(void **state) {
        struct quota *q = *state;
        struct quota_user *users[200];
        char name[32];

        for (uid_t i = 0; i < 100; i++) {
                struct identity id = local(2000 + i, 1);

                users[i] = connect_ok(q, &id);
        }
        for (int i = 0; i < 100; i++) {
                struct identity id;

                (void)snprintf(name, sizeof(name), "client-%d", i);
                id = remote(name);
                users[100 + i] = connect_ok(q, &id);
        }
        assert_int_equal(q->n_users, 200);
        assert_true(q->n_buckets >= 200);
        for (uid_t i = 0; i < 100; i++) {
                struct identity id = local(2000 + i, 7);

                assert_ptr_equal(quota_find(q, &id), users[i]);
        }
        for (int i = 0; i < 100; i++) {
                struct identity id;

                (void)snprintf(name, sizeof(name), "client-%d", i);
                id = remote(name);
                assert_ptr_equal(quota_find(q, &id), users[100 + i]);
        }
        for (int i = 0; i < 200; i++)
                quota_disconnect(users[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_users, setup, teardown),
                cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rings, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drained_then_gone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_users, setup, teardown),
        };

        return cmocka_run_group_tests_name("quota", tests, NULL, NULL);
}
