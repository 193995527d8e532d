# SPDX-License-Identifier: MIT
# Units are generated at make time so ExecStart carries the fully expanded
# install path. The sysusers.d snippet creates the ipc-broker user and
# group the service runs as and whose members may connect; the tmpfiles.d
# snippet makes /run/ipc-broker before the socket unit binds in it.
systemd_units = systemd/ipc-brokerd.service systemd/ipc-brokerd.socket
systemdsystemunit_DATA = $(systemd_units)
sysusers_DATA = systemd/sysusers/ipc-broker.conf
tmpfiles_DATA = systemd/tmpfiles/ipc-broker.conf
EXTRA_DIST += systemd/ipc-brokerd.service.in systemd/ipc-brokerd.socket.in \
	systemd/sysusers/ipc-broker.conf systemd/tmpfiles/ipc-broker.conf
CLEANFILES += $(systemd_units)

systemd_subst = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'

systemd/ipc-brokerd.service: $(top_srcdir)/systemd/ipc-brokerd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(systemd_subst) $(top_srcdir)/systemd/$(@F).in >$@

systemd/ipc-brokerd.socket: $(top_srcdir)/systemd/ipc-brokerd.socket.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(systemd_subst) $(top_srcdir)/systemd/$(@F).in >$@
