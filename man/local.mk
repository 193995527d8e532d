# SPDX-License-Identifier: MIT
dist_man_MANS += \
	man/ipc-broker.7 \
	man/ipc-brokerd.8 \
	man/ipc-brokerd.json.5 \
	man/ipcctl.1 \
	man/libipcclient.3
