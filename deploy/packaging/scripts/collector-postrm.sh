#!/bin/sh
# onus-collector postremove: reload systemd; on purge (deb) remove the embedded etcd's data in
# /var/lib/onus-collector. The user onus and the secrets in /etc/onus are left in place.
#   deb: postrm remove|purge|upgrade|...;  rpm: %postun 0 (erase) | 1 (upgrade: restart)
set -e

root="${DPKG_ROOT:-}"
unit=onus-collector.service
case "$1" in
purge) rm -rf "$root/var/lib/onus-collector" ;;
remove | 0 | 1) ;;
*) exit 0 ;;
esac

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	# rpm runs the old package's %postun after an upgrade: restart onto the new binary.
	if [ "$1" = 1 ]; then
		systemctl try-restart "$unit" || true
	fi
fi
