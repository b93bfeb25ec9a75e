#!/bin/sh
# Builds the fixture root into the directory $1 with this machine's go and git, as the tests
# do (the binaries, a few MiB each, are not committed):
#   /usr/local/bin/acmetool   github.com/acme/tool, main package .../cmd/acmetool, from a git
#                             checkout tagged v1.4.0 (go stamps the tag as the version), -s
#   /opt/acme/bin/acmed       the same module and version, another main package: a copy
#   /home/alice/go/bin/sync   github.com/acme/sync from an untagged commit: a pseudo-version
#   /root/go/bin/devel        example.com/devel built with -buildvcs=false: "(devel)"
#   /usr/local/go/bin/gofmt   the Go distribution's gofmt (cmd/gofmt), and a copy named go;
#                             /usr/local/go/VERSION makes /usr/local/go a GOROOT
#   /usr/local/bin/script     a shell script; /usr/local/bin/notgo, an ELF binary not Go's (env);
#   /usr/local/bin/adhoc      a Go binary built from a file, without a main module
#   /usr/local/bin/gofmt-link a link to the toolchain's gofmt, not followed
set -eu
out=$(cd "$1" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off GOPROXY=off CGO_ENABLED=0
git_commit() { git -c user.email=ci@example.com -c user.name=ci commit -qm "$1"; }

mkdir -p "$out/etc" "$out/usr/local/bin" "$out/opt/acme/bin" "$out/home/alice/go/bin" \
	"$out/root/go/bin" "$out/usr/local/go/bin"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' "alice:x:${ALICE_UID:-1000}:1000::/home/alice:/bin/sh" >"$out/etc/passwd"

mod() { # dir module
	mkdir -p "$1"
	printf 'module %s\n\ngo 1.21\n' "$2" >"$1/go.mod"
}
main() { # file
	mkdir -p "$(dirname "$1")"
	printf 'package main\n\nfunc main() { println("hi") }\n' >"$1"
}

mod "$build/tool" github.com/acme/tool
main "$build/tool/cmd/acmetool/main.go"
main "$build/tool/cmd/acmed/main.go"
(cd "$build/tool" && git init -q && git add -A && git_commit v1.4.0 && git tag v1.4.0 &&
	go build -buildvcs=true -trimpath -ldflags=-s -o "$out/usr/local/bin/acmetool" ./cmd/acmetool &&
	go build -buildvcs=true -trimpath -ldflags=-s -o "$out/opt/acme/bin/acmed" ./cmd/acmed)

mod "$build/sync" github.com/acme/sync
main "$build/sync/main.go"
(cd "$build/sync" && git init -q && git add -A && git_commit init &&
	go build -buildvcs=true -trimpath -ldflags=-s -o "$out/home/alice/go/bin/sync" .)

mod "$build/devel" example.com/devel
main "$build/devel/main.go"
(cd "$build/devel" && go build -buildvcs=false -trimpath -ldflags=-s -o "$out/root/go/bin/devel" .)

main "$build/adhoc/adhoc.go"
(cd "$build/adhoc" && go build -trimpath -ldflags=-s -o "$out/usr/local/bin/adhoc" adhoc.go)

go build -trimpath -ldflags=-s -o "$out/usr/local/go/bin/gofmt" cmd/gofmt
cp "$out/usr/local/go/bin/gofmt" "$out/usr/local/go/bin/go"
go env GOVERSION >"$out/usr/local/go/VERSION"

printf '#!/bin/sh\necho hi\n' >"$out/usr/local/bin/script"
chmod 755 "$out/usr/local/bin/script"
cp "$(command -v env)" "$out/usr/local/bin/notgo"
ln -s ../go/bin/gofmt "$out/usr/local/bin/gofmt-link"
