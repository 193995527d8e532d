# SPDX-License-Identifier: MIT
# Integration tests: a real ipc-brokerd per test, started by tests/util/harness.c.
check_LTLIBRARIES += tests/util/libharness.la
tests_util_libharness_la_SOURCES = tests/util/harness.c tests/util/harness.h \
	tests/util/harness-proc.c tests/util/harness-tls.c tests/util/harness-internal.h \
	tests/util/raw-client.c tests/util/raw-client.h
tests_util_libharness_la_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_util_libharness_la_LIBADD = libclient/libipcclient.la $(JANSSON_LIBS) $(CMOCKA_LIBS)

integ_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests/util
integ_ldadd = tests/util/libharness.la libclient/libipcclient.la $(JANSSON_LIBS) $(CMOCKA_LIBS) -lpthread

integ_tests = \
	tests/integration/test-roundtrip \
	tests/integration/test-fanout \
	tests/integration/test-policy \
	tests/integration/test-payload \
	tests/integration/test-wildcard \
	tests/integration/test-misbehave \
	tests/integration/test-daemon \
	tests/integration/test-control \
	tests/integration/test-reconnect \
	tests/integration/test-ring-handout
check_PROGRAMS += $(integ_tests)
TESTS += $(integ_tests)
tests_integration_test_roundtrip_CFLAGS = $(integ_cflags)
tests_integration_test_roundtrip_LDADD = $(integ_ldadd)
tests_integration_test_fanout_CFLAGS = $(integ_cflags)
tests_integration_test_fanout_LDADD = $(integ_ldadd)
tests_integration_test_policy_CFLAGS = $(integ_cflags)
tests_integration_test_policy_LDADD = $(integ_ldadd)
tests_integration_test_payload_CFLAGS = $(integ_cflags)
tests_integration_test_payload_LDADD = $(integ_ldadd)
tests_integration_test_wildcard_CFLAGS = $(integ_cflags)
tests_integration_test_wildcard_LDADD = $(integ_ldadd)
tests_integration_test_misbehave_CFLAGS = $(integ_cflags)
tests_integration_test_misbehave_LDADD = $(integ_ldadd)
tests_integration_test_daemon_CFLAGS = $(integ_cflags)
tests_integration_test_daemon_LDADD = $(integ_ldadd)
tests_integration_test_control_CFLAGS = $(integ_cflags)
tests_integration_test_control_LDADD = $(integ_ldadd)
tests_integration_test_reconnect_CFLAGS = $(integ_cflags)
tests_integration_test_reconnect_LDADD = $(integ_ldadd)
# Raw clients use the ring directly (ring_attach() and friends are not exported).
ring_raw = tests/integration/ring-raw.c tests/integration/ring-raw.h
tests_integration_test_ring_handout_SOURCES = tests/integration/test-ring-handout.c $(ring_raw)
tests_integration_test_ring_handout_CFLAGS = $(integ_cflags)
tests_integration_test_ring_handout_LDADD = libclient/libipccommon.la $(integ_ldadd)

# Quotas: per user, per connection and broker-wide limits, each hit and given back.
# Raw clients read OPEN_RING statuses the library hides (proto.h is not exported).
check_PROGRAMS += tests/integration/test-quota
TESTS += tests/integration/test-quota
tests_integration_test_quota_CFLAGS = $(integ_cflags)
tests_integration_test_quota_LDADD = libclient/libipccommon.la $(integ_ldadd)

# The shared-memory data plane end to end: transport selection and stats, the
# bridge between ring and socket, dead ring peers, the zero-copy and wake-up API.
# ring-peer is the child these tests kill (run from $IPC_TOP_BUILDDIR, not a test).
ring_tests = \
	tests/integration/test-ring-transport \
	tests/integration/test-ring-bridge \
	tests/integration/test-ring-crash \
	tests/integration/test-ring-api \
	tests/integration/test-ring-isolation
check_PROGRAMS += $(ring_tests) tests/integration/ring-peer
TESTS += $(ring_tests)
ring_util = tests/integration/ring-util.c tests/integration/ring-util.h
tests_integration_test_ring_transport_SOURCES = tests/integration/test-ring-transport.c \
	$(ring_util)
tests_integration_test_ring_transport_CFLAGS = $(integ_cflags)
tests_integration_test_ring_transport_LDADD = $(integ_ldadd)
tests_integration_test_ring_bridge_SOURCES = tests/integration/test-ring-bridge.c $(ring_util)
tests_integration_test_ring_bridge_CFLAGS = $(integ_cflags)
tests_integration_test_ring_bridge_LDADD = $(integ_ldadd)
tests_integration_test_ring_crash_SOURCES = tests/integration/test-ring-crash.c $(ring_util)
tests_integration_test_ring_crash_CFLAGS = $(integ_cflags)
tests_integration_test_ring_crash_LDADD = $(integ_ldadd)
tests_integration_test_ring_api_SOURCES = tests/integration/test-ring-api.c $(ring_util)
tests_integration_test_ring_api_CFLAGS = $(integ_cflags)
tests_integration_test_ring_api_LDADD = $(integ_ldadd)
# Hostile raw clients beside library ones (ring_* are not exported: the convenience library).
tests_integration_test_ring_isolation_SOURCES = tests/integration/test-ring-isolation.c \
	$(ring_util) $(ring_raw)
