#!/usr/bin/env bash
# rpm.sh builds the rpm database fixtures of the rpm inventory source.
#
# Needs the Debian packages rpm (rpm and rpmbuild, 4.18), sqlite3, db5.3-util, gnupg and python3:
#   apt-get install -y rpm sqlite3 db5.3-util gnupg python3
# Run from anywhere (takes a few seconds; rewrites the fixtures, so run the tests after):
#   bash agent/testdata/scripts/rpm.sh
#
# For each package list in rpm/<distro>.list it builds one small binary RPM per row with
# rpmbuild from rpm/package.spec (real names, versions, vendors and packagers of that
# distribution; each package holds one zero-filled file of the package's real installed size),
# then installs them with `rpm --justdb` into a database, each at the fixed install time of
# its row (rpm takes INSTALLTIME from SOURCE_DATE_EPOCH). From those databases it writes:
#
#   roots/rocky9/var/lib/rpm/rpmdb.sqlite     sqlite backend (rpm >= 4.16), as rpm leaves it
#                                             (WAL journal mode, WAL checkpointed and removed),
#                                             plus a gpg-pubkey imported with rpm --import
#   roots/centos7/var/lib/rpm/Packages        Berkeley DB hash (rpm < 4.16), made by db5.3_load
#                                             from the header blobs, keyed by the header number
#                                             in host (little-endian) byte order, with rpm's
#                                             record 0 holding the last header number
#   roots/opensuse15/usr/lib/sysimage/rpm/Packages.db
#                                             ndb (SUSE); Debian's rpm has no ndb backend, so a
#                                             few lines of python write the header blobs in the
#                                             layout of rpm's lib/backend/ndb/rpmpkg.c (32-byte
#                                             header, slot page, adler32-checked blobs), and
#                                             var/lib/rpm is a symlink to it as on openSUSE
#   source/rpm/testdata/                      damaged databases: truncated sqlite, garbage,
#                                             a sqlite database with committed changes still
#                                             in its WAL (as after a crash of rpm)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
testdata=$(cd "$here/.." && pwd)
roots=$testdata/roots
pkgtestdata=$(cd "$testdata/../source/rpm" && pwd)/testdata
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export LC_ALL=C TZ=UTC

# build_db DISTRO VENDOR PACKAGER BUILDHOST DIST_MACRO: builds the packages of rpm/DISTRO.list
# and installs them into the sqlite database $work/DISTRO/root/var/lib/rpm/rpmdb.sqlite.
build_db() {
	local distro=$1 vendor=$2 packager=$3 buildhost=$4
	local top=$work/$distro/top root=$work/$distro/root
	mkdir -p "$top" "$root"
	local name src epoch version release arch group license size itime url summary
	while IFS='|' read -r name src epoch version release arch group license size itime url summary; do
		case $name in '#'* | '') continue ;; esac
		local args=(
			--define "_topdir $top"
			--define "_binary_payload w1.gzdio"
			--define "use_source_date_epoch_as_buildtime 1"
			--define "_buildhost $buildhost"
			--define "vendor $vendor"
			--define "packager $packager"
			--define "src_name $src"
			--define "pkg_name $name"
			--define "pkg_version $version"
			--define "pkg_release $release"
			--define "pkg_group $group"
			--define "pkg_license $license"
			--define "pkg_size $size"
			--define "pkg_summary $summary"
			--define "pkg_file_dir /usr/share/$src"
		)
		[ -n "$epoch" ] && args+=(--define "pkg_epoch $epoch")
		[ -n "$url" ] && args+=(--define "pkg_url $url")
		[ "$arch" = noarch ] && args+=(--define "pkg_noarch 1")
		# Built a little before installation, as a distribution's packages are.
		SOURCE_DATE_EPOCH=$((itime - 86400 * 20)) rpmbuild -bb --quiet "${args[@]}" "$here/rpm/package.spec" >/dev/null
		local rpmfile
		rpmfile=$(find "$top/RPMS" -name "$name-$version-$release.$arch.rpm")
		SOURCE_DATE_EPOCH=$itime rpm --root "$root" --dbpath /var/lib/rpm \
			--define '_db_backend sqlite' --justdb --nodeps --noscripts --ignorearch -i "$rpmfile" 2>/dev/null
	done <"$here/rpm/$distro.list"
}

