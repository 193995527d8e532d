# SPDX-License-Identifier: MIT
# Built by every build so they stay compilable; not installed.
noinst_PROGRAMS += examples/poll-loop examples/libevent-loop
examples_poll_loop_SOURCES = examples/poll-loop.c
examples_poll_loop_LDADD = libclient/libipcclient.la
examples_libevent_loop_SOURCES = examples/libevent-loop.c
examples_libevent_loop_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_libevent_loop_LDADD = libclient/libipcclient.la $(LIBEVENT_LIBS)
