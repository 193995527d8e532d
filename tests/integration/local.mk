# SPDX-License-Identifier: MIT
# Integration tests: a real ipc-brokerd per test, started by tests/util/harness.c.
check_LTLIBRARIES += tests/util/libharness.la
tests_util_libharness_la_SOURCES = tests/util/harness.c tests/util/harness.h
tests_util_libharness_la_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)

integ_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/tests/util
integ_ldadd = tests/util/libharness.la libclient/libipcclient.la $(CMOCKA_LIBS)