# finish_sqlite DB: checkpoints the WAL into the database file and removes what a clean close
# of rpm removes, then checks the database.
finish_sqlite() {
	sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
	rm -f "$1-shm" "$1-wal" "$(dirname "$1")/.rpm.lock"
	[ "$(sqlite3 "$1" 'PRAGMA integrity_check;')" = ok ]
	rm -f "$1-shm" "$1-wal"
}

# export_blobs DB: prints "hnum hexblob" per package.
export_blobs() {
	sqlite3 "$1" 'SELECT hnum, hex(blob) FROM Packages ORDER BY hnum;' | tr '|' ' '
}

# --- rocky9: sqlite --------------------------------------------------------------------------
build_db rocky9 'Rocky Enterprise Software Foundation' \
	'Rocky Linux Build System (Peridot) <releng@rockylinux.org>' 'pb-0a1b2c3d-4e5f-6789-abcd-ef0123456789-b-x86-64' ''
# The release key, imported as dnf does on first use: a gpg-pubkey pseudo package.
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --faked-system-time 20220330T000000! --passphrase '' \
	--quick-generate-key 'Rocky Enterprise Software Foundation - Release key 2022 <releng@rockylinux.org>' rsa4096 sign never 2>/dev/null
gpg --batch --quiet --armor --export >"$work/RPM-GPG-KEY-Rocky-9"
SOURCE_DATE_EPOCH=1715336740 rpm --root "$work/rocky9/root" --dbpath /var/lib/rpm --define '_db_backend sqlite' \
	--import "$work/RPM-GPG-KEY-Rocky-9"
db=$work/rocky9/root/var/lib/rpm/rpmdb.sqlite
finish_sqlite "$db"
sqlite3 "$db" 'VACUUM;'
finish_sqlite "$db"
rm -rf "$roots/rocky9/var/lib/rpm"
mkdir -p "$roots/rocky9/var/lib/rpm"
cp "$db" "$roots/rocky9/var/lib/rpm/rpmdb.sqlite"
touch -d @1718093392 "$roots/rocky9/var/lib/rpm/rpmdb.sqlite"

# Damaged and mid-transaction copies for the source's own tests.
mkdir -p "$pkgtestdata/truncated/var/lib/rpm" "$pkgtestdata/garbage/var/lib/rpm" \
	"$pkgtestdata/wal/var/lib/rpm" "$pkgtestdata/garbage-bdb/var/lib/rpm" "$pkgtestdata/garbage-ndb/usr/lib/sysimage/rpm"
head -c 20480 "$db" >"$pkgtestdata/truncated/var/lib/rpm/rpmdb.sqlite"
head -c 12288 /dev/urandom >"$pkgtestdata/garbage/var/lib/rpm/rpmdb.sqlite"
head -c 8192 /dev/urandom >"$pkgtestdata/garbage-bdb/var/lib/rpm/Packages"
head -c 8192 /dev/urandom >"$pkgtestdata/garbage-ndb/usr/lib/sysimage/rpm/Packages.db"
# A committed erase of nginx and an upgrade of bash still in the WAL: copies taken while the
# writer holds the database open, before any checkpoint, as a crash would leave them.
cp "$db" "$work/wal.sqlite"
bash_blob=$(sqlite3 "$db" "SELECT hex(blob) FROM Packages WHERE hnum = (SELECT hnum FROM Name WHERE key = 'bash');")
rm -f "$pkgtestdata/wal/var/lib/rpm/"rpmdb.sqlite*
sqlite3 "$work/wal.sqlite" >/dev/null <<SQL
PRAGMA wal_autocheckpoint = 0;
DELETE FROM Packages WHERE hnum = (SELECT hnum FROM Name WHERE key = 'nginx');
DELETE FROM Packages WHERE hnum = (SELECT hnum FROM Name WHERE key = 'bash');
INSERT INTO Packages (blob) VALUES (x'$bash_blob');
.shell cp $work/wal.sqlite $work/wal.sqlite-wal $pkgtestdata/wal/var/lib/rpm/
SQL
mv "$pkgtestdata/wal/var/lib/rpm/wal.sqlite" "$pkgtestdata/wal/var/lib/rpm/rpmdb.sqlite"
mv "$pkgtestdata/wal/var/lib/rpm/wal.sqlite-wal" "$pkgtestdata/wal/var/lib/rpm/rpmdb.sqlite-wal"

