#!/bin/sh
# onus-agent postremove: reload systemd; on purge (deb) remove /var/lib/onus-agent: the host's
# credential, last accepted state and event journal (the host enrolls anew if reinstalled).
# The enroll secret in /etc/onus is left in place.
#   deb: postrm remove|purge|upgrade|...;  rpm: %postun 0 (erase) | 1 (upgrade: restart)
set -e

root="${DPKG_ROOT:-}"
unit=onus-agent.service
case "$1" in
purge) rm -rf "$root/var/lib/onus-agent" ;;
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
