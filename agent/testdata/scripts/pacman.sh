#!/usr/bin/env bash
# pacman.sh builds the Arch Linux package database fixture,
# agent/testdata/roots/arch/var/lib/pacman/local, with the real makepkg and pacman.
#
# Needs (Debian 12): apt-get install -y pacman-package-manager libarchive-tools fakeroot
# Run:               agent/testdata/scripts/pacman.sh   (from any directory; idempotent; takes a
#                    few minutes, mostly makepkg itself)
#
# The PKGBUILDs in pacman/ follow Arch's own for these packages as of May 2024: names, epochs,
# versions, descriptions, URLs, SPDX licenses, groups, dependencies, backup files, and the
# maintainer (used as the packager). Their package() functions build nothing: they create sparse
# files of realistic sizes under the real paths, so %SIZE% looks like Arch's while the packages
# stay a few kilobytes.
#
# Determinism: each package's %BUILDDATE% comes from SOURCE_DATE_EPOCH (table below). pacman
# always records the current time as %INSTALLDATE%, so after installing, this script rewrites
# that line in each desc file to the fixed install time in the table. Nothing else is edited.
#
# makepkg runs with PACMAN=true: with --nodeps it only asks pacman for the build host's
# installed packages, to list them in .BUILDINFO, and the answer would differ from host to host.
# makepkg refuses to run as root, so as root it runs as nobody; pacman -U needs root, so as
# another user it runs under fakeroot. pacman installs with --dbonly (no files are extracted)
# and --noscriptlet, into --root agent/testdata/roots/arch; only var/lib/pacman/local is kept.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/../roots/arch"
root=$(cd "$here/../roots/arch" && pwd)
dbpath=$root/var/lib/pacman

for tool in makepkg pacman bsdtar fakeroot; do
	command -v "$tool" >/dev/null || {
		echo "$0: $tool not found; apt-get install -y pacman-package-manager libarchive-tools fakeroot" >&2
		exit 1
	}
done

# PKGBUILD directory, SOURCE_DATE_EPOCH, install time, and how it was installed: explicitly, or
# as a dependency (pacman --asdeps, %REASON% 1). A split PKGBUILD lists its packages after the
# directory, each with its own install time and reason.
packages=(
	# dir         builddate   package:installdate:reason ...
	"filesystem   1712508493  filesystem:1714640911:explicit"
	"glibc        1708013543  glibc:1714640911:explicit"
	"zlib         1706099032  zlib:1714640911:deps"
	"bash         1710436204  bash:1714640912:explicit"
	"openssl      1712580632  openssl:1714640912:deps"
	"coreutils    1711992741  coreutils:1714640912:explicit"
	"less         1703523817  less:1714640912:explicit"
	"systemd      1712999320  systemd-libs:1714640913:deps systemd:1714640913:explicit"
	"pacman       1709662318  pacman:1714640914:explicit"
	"linux        1714733290  linux:1714987350:explicit"
	"openssh      1711638813  openssh:1714641230:explicit"
	"sudo         1705334519  sudo:1714641230:explicit"
	"curl         1714055218  curl:1714987349:deps"
	"python       1713165741  python:1714987349:deps"
	"nginx        1714052021  nginx:1715006412:explicit"
	"postgresql   1713342810  postgresql-libs:1715006498:deps postgresql:1715006498:explicit postgresql-docs:1715006498:explicit"
	"base-devel   1684842221  base-devel:1715092207:explicit"
	"xorg-xauth   1712233215  xorg-xauth:1715092365:explicit"
	"xorg-xset    1712233338  xorg-xset:1715092365:explicit"
)

# A fixed build directory: makepkg records it in each package's .BUILDINFO, whose checksum
# pacman keeps in the mtree file, so a random one would change every mtree on every run.
tmp=${TMPDIR:-/tmp}/onus-pacman-fixture
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/build" "$tmp/pkgs" "$tmp/cache" "$tmp/hooks" "$tmp/gnupg"

as_builder=()
if ((EUID == 0)); then
	as_builder=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
	chown nobody:nogroup "$tmp/build" "$tmp/pkgs"
fi
as_root=()
if ((EUID != 0)); then
	as_root=(fakeroot --)
fi

explicit=()
deps=()
declare -A installdate
for line in "${packages[@]}"; do
	read -r dir builddate rest <<<"$line"
	packager=$(sed -n 's/^# Maintainer: //p' "$here/pacman/$dir/PKGBUILD" | head -n1)
	mkdir -p "$tmp/build/$dir"
	cp "$here/pacman/$dir/PKGBUILD" "$tmp/build/$dir/"
	[[ ${#as_builder[@]} -eq 0 ]] || chown -R nobody:nogroup "$tmp/build/$dir"
	(
		cd "$tmp/build/$dir"
		env -i PATH=/usr/bin:/bin HOME="$tmp/build" LC_ALL=C.UTF-8 \
			SOURCE_DATE_EPOCH="$builddate" PACKAGER="$packager" PKGEXT=.pkg.tar.zst PACMAN=true \
			PKGDEST="$tmp/pkgs" SRCDEST="$tmp/build/$dir" BUILDDIR="$tmp/build/$dir" \
			"${as_builder[@]}" makepkg --force --nodeps --nocheck --noprogressbar --nocolor >/dev/null
	)
	for entry in $rest; do
		IFS=: read -r name date reason <<<"$entry"
		installdate[$name]=$date
		file=$(ls "$tmp/pkgs/$name"-[0-9]*.pkg.tar.*)
		if [[ $reason == deps ]]; then deps+=("$file"); else explicit+=("$file"); fi
	done
done

cat >"$tmp/pacman.conf" <<'EOF'
[options]
Architecture = x86_64
SigLevel = Never
LocalFileSigLevel = Never
EOF

rm -rf "$dbpath"
mkdir -p "$dbpath"
pacman_args=(--config "$tmp/pacman.conf" --root "$root" --dbpath "$dbpath"
	--cachedir "$tmp/cache" --logfile "$tmp/pacman.log" --gpgdir "$tmp/gnupg" --hookdir "$tmp/hooks"
	--noconfirm --noprogressbar --color never)
"${as_root[@]}" pacman "${pacman_args[@]}" -U --nodeps --nodeps --dbonly --noscriptlet --asdeps "${deps[@]}" >/dev/null
"${as_root[@]}" pacman "${pacman_args[@]}" -U --nodeps --nodeps --dbonly --noscriptlet "${explicit[@]}" >/dev/null

# pacman only needs the local database; the sync directory and the lock it may leave are not
# part of an installed system's inventory.
rm -rf "$dbpath/sync" "$dbpath/db.lck"

for name in "${!installdate[@]}"; do
	desc=$(ls -d "$dbpath/local/$name"-[0-9]*/desc)
	sed -i "/^%INSTALLDATE%\$/{n;s/^[0-9]*\$/${installdate[$name]}/}" "$desc"
done

chmod -R u+rwX,go+rX,go-w "$dbpath"
echo "wrote $(ls -d "$dbpath"/local/*/ | wc -l) packages to $dbpath/local"
