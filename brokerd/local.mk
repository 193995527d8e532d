# SPDX-License-Identifier: MIT
# Everything but main() goes into a convenience library so unit tests can
# link the daemon's modules.
noinst_LTLIBRARIES += brokerd/libbrokerd.la
brokerd_libbrokerd_la_SOURCES = \
	brokerd/broker.c brokerd/broker.h \
	brokerd/config.c brokerd/config-access.c brokerd/config.h brokerd/config-internal.h \
	brokerd/acl.c brokerd/acl.h \
	brokerd/identity.c brokerd/identity.h \
	brokerd/quota.c brokerd/quota.h \
	brokerd/log.c brokerd/log.h \
	brokerd/listener.c brokerd/listener.h \
	brokerd/linger.c brokerd/linger.h \
	brokerd/list.h \
	brokerd/peer.c brokerd/peer-frames.c brokerd/peer-ring.c brokerd/peer-access.c \
	brokerd/peer-tls.c brokerd/flow.c brokerd/peer.h \
	brokerd/tls.c brokerd/tls.h \
	brokerd/channel.c brokerd/subscription.c brokerd/channel.h \
	brokerd/ring-owner.c brokerd/ring-owner.h brokerd/ring-seek.c brokerd/ring-seek.h \
	brokerd/ring-store.c brokerd/ring-store.h \
	brokerd/bridge.c brokerd/bridge.h \
	brokerd/control.c brokerd/control.h \
	brokerd/notify.c brokerd/notify.h \
	brokerd/status.c brokerd/status.h \
	brokerd/watchdog.c brokerd/watchdog.h \
	brokerd/reload.c brokerd/reload.h \
	brokerd/activation.c brokerd/activation.h \
	brokerd/sd-compat.h
# --without-systemd: the few sd-daemon calls, built in (sd-compat.h).
if !WITH_LIBSYSTEMD
brokerd_libbrokerd_la_SOURCES += brokerd/sd-compat.c
endif
brokerd_libbrokerd_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBSYSTEMD_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) $(OPENSSL_CFLAGS)
brokerd_libbrokerd_la_LIBADD = libclient/libipccommon.la \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS) $(LIBSYSTEMD_LIBS) $(LIBEVENT_OPENSSL_LIBS) \
	$(OPENSSL_LIBS)

sbin_PROGRAMS += brokerd/ipc-brokerd
brokerd_ipc_brokerd_SOURCES = brokerd/main.c
brokerd_ipc_brokerd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(LIBSYSTEMD_CFLAGS)
brokerd_ipc_brokerd_LDADD = brokerd/libbrokerd.la
