#!/bin/sh
# onus-collector preremove: stop and disable the service when the package is removed, not
# when it is upgraded.
#   deb: prerm remove|upgrade|deconfigure|failed-upgrade;  rpm: %preun 0 (erase) | 1 (upgrade)
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
root="${DPKG_ROOT:-}"
unit=onus-collector.service
if [ -n "$root" ]; then
	systemctl --root="$root" disable "$unit"
	exit 0
fi
if [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
fi
systemctl disable "$unit" || true