tests_integration_test_ring_isolation_CFLAGS = $(integ_cflags)
tests_integration_test_ring_isolation_LDADD = libclient/libipccommon.la $(integ_ldadd)
tests_integration_ring_peer_LDADD = libclient/libipcclient.la

# The transport-independent tests once more per transport (IPC_TEST_TRANSPORT,
# see tests/util/harness.h): every client over plain TCP, over TLS, then with the
# library free to take the shared-memory ring. rerun.sh does the work for the
# wrappers.
TESTS += tests/integration/test-tcp.sh tests/integration/test-tls.sh \
	tests/integration/test-shm.sh
EXTRA_DIST += tests/integration/test-tcp.sh tests/integration/test-tls.sh \
	tests/integration/test-shm.sh tests/integration/rerun.sh

# TLS on TCP: throwaway certificates (openssl command), certificate and token
# authentication, refusals, and the daemon refusing plain TCP off loopback. Raw
# HELLOs with a token use the protocol encoder (libipccommon).
check_PROGRAMS += tests/integration/test-tls-auth
TESTS += tests/integration/test-tls-auth
tests_integration_test_tls_auth_CFLAGS = $(integ_cflags)
tests_integration_test_tls_auth_LDADD = libclient/libipccommon.la $(integ_ldadd)

# Access rules, with clients of other users (forked children that drop root).
check_PROGRAMS += tests/integration/test-acl
TESTS += tests/integration/test-acl
tests_integration_test_acl_CFLAGS = $(integ_cflags)
tests_integration_test_acl_LDADD = libclient/libipccommon.la $(integ_ldadd)

# Hostile clients beside a well-behaved one that keeps round-tripping in a
# thread of its own (good-client.c); the phases are spread over hostile-*.c.
check_PROGRAMS += tests/integration/test-hostile
TESTS += tests/integration/test-hostile
tests_integration_test_hostile_SOURCES = tests/integration/test-hostile.c \
	tests/integration/hostile.h tests/integration/hostile-util.c \
	tests/integration/hostile-slow.c tests/integration/hostile-fds.c \
	tests/integration/hostile-flood.c \
	tests/integration/good-client.c tests/integration/good-client.h
tests_integration_test_hostile_CFLAGS = $(integ_cflags)
tests_integration_test_hostile_LDADD = $(integ_ldadd)

# The daemon under valgrind, zero errors and zero leaks, through a few of the
# suites above (IPC_BROKERD_WRAPPER); skips in an ASan build or without valgrind.
TESTS += tests/integration/test-valgrind.sh
EXTRA_DIST += tests/integration/test-valgrind.sh

# ipcctl end to end (cli/ipcctl, run through $IPCCTL, against the real daemon).
check_PROGRAMS += tests/integration/test-ipcctl
TESTS += tests/integration/test-ipcctl
tests_integration_test_ipcctl_CFLAGS = $(integ_cflags)
tests_integration_test_ipcctl_LDADD = $(integ_ldadd)

# The service manager's side: sd_notify (READY=1, STATUS=, WATCHDOG=1), SIGHUP
# reloads and socket activation, each seen through a NOTIFY_SOCKET of the test's own.
tests_util_libharness_la_SOURCES += \
	tests/util/notify-listener.c tests/util/notify-listener.h \
	tests/util/daemon-proc.c tests/util/daemon-proc.h \
	tests/util/sd-broker.c tests/util/sd-broker.h
sd_tests = \
	tests/integration/test-notify \
	tests/integration/test-reload \
	tests/integration/test-activation \
	tests/integration/test-restart \
	tests/integration/test-ring-resume \
	tests/integration/test-resume
check_PROGRAMS += $(sd_tests)
TESTS += $(sd_tests)
tests_integration_test_notify_CFLAGS = $(integ_cflags)
tests_integration_test_notify_LDADD = $(integ_ldadd)
tests_integration_test_reload_CFLAGS = $(integ_cflags)
tests_integration_test_reload_LDADD = $(integ_ldadd)
tests_integration_test_activation_CFLAGS = $(integ_cflags)
tests_integration_test_activation_LDADD = $(integ_ldadd)
tests_integration_test_restart_CFLAGS = $(integ_cflags)
tests_integration_test_restart_LDADD = $(integ_ldadd)
tests_integration_test_resume_CFLAGS = $(integ_cflags)
tests_integration_test_resume_LDADD = $(integ_ldadd)
tests_integration_test_ring_resume_SOURCES = tests/integration/test-ring-resume.c $(ring_raw)
tests_integration_test_ring_resume_CFLAGS = $(integ_cflags)
tests_integration_test_ring_resume_LDADD = libclient/libipccommon.la $(integ_ldadd)

# Load: 1,000 socket clients on 100 channels, every message checked, the
# broker's RSS growth per client bounded (raises RLIMIT_NOFILE and the
# broker's connection limits; skips when the hard fd limit is too low).
check_PROGRAMS += tests/integration/test-load
TESTS += tests/integration/test-load
tests_integration_test_load_CFLAGS = $(integ_cflags)
tests_integration_test_load_LDADD = $(integ_ldadd)
