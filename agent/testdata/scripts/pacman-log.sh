#!/usr/bin/env bash
# pacman-log.sh makes the pacman source's log test root, agent/source/pacman/testdata/log: a
# local database and /var/log/pacman.log written by the real makepkg and pacman, through a few
# transactions of tiny packages: hello and its dependency libhello installed (libhello with
# --asdeps), hello upgraded, a package installed and removed again, and libhello marked
# explicitly installed afterwards (pacman -D --asexplicit).
#
# Needs (Debian 12): apt-get install -y pacman-package-manager makepkg libarchive-tools fakeroot
# Run: agent/testdata/scripts/pacman-log.sh (from any directory). The log keeps pacman's own
# timestamps and command lines; the fixed work directory keeps the command lines the same
# from run to run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../../source/pacman/testdata/log
tmp=/tmp/onus-pacman-log
rm -rf "$tmp" "$out"
mkdir -p "$tmp"/{build,pkgs,cache,hooks,gnupg,root/var/lib/pacman,root/var/log}
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

as_builder=()
if ((EUID == 0)); then
	as_builder=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
	chown nobody:nogroup "$tmp/build" "$tmp/pkgs"
fi
as_root=()
if ((EUID != 0)); then
	as_root=(fakeroot --)
fi

build() { # name version depends...
	local name=$1 ver=$2
	shift 2
	local d=$tmp/build/$name-$ver
	mkdir -p "$d"
	cat >"$d/PKGBUILD" <<PKG
pkgname=$name
pkgver=${ver%-*}
pkgrel=${ver##*-}
pkgdesc="$name, a fixture package"
arch=(any)
license=(MIT)
depends=($*)
package() { mkdir -p "\$pkgdir/usr/share/$name"; echo $ver >"\$pkgdir/usr/share/$name/version"; }
PKG
	[[ ${#as_builder[@]} -eq 0 ]] || chown -R nobody:nogroup "$d"
	(cd "$d" && env -i PATH=/usr/bin:/bin HOME="$tmp/build" LC_ALL=C.UTF-8 PACKAGER="Onus Fixtures <fixtures@onus.invalid>" \
		PKGEXT=.pkg.tar.zst PACMAN=true PKGDEST="$tmp/pkgs" "${as_builder[@]}" makepkg --force --nodeps --nocolor >/dev/null)
}
build libhello 1.0-1
build hello 1.0-1 libhello
build hello 1.1-1 libhello
build scratch 0.1-1

cat >"$tmp/pacman.conf" <<'CONF'
[options]
Architecture = auto
SigLevel = Never
LocalFileSigLevel = Never
CONF
cd "$tmp/pkgs"
p() { "${as_root[@]}" pacman --config "$tmp/pacman.conf" --root "$tmp/root" --cachedir "$tmp/cache" \
	--gpgdir "$tmp/gnupg" --hookdir "$tmp/hooks" --noconfirm --color never "$@" >/dev/null; }
p -U --asdeps libhello-1.0-1-any.pkg.tar.zst
p -U hello-1.0-1-any.pkg.tar.zst
p -U scratch-0.1-1-any.pkg.tar.zst
p -U hello-1.1-1-any.pkg.tar.zst
p -R scratch
p -D --asexplicit libhello
p -U --asdeps scratch-0.1-1-any.pkg.tar.zst

mkdir -p "$out/var/lib/pacman" "$out/var/log"
cp -r "$tmp/root/var/lib/pacman/local" "$out/var/lib/pacman/"
find "$out/var/lib/pacman/local" -name mtree -delete
cp "$tmp/root/var/log/pacman.log" "$out/var/log/pacman.log"
chmod -R u+rwX,go+rX,go-w "$out"
