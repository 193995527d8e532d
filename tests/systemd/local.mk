# SPDX-License-Identifier: MIT
# The units as installed: `make check` installs the build into a DESTDIR
# under the build tree once (tests/systemd/inst) and test-units.sh runs
# systemd-analyze verify on the units found there.
#
# `make check-systemd` runs them under a real systemd (test-systemd.sh, a
# container booted with systemd-nspawn): it installs into a temporary
# DESTDIR, prints TAP and exits 77 where it cannot run. It is not part of
# `make check` (root, a container root filesystem, seconds instead of
# milliseconds); scripts/check runs it once from the release build.
systemd_inst = tests/systemd/inst
check_DATA = $(systemd_inst).stamp
TESTS += tests/systemd/test-units.sh
EXTRA_DIST += tests/systemd/test-units.sh tests/systemd/test-systemd.sh
CLEANFILES += $(systemd_inst).stamp

$(systemd_inst).stamp: $(sbin_PROGRAMS) $(bin_PROGRAMS) $(lib_LTLIBRARIES) $(systemd_units) \
		$(dist_man_MANS)
	$(AM_V_GEN)rm -rf $(systemd_inst) && \
	$(MAKE) $(AM_MAKEFLAGS) install DESTDIR='$(abs_builddir)/$(systemd_inst)' >/dev/null && \
	touch $@

clean-local: clean-systemd-inst
clean-systemd-inst:
	-rm -rf $(systemd_inst)

check-systemd: all
	@inst=$$(mktemp -d "$${TMPDIR:-/tmp}/ipc-systemd-inst.XXXXXX") && chmod 755 "$$inst" || exit 1; \
	if $(MAKE) $(AM_MAKEFLAGS) install DESTDIR="$$inst" >"$$inst.log" 2>&1; then \
		$(SHELL) $(srcdir)/tests/systemd/test-systemd.sh "$$inst"; rc=$$?; \
	else \
		cat "$$inst.log"; echo "1..1"; echo "not ok 1 - make install DESTDIR=$$inst"; rc=1; \
	fi; \
	rm -rf "$$inst" "$$inst.log"; exit $$rc

.PHONY: check-systemd clean-systemd-inst
