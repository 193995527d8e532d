# SPDX-License-Identifier: MIT
# Code shared by the daemon and the library (protocol, names, addresses,
# platform layer) is built once, as a convenience library both link.
noinst_LTLIBRARIES += libclient/libipccommon.la
libclient_libipccommon_la_SOURCES = \
	libclient/util.h \
	libclient/proto.c libclient/proto.h \
	libclient/channel-name.c libclient/channel-name.h \
	libclient/address.c libclient/address.h \
	libclient/platform.h libclient/platform-linux.c \
	libclient/ring.c libclient/ring-reader.c libclient/ring.h libclient/ring-internal.h
# Hidden by default: only IPC_EXPORT symbols leave libipcclient.so.
libclient_libipccommon_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden

lib_LTLIBRARIES += libclient/libipcclient.la
include_HEADERS += libclient/ipcclient.h
libclient_libipcclient_la_SOURCES = \
	libclient/client-internal.h \
	libclient/client.c \
	libclient/client-io.c \
	libclient/client-tls.c \
	libclient/client-frame.c \
	libclient/client-receive.c \
	libclient/client-reconnect.c \
	libclient/request.c \
	libclient/options.c \
	libclient/ring-attach.c \
	libclient/pub.c \
	libclient/pub-ring.c \
	libclient/sub.c \
	libclient/sub-ring.c \
	libclient/strerror.c
libclient_libipcclient_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(OPENSSL_CFLAGS)
libclient_libipcclient_la_LIBADD = libclient/libipccommon.la $(OPENSSL_LIBS)
libclient_libipcclient_la_LDFLAGS = $(AM_LDFLAGS) -no-undefined \
	-version-info $(LIBIPCCLIENT_VERSION_INFO) \
	-Wl,--version-script=$(top_srcdir)/libclient/libipcclient.sym
EXTRA_libclient_libipcclient_la_DEPENDENCIES = libclient/libipcclient.sym
EXTRA_DIST += libclient/libipcclient.sym libclient/libipcclient.pc.in
pkgconfig_DATA += libclient/libipcclient.pc
