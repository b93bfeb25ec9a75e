#!/bin/sh
# Makes the fixture root testdata/zypp with rpm and zypper themselves: tiny packages built by
# rpmbuild from specs written here, in a local plain-directory repository, installed offline
# by zypper (--root, no other repository), which writes a real rpmdb.sqlite (in openSUSE's
# /usr/lib/sysimage/rpm), /var/lib/zypp/AutoInstalled and /var/log/zypp/history:
#   zypper install acme-hello: acme-libhello as its dependency
#   zypper install acme-tool, remove it, install it again with --userdata holding a '|', which
#     the history escapes, and a --releasever holding control bytes
#   zypper install acme-upd=1.0, then update acme-upd to 1.1
#   zypper install acme-gone, remove it, after which rpm alone installs it again, with
#     acme-bare, unknown to zypper
# libzypp records the effective user (cuserid), root here as wherever zypper installs.
# The rpm database is vacuumed into 512-byte pages to keep the fixture small.
# Needs: apt-get install -y zypper rpm sqlite3 (run as root).
set -eu
cd "$(dirname "$0")"
here=$PWD
b=/tmp/onus-zypp-fixture
rm -rf "$b" zypp
trap 'rm -rf "$b"' EXIT
mkdir -p "$b/specs" "$b/home"
export HOME="$b/home"
echo '%_dbpath /usr/lib/sysimage/rpm' >"$HOME/.rpmmacros"

spec() { # name epoch version release buildarch extra
	{
		echo "Name: $1"
		[ -n "$2" ] && echo "Epoch: $2"
		echo "Version: $3"
		echo "Release: $4"
		echo "Summary: $1, a test package"
		echo "License: MIT"
		[ -n "$5" ] && echo "BuildArch: $5"
		[ -n "$6" ] && printf '%s\n' "$6"
		printf '\n%%description\n%s, a test package.\n\n%%files\n' "$1"
	} >"$b/specs/$1-$3.spec"
	rpmbuild --quiet -bb --define "_topdir $b/build" --define "_rpmdir $b/repo" \
		--define "_buildhost fixture" "$b/specs/$1-$3.spec"
}
spec acme-hello "" 1.0 1 "" "Requires: acme-libhello"
spec acme-libhello "" 2.1 3 "" ""
spec acme-tool 1 3.0 1 noarch ""
spec acme-upd "" 1.0 1 "" ""
spec acme-upd "" 1.1 1 "" ""
spec acme-gone "" 1.0 1 noarch ""
spec acme-bare "" 7.0 2 noarch ""

R=$b/root
mkdir -p "$R/etc"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' >"$R/etc/passwd"
zypper() {
	/usr/bin/zypper --non-interactive --root "$R" "$@" >/dev/null 2>&1
}
zypper addrepo --no-gpgcheck "dir://$b/repo" local
zypper install acme-hello
zypper install acme-tool
zypper remove acme-tool
zypper --userdata 'ticket|42' --releasever "$(printf '15\033[31m')" install acme-tool
zypper install acme-upd=1.0
zypper update acme-upd
zypper install acme-gone
zypper remove acme-gone
rpm --root "$R" -i --nodeps "$b/repo/noarch/acme-gone-1.0-1.noarch.rpm" \
	"$b/repo/noarch/acme-bare-7.0-2.noarch.rpm" 2>/dev/null

sqlite3 "$R/usr/lib/sysimage/rpm/rpmdb.sqlite" "PRAGMA journal_mode=DELETE; PRAGMA page_size=512; VACUUM;" >/dev/null
# The host's name is not the fixture's.
sed -i "s/|root@$(hostname)|/|root@fixture|/" "$R/var/log/zypp/history"
mkdir -p "$here/zypp/etc" "$here/zypp/usr/lib/sysimage/rpm" "$here/zypp/var/lib/zypp" "$here/zypp/var/log/zypp"
cp "$R/etc/passwd" "$here/zypp/etc/"
cp "$R/usr/lib/sysimage/rpm/rpmdb.sqlite" "$here/zypp/usr/lib/sysimage/rpm/"
cp "$R/var/lib/zypp/AutoInstalled" "$here/zypp/var/lib/zypp/"
cp "$R/var/log/zypp/history" "$here/zypp/var/log/zypp/"
