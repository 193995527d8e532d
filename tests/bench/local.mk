# SPDX-License-Identifier: MIT
# Benchmarks: built only by `make bench`, never by `make` or `make check`
# (EXTRA_PROGRAMS), and run by `make bench-run`. Figures mean something only
# as ratios to the same-run baselines the programs print beside them.
EXTRA_PROGRAMS = tests/bench/bench-socket tests/bench/bench-client tests/bench/bench-ring
bench_work_files = tests/bench/bench-util.c tests/bench/bench-util.h \
	tests/bench/bench-work.c tests/bench/bench-work.h
# libipcclient through a real broker: the socket path, forced (bench-socket)...
tests_bench_bench_socket_SOURCES = tests/bench/bench-socket.c $(bench_work_files)
tests_bench_bench_socket_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_bench_socket_LDADD = libclient/libipcclient.la $(JANSSON_LIBS)
# ...and the shared-memory ring, the library's default for a local broker (bench-client).
tests_bench_bench_client_SOURCES = tests/bench/bench-client.c $(bench_work_files)
tests_bench_bench_client_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_bench_client_LDADD = libclient/libipcclient.la $(JANSSON_LIBS)
# The ring module directly, no broker: ring_* and plat_* come from the
# convenience library (hidden in libipcclient.so).
tests_bench_bench_ring_SOURCES = tests/bench/bench-ring.c \
	tests/bench/bench-ring-work.c tests/bench/bench-ring-work.h $(bench_work_files)
tests_bench_bench_ring_LDADD = libclient/libipcclient.la libclient/libipccommon.la
CLEANFILES += $(EXTRA_PROGRAMS)

BENCH_FLAGS =
BENCH_BINARIES = tests/bench/bench-socket$(EXEEXT) tests/bench/bench-client$(EXEEXT) \
	tests/bench/bench-ring$(EXEEXT)
.PHONY: bench bench-run
bench: $(BENCH_BINARIES)
bench-run: $(BENCH_BINARIES) brokerd/ipc-brokerd$(EXEEXT)
	tests/bench/bench-socket $(BENCH_FLAGS) '$(abs_top_builddir)/brokerd/ipc-brokerd'
	tests/bench/bench-client $(BENCH_FLAGS) '$(abs_top_builddir)/brokerd/ipc-brokerd'
	tests/bench/bench-ring $(BENCH_FLAGS)
