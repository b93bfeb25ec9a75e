#!/bin/sh
# Builds the onus-agent and onus-collector packages, .deb and .rpm, with nfpm.
#
#   deploy/packaging/build.sh               static binaries, then the four packages into dist/
#   deploy/packaging/build.sh --version V   print the package version made of git describe's V
#
# Environment (the Makefile's "packages" target sets the first ones):
#   VERSION     the release, as git describe prints it (default: git describe --tags --always
#               --dirty); the binaries report it as is, the packages carry it sanitized for
#               deb and rpm (see pkg_version)
#   ARCH        amd64 (default) or arm64, in Go's names; nfpm names it for each format
#   OUT         directory of the packages (default: dist)
#   BIN_DIR     where the static binaries are built (default: bin/linux-$ARCH)
#   GO          the go command (default: go)
#   PACKAGERS   formats to build (default: "deb rpm")
#   MAINTAINER  the packages' maintainer field
# Paths are relative to the repository root, where the script runs nfpm.
set -eu

NFPM_VERSION=v2.45.2

# pkg_version RAW: a version deb and rpm both accept and order correctly, made of git
# describe's output: a leading v dropped; a pre-release of the tag sorts before the release
# (1.2.3-rc.1 -> 1.2.3~rc.1); commits after the tag sort after it (1.2.3-4-gabc123 ->
# 1.2.3+git4.gabc123); a build with no tag is 0.0.0+git.gHASH; -dirty becomes .dirty in the
# +metadata; any other character outside [A-Za-z0-9.+~] becomes a dot.
pkg_version() {
	v=${1#v}
	dirty=
	case "$v" in *-dirty)
		dirty=yes
		v=${v%-dirty}
		;;
	esac
	meta=
	if printf '%s\n' "$v" | grep -Eq -- '-[0-9]+-g[0-9a-f]+$'; then
		meta=$(printf '%s\n' "$v" | sed -E 's/^.*-([0-9]+)-(g[0-9a-f]+)$/git\1.\2/')
		v=$(printf '%s\n' "$v" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
	fi
	if [ -z "$meta" ] && printf '%s\n' "$v" | grep -Eq '^[0-9a-f]{7,40}$'; then
		# No tag: git describe --always printed the commit.
		meta=git.g$v
		v=0.0.0
	fi
	case "$v" in
	[0-9]*) v=$(printf '%s\n' "$v" | sed 's/-/~/') ;;
	*)
		meta=$v${meta:+.$meta}
		v=0.0.0
		;;
	esac
	if [ -n "$dirty" ]; then
		meta=${meta:+$meta.}dirty
	fi
	printf '%s%s\n' "$v" "${meta:+"+$meta"}" | sed 's/[^A-Za-z0-9.+~]/./g'
}

cd "$(dirname "$0")/../.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
if [ "${1:-}" = --version ]; then
	pkg_version "${2:?usage: $0 --version GIT-DESCRIBE}"
	exit 0
fi
[ $# -eq 0 ] || {
	echo "usage: $0 [--version GIT-DESCRIBE]" >&2
	exit 2
}

ARCH=${ARCH:-amd64}
case "$ARCH" in
amd64 | arm64) ;;
*)
	echo "$0: ARCH=$ARCH: want amd64 or arm64" >&2
	exit 2
	;;
esac
GO=${GO:-go}
OUT=${OUT:-dist}
BIN_DIR=${BIN_DIR:-bin/linux-$ARCH}
PACKAGERS=${PACKAGERS:-deb rpm}
PKG_VERSION=$(pkg_version "$VERSION")
MAINTAINER=${MAINTAINER:-Onus project <onus-project@users.noreply.github.com>}
export ARCH BIN_DIR PKG_VERSION MAINTAINER

# Both binaries at once: linking takes most of the time, and each link uses one core.
ldflags="-s -w -X github.com/onus-project/onus/internal/version.Version=$VERSION"
pids=
for cmd in agent collector; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH "$GO" build -trimpath -ldflags "$ldflags" \
		-o "$BIN_DIR/onus-$cmd" "./$cmd" &
	pids="$pids $!"
done
for pid in $pids; do
	wait "$pid" || {
		echo "$0: building the binaries failed" >&2
		exit 1
	}
done

# nfpm at a pinned version, built for this machine (not for $ARCH) into a scratch directory.
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
GOOS= GOARCH= GOBIN=$tools "$GO" install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"

mkdir -p "$OUT"
pids=
for name in agent collector; do
	for p in $PACKAGERS; do
		"$tools/nfpm" package --config "deploy/packaging/nfpm-$name.yaml" --packager "$p" --target "$OUT/" &
		pids="$pids $!"
	done
done
for pid in $pids; do
	wait "$pid" || {
		echo "$0: nfpm failed" >&2
		exit 1
	}
done
