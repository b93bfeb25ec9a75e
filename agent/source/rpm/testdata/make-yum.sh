#!/bin/sh
# Makes the fixture root testdata/yum: an rpm database written by rpm itself (tiny packages
# built by rpmbuild from specs written here, installed with rpm --root), and the yumdb yum
# keeps beside it. Debian packages no yum, so the yumdb is written here as yum writes it
# (yum/rpmsack.py, RPMDBAdditionalData, and YumBase.runTransaction in yum/__init__.py): a
# directory /var/lib/yum/yumdb/<first letter>/<header SHA-1>-<name>-<version>-<release>-<arch>
# a package, one file a value, without a newline, the SHA-1 rpm's own (%{SHA1HEADER}):
#   acme-hello, installed by alice (1000) with "install acme-hello", and acme-libhello as its
#     dependency
#   acme-upd, installed by alice, updated by bob (1001): changed_by, "update acme-upd"
#   acme-tool (epoch 1), installed by no login (4294967295: a kickstart)
#   acme-marked, by uid 1234 (in no passwd line), a command line with control bytes
#   a stale directory for acme-temp, no longer installed, and a file where a directory is
#   expected
# and acme-bare, installed by rpm alone, has none.
# The rpm database is vacuumed into 512-byte pages to keep the fixture small.
# Needs: apt-get install -y rpm sqlite3.
set -eu
cd "$(dirname "$0")"
here=$PWD
b=/tmp/onus-yum-fixture
rm -rf "$b" yum
trap 'rm -rf "$b"' EXIT
mkdir -p "$b/specs" "$b/home"
export HOME="$b/home"
echo '%_dbpath /var/lib/rpm' >"$HOME/.rpmmacros"

spec() { # name epoch version release buildarch
	{
		echo "Name: $1"
		[ -n "$2" ] && echo "Epoch: $2"
		echo "Version: $3"
		echo "Release: $4"
		echo "Summary: $1, a test package"
		echo "License: MIT"
		[ -n "$5" ] && echo "BuildArch: $5"
		printf '\n%%description\n%s, a test package.\n\n%%files\n' "$1"
	} >"$b/specs/$1-$3.spec"
	rpmbuild --quiet -bb --define "_topdir $b/build" --define "_rpmdir $b/repo" \
		--define "_buildhost fixture" "$b/specs/$1-$3.spec"
}
spec acme-hello "" 1.0 1 ""
spec acme-libhello "" 2.1 3 ""
spec acme-upd "" 1.1 1 ""
spec acme-tool 1 3.0 1 noarch
spec acme-marked "" 4.2 1 ""
spec acme-bare "" 7.0 2 noarch

R=$here/yum
mkdir -p "$R/etc"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'bob:x:1001:1001::/home/bob:/bin/sh' >"$R/etc/passwd"
rpm --root "$R" -i --nodeps "$b"/repo/*/*.rpm 2>/dev/null

yumdb() { # name key=value...
	n=$1
	shift
	d=$(rpm --root "$R" -q --qf '%{SHA1HEADER}-%{NAME}-%{VERSION}-%{RELEASE}-%{ARCH}' "$n")
	d=$R/var/lib/yum/yumdb/$(printf %.1s "$n")/$d
	mkdir -p "$d"
	for kv in "$@"; do
		printf '%s' "${kv#*=}" >"$d/${kv%%=*}"
	done
	printf 'x86_64' >"$d/var_basearch"
	printf '7' >"$d/releasever"
}
yumdb acme-hello reason=user installed_by=1000 from_repo=base "command_line=install acme-hello"
yumdb acme-libhello reason=dep installed_by=1000 from_repo=base "command_line=install acme-hello"
yumdb acme-upd reason=user installed_by=1000 changed_by=1001 from_repo=updates "command_line=update acme-upd"
yumdb acme-tool reason=user installed_by=4294967295 from_repo=anaconda "command_line=install acme-tool"
yumdb acme-marked reason=user installed_by=1234 from_repo=base \
	"command_line=$(printf 'install acme-marked --setopt=base.name=\033[31m')"
mkdir -p "$R/var/lib/yum/yumdb/a/0123456789abcdef0123456789abcdef01234567-acme-temp-0.1-1-noarch"
printf 'user' >"$R/var/lib/yum/yumdb/a/0123456789abcdef0123456789abcdef01234567-acme-temp-0.1-1-noarch/reason"
printf 'not a directory' >"$R/var/lib/yum/yumdb/a/stray-file"

sqlite3 "$R/var/lib/rpm/rpmdb.sqlite" "PRAGMA journal_mode=DELETE; PRAGMA page_size=512; VACUUM;" >/dev/null
rm -rf "$R/var/lib/rpm/rpmdb.sqlite-"* "$R/var/lib/rpm/.rpm.lock" "$R/tmp" "$R/var/tmp"
find "$R" -depth -type d -empty -delete
