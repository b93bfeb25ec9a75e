#!/bin/sh
# onus-collector preinstall: create the system user and group "onus" that runs the collector
# and owns its data, before the files that belong to them are unpacked.
#   deb: preinst install|upgrade [OLD-VERSION];  rpm: %pre 1 (install) | 2 (upgrade)
# With DPKG_ROOT set (dpkg --root with --force-script-chrootless, e.g. building an image), the
# account is created in that root's /etc/passwd and /etc/group with useradd --prefix, since
# adduser cannot work on another root.
set -e

case "$1" in
install | upgrade | 1 | 2) ;;
*) exit 0 ;;
esac

root="${DPKG_ROOT:-}"
home=/nonexistent
shell=/usr/sbin/nologin

if [ -n "$root" ]; then
	if ! grep -q '^onus:' "$root/etc/passwd" 2>/dev/null; then
		useradd --prefix "$root" --system --user-group --home-dir "$home" --no-create-home \
			--shell "$shell" --comment "Onus collector" onus
	fi
	exit 0
fi

if getent passwd onus >/dev/null; then
	exit 0
fi
case "$1" in
install | upgrade)
	# Debian and derivatives: adduser (Pre-Depends) picks a system uid and gid.
	adduser --system --group --home "$home" --no-create-home --shell "$shell" onus
	;;
*)
	# rpm: useradd from shadow-utils.
	getent group onus >/dev/null || groupadd --system onus
	useradd --system --gid onus --home-dir "$home" --no-create-home --shell "$shell" \
		--comment "Onus collector" onus
	;;
esac
