# SPDX-License-Identifier: MIT
unit_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/brokerd
unit_ldadd = libclient/libipccommon.la $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-proto tests/unit/test-channel-name tests/unit/test-address \
	tests/unit/test-config tests/unit/test-ring tests/unit/test-acl tests/unit/test-quota
TESTS += tests/unit/test-proto tests/unit/test-channel-name tests/unit/test-address \
	tests/unit/test-config tests/unit/test-ring tests/unit/test-acl tests/unit/test-quota

tests_unit_test_proto_CFLAGS = $(unit_cflags)
tests_unit_test_proto_LDADD = $(unit_ldadd)
tests_unit_test_channel_name_CFLAGS = $(unit_cflags)
tests_unit_test_channel_name_LDADD = $(unit_ldadd)
tests_unit_test_address_CFLAGS = $(unit_cflags)
tests_unit_test_address_LDADD = $(unit_ldadd)
# The loader alone, not all of libbrokerd.la: it needs nothing else of the daemon.
tests_unit_test_config_SOURCES = tests/unit/test-config.c brokerd/config.c brokerd/config-access.c \
	brokerd/config.h brokerd/config-internal.h
tests_unit_test_config_CFLAGS = $(unit_cflags) $(JANSSON_CFLAGS)
tests_unit_test_config_LDADD = $(unit_ldadd) $(JANSSON_LIBS)
tests_unit_test_ring_CFLAGS = $(unit_cflags)
tests_unit_test_ring_LDADD = $(unit_ldadd)
# Decisions on rule sets loaded as the daemon loads them (config.c, identity.c and log.c too).
tests_unit_test_acl_CFLAGS = $(unit_cflags)
tests_unit_test_acl_LDADD = brokerd/libbrokerd.la $(unit_ldadd)

# Per-user accounting: quota.c and the identity and log helpers it uses, no event loop.
tests_unit_test_quota_SOURCES = tests/unit/test-quota.c brokerd/quota.c brokerd/quota.h \
	brokerd/identity.c brokerd/identity.h brokerd/log.c brokerd/log.h
tests_unit_test_quota_CFLAGS = $(unit_cflags)
tests_unit_test_quota_LDADD = $(unit_ldadd)
