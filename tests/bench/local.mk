# SPDX-License-Identifier: MIT
# Benchmarks: built only by `make bench`, never by `make` or `make check`
# (EXTRA_PROGRAMS), and run by `make bench-run`. Figures mean something only
# as ratios to the same-run baselines the program prints beside them.
EXTRA_PROGRAMS = tests/bench/bench-socket tests/bench/bench-ring
tests_bench_bench_socket_SOURCES = tests/bench/bench-socket.c \
	tests/bench/bench-util.c tests/bench/bench-util.h \
	tests/bench/bench-work.c tests/bench/bench-work.h
tests_bench_bench_socket_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_bench_socket_LDADD = libclient/libipcclient.la $(JANSSON_LIBS)
# The ring module directly, no broker: ring_* and plat_* come from the
# convenience library (hidden in libipcclient.so).
tests_bench_bench_ring_SOURCES = tests/bench/bench-ring.c \
	tests/bench/bench-ring-work.c tests/bench/bench-ring-work.h \
	tests/bench/bench-util.c tests/bench/bench-util.h \
	tests/bench/bench-work.c tests/bench/bench-work.h
tests_bench_bench_ring_LDADD = libclient/libipcclient.la libclient/libipccommon.la
CLEANFILES += $(EXTRA_PROGRAMS)

BENCH_FLAGS =
.PHONY: bench bench-run
bench: tests/bench/bench-socket$(EXEEXT) tests/bench/bench-ring$(EXEEXT)
bench-run: tests/bench/bench-socket$(EXEEXT) tests/bench/bench-ring$(EXEEXT) \
		brokerd/ipc-brokerd$(EXEEXT)
	tests/bench/bench-socket $(BENCH_FLAGS) '$(abs_top_builddir)/brokerd/ipc-brokerd'
	tests/bench/bench-ring $(BENCH_FLAGS)
