# SPDX-License-Identifier: MIT
# Fuzz targets (README, "Fuzzing"). Each fuzz-TARGET.c builds twice:
#  - tests/fuzz/replay-TARGET, in every build: replay.c feeds it each file of
#    tests/fuzz/corpus/TARGET/, one TAP test per file, in `make check`;
#  - tests/fuzz/fuzz-TARGET, with --enable-fuzzing (clang): the libFuzzer
#    binary, built by `make` and `make fuzz`, run by scripts/fuzz.
# The code under test is the ordinary libraries; in a fuzzing build the
# whole tree is compiled with coverage instrumentation (configure.ac).
fuzz_cflags = $(AM_CFLAGS) -I$(top_srcdir)/brokerd -I$(top_srcdir)/tests/fuzz
fuzz_handshake_cflags = $(fuzz_cflags) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
replay_sources = tests/fuzz/replay.c tests/fuzz/fuzz.h
corpus_dir = $(abs_top_srcdir)/tests/fuzz/corpus

fuzz_frame_sources = tests/fuzz/fuzz-frame.c tests/fuzz/fuzz.h
fuzz_frame_ldadd = libclient/libipccommon.la
fuzz_handshake_sources = tests/fuzz/fuzz-handshake.c tests/fuzz/fuzz.h
fuzz_handshake_ldadd = brokerd/libbrokerd.la $(LIBEVENT_LIBS)
# The loader alone, as tests/unit/test-config does.
fuzz_config_sources = tests/fuzz/fuzz-config.c tests/fuzz/fuzz.h brokerd/config.c brokerd/config.h \
	brokerd/config-access.c brokerd/config-internal.h
fuzz_config_ldadd = libclient/libipccommon.la $(JANSSON_LIBS)
fuzz_ring_sources = tests/fuzz/fuzz-ring.c tests/fuzz/fuzz-ring.h tests/fuzz/fuzz.h
fuzz_ring_ldadd = libclient/libipccommon.la

replay_tests = tests/fuzz/replay-frame tests/fuzz/replay-handshake tests/fuzz/replay-config \
	tests/fuzz/replay-ring
check_PROGRAMS += $(replay_tests)
TESTS += $(replay_tests)

tests_fuzz_replay_frame_SOURCES = $(replay_sources) $(fuzz_frame_sources)
tests_fuzz_replay_frame_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=\"frame\" \
	-DFUZZ_CORPUS=\"$(corpus_dir)/frame\"
tests_fuzz_replay_frame_CFLAGS = $(fuzz_cflags)
tests_fuzz_replay_frame_LDADD = $(fuzz_frame_ldadd)

tests_fuzz_replay_handshake_SOURCES = $(replay_sources) $(fuzz_handshake_sources)
tests_fuzz_replay_handshake_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=\"handshake\" \
	-DFUZZ_CORPUS=\"$(corpus_dir)/handshake\"
tests_fuzz_replay_handshake_CFLAGS = $(fuzz_handshake_cflags)
tests_fuzz_replay_handshake_LDADD = $(fuzz_handshake_ldadd)

tests_fuzz_replay_config_SOURCES = $(replay_sources) $(fuzz_config_sources)
tests_fuzz_replay_config_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=\"config\" \
	-DFUZZ_CORPUS=\"$(corpus_dir)/config\"
tests_fuzz_replay_config_CFLAGS = $(fuzz_cflags) $(JANSSON_CFLAGS)
tests_fuzz_replay_config_LDADD = $(fuzz_config_ldadd)

tests_fuzz_replay_ring_SOURCES = $(replay_sources) $(fuzz_ring_sources)
tests_fuzz_replay_ring_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET=\"ring\" \
	-DFUZZ_CORPUS=\"$(corpus_dir)/ring\"
tests_fuzz_replay_ring_CFLAGS = $(fuzz_cflags)
tests_fuzz_replay_ring_LDADD = $(fuzz_ring_ldadd)

# The seed generator is built with the tests so it keeps compiling; `make
# fuzz-seeds` (re)writes the seeds in the source tree.
check_PROGRAMS += tests/fuzz/gen-seeds
tests_fuzz_gen_seeds_SOURCES = tests/fuzz/gen-seeds.c tests/fuzz/fuzz-ring.h
tests_fuzz_gen_seeds_CFLAGS = $(fuzz_cflags)
tests_fuzz_gen_seeds_LDADD = libclient/libipccommon.la

fuzz-seeds: tests/fuzz/gen-seeds
	tests/fuzz/gen-seeds $(top_srcdir)/tests/fuzz/corpus
	cp $(top_srcdir)/conf/ipc-brokerd.json $(top_srcdir)/tests/fuzz/corpus/config/sample.json

# The libFuzzer binaries: main() comes from -fsanitize=fuzzer (FUZZ_LDFLAGS).
fuzz_programs = tests/fuzz/fuzz-frame tests/fuzz/fuzz-handshake tests/fuzz/fuzz-config \
	tests/fuzz/fuzz-ring
if ENABLE_FUZZING
noinst_PROGRAMS += $(fuzz_programs)
fuzz: $(fuzz_programs)
else
fuzz:
	@echo "make fuzz: the fuzz targets need a fuzzing build:" \
		"configure --enable-fuzzing CC=clang" >&2; exit 1
endif

tests_fuzz_fuzz_frame_SOURCES = $(fuzz_frame_sources)
tests_fuzz_fuzz_frame_CFLAGS = $(fuzz_cflags)
tests_fuzz_fuzz_frame_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_frame_LDADD = $(fuzz_frame_ldadd)
tests_fuzz_fuzz_handshake_SOURCES = $(fuzz_handshake_sources)
tests_fuzz_fuzz_handshake_CFLAGS = $(fuzz_handshake_cflags)
tests_fuzz_fuzz_handshake_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_handshake_LDADD = $(fuzz_handshake_ldadd)
tests_fuzz_fuzz_config_SOURCES = $(fuzz_config_sources)
tests_fuzz_fuzz_config_CFLAGS = $(fuzz_cflags) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_config_LDADD = $(fuzz_config_ldadd)
tests_fuzz_fuzz_ring_SOURCES = $(fuzz_ring_sources)
tests_fuzz_fuzz_ring_CFLAGS = $(fuzz_cflags)
tests_fuzz_fuzz_ring_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_ring_LDADD = $(fuzz_ring_ldadd)

.PHONY: fuzz fuzz-seeds
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/config.dict
