# SPDX-License-Identifier: MIT
ipcbrokerconfdir = $(sysconfdir)/ipc-broker
dist_ipcbrokerconf_DATA = conf/ipc-brokerd.json
