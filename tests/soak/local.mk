# SPDX-License-Identifier: MIT
# Soak test, on demand only (not in make check): `make soak` builds the
# program (cleaned with the benchmarks, tests/bench/local.mk), and
# tests/soak/run-soak.sh runs it (see README.md, "Soak test").
EXTRA_PROGRAMS += tests/soak/soak
tests_soak_soak_SOURCES = tests/soak/soak.c tests/soak/soak.h tests/soak/soak-pub.c \
	tests/soak/soak-sub.c tests/soak/soak-report.c
tests_soak_soak_LDADD = libclient/libipcclient.la -lpthread
EXTRA_DIST += tests/soak/run-soak.sh

.PHONY: soak
soak: tests/soak/soak$(EXEEXT) brokerd/ipc-brokerd$(EXEEXT)
