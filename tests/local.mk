# SPDX-License-Identifier: MIT
# Every test speaks TAP (cmocka with CMOCKA_MESSAGE_OUTPUT=TAP, scripts by
# hand), so the summary counts test cases, not binaries.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
SH_LOG_DRIVER = $(LOG_DRIVER)
TEST_EXTENSIONS = .sh
AM_TESTS_ENVIRONMENT = \
	CMOCKA_MESSAGE_OUTPUT=TAP; export CMOCKA_MESSAGE_OUTPUT; \
	IPC_BROKERD='$(abs_top_builddir)/brokerd/ipc-brokerd'; export IPC_BROKERD; \
	IPCCTL='$(abs_top_builddir)/cli/ipcctl'; export IPCCTL; \
	IPC_TOP_SRCDIR='$(abs_top_srcdir)'; export IPC_TOP_SRCDIR; \
	IPC_TOP_BUILDDIR='$(abs_top_builddir)'; export IPC_TOP_BUILDDIR; \
	MANDOC='$(MANDOC)'; export MANDOC; \
	IPC_CC='$(CC)'; export IPC_CC; IPC_SAN_LDFLAGS='$(SAN_LDFLAGS)'; export IPC_SAN_LDFLAGS; \
	ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1; export ASAN_OPTIONS; \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1; export UBSAN_OPTIONS; \
	unset IPC_BROKER_ADDRESS;

include tests/unit/local.mk
include tests/integration/local.mk
include tests/fuzz/local.mk

TESTS += tests/check-exports.sh tests/check-man.sh tests/check-install.sh
EXTRA_DIST += tests/check-exports.sh tests/check-man.sh tests/check-install.sh
