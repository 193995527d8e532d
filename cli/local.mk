# SPDX-License-Identifier: MIT
# ipcctl uses only the public libipcclient API (plus jansson for JSON output).
bin_PROGRAMS += cli/ipcctl
cli_ipcctl_SOURCES = \
	cli/ipcctl.c cli/cli.h \
	cli/cli-options.c \
	cli/cli-tls.c \
	cli/cli-util.c \
	cli/cli-table.c \
	cli/cmd-publish.c \
	cli/cmd-subscribe.c \
	cli/cmd-channels.c \
	cli/cmd-stats.c \
	cli/cmd-ping.c
cli_ipcctl_CPPFLAGS = -I$(top_srcdir)/libclient -I$(top_builddir)
cli_ipcctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
cli_ipcctl_LDADD = libclient/libipcclient.la $(JANSSON_LIBS)
