# SPDX-License-Identifier: MIT
# The unit is generated at make time so ExecStart carries the fully
# expanded install path.
systemdsystemunit_DATA = systemd/ipc-brokerd.service
EXTRA_DIST += systemd/ipc-brokerd.service.in
CLEANFILES += systemd/ipc-brokerd.service

systemd/ipc-brokerd.service: $(top_srcdir)/systemd/ipc-brokerd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(top_srcdir)/systemd/ipc-brokerd.service.in >$@