# --- centos7: Berkeley DB hash ----------------------------------------------------------------
build_db centos7 'CentOS' 'CentOS BuildSystem <http://bugs.centos.org>' 'x86-01.bsys.centos.org' ''
db=$work/centos7/root/var/lib/rpm/rpmdb.sqlite
finish_sqlite "$db"
{
	last=0
	while read -r hnum hex; do
		printf '\\%02x\\%02x\\%02x\\%02x\n' $((hnum & 255)) $((hnum >> 8 & 255)) $((hnum >> 16 & 255)) $((hnum >> 24 & 255))
		# db_load takes lower-case hex escapes only.
		tr 'A-F' 'a-f' <<<"$hex" | sed 's/\(..\)/\\\1/g'
		last=$hnum
	done < <(export_blobs "$db")
	# Record 0 holds the last header number handed out.
	printf '\\00\\00\\00\\00\n\\%02x\\00\\00\\00\n' "$last"
} >"$work/centos7.load"
rm -rf "$roots/centos7/var/lib/rpm"
mkdir -p "$roots/centos7/var/lib/rpm"
db5.3_load -T -t hash -f "$work/centos7.load" "$roots/centos7/var/lib/rpm/Packages"
touch -d @1612345678 "$roots/centos7/var/lib/rpm/Packages"

# --- opensuse15: ndb --------------------------------------------------------------------------
build_db opensuse15 'openSUSE' 'https://bugs.opensuse.org' 'lamb09' ''
db=$work/opensuse15/root/var/lib/rpm/rpmdb.sqlite
finish_sqlite "$db"
rm -rf "$roots/opensuse15/usr/lib/sysimage/rpm" "$roots/opensuse15/var/lib/rpm"
mkdir -p "$roots/opensuse15/usr/lib/sysimage/rpm" "$roots/opensuse15/var/lib"
ln -s ../../usr/lib/sysimage/rpm "$roots/opensuse15/var/lib/rpm"
cat >"$work/ndb.py" <<'PY'
import struct, sys, zlib
PAGE, BLK, SLOT = 4096, 16, 16
out = bytearray(PAGE)  # one slot page: 32-byte header, then 254 slots
blobs = [(int(h), bytes.fromhex(x)) for h, x in (l.split() for l in sys.stdin)]
for i in range(PAGE // SLOT):
    struct.pack_into('<4s', out, i * SLOT, b'Slot')
blkoff = PAGE // BLK
for n, (idx, blob) in enumerate(blobs):
    blkcnt = (16 + len(blob) + 12 + BLK - 1) // BLK
    head = struct.pack('<4sIII', b'BlbS', idx, 1700640011, len(blob))
    pad = bytes(blkcnt * BLK - 16 - len(blob) - 12)
    adler = zlib.adler32(head + blob + pad)
    out += head + blob + pad + struct.pack('<II4s', adler, len(blob), b'BlbE')
    struct.pack_into('<4sIII', out, (2 + n) * SLOT, b'Slot', idx, blkoff, blkcnt)
    blkoff += blkcnt
struct.pack_into('<4sIIII', out, 0, b'RpmP', 0, len(blobs), 1, max(i for i, _ in blobs) + 1)
open(sys.argv[1], 'wb').write(out)
PY
export_blobs "$db" | python3 "$work/ndb.py" "$roots/opensuse15/usr/lib/sysimage/rpm/Packages.db"
touch -d @1700640022 "$roots/opensuse15/usr/lib/sysimage/rpm/Packages.db"

ls -l "$roots"/rocky9/var/lib/rpm "$roots"/centos7/var/lib/rpm "$roots"/opensuse15/usr/lib/sysimage/rpm
