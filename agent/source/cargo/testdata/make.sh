#!/bin/sh
# Makes the fixture root under testdata/root with cargo itself: two tiny crates, one from a
# path (acme-hello, two binaries) and one from a git repository (acme-sync, a prerelease),
# installed offline with `cargo install --root` (--offline, and a git repository on disk) into alice's ~/.cargo, and acme-hello also
# into /usr/local/cargo (the same version twice: one package with a copy). bob's ~/.cargo
# has only the older .crates.toml, as cargo before 1.41 left it, with a crates.io install in
# cargo's format (no registry is reachable offline). The binaries, a few MiB each, are
# replaced by stubs: only the listings are read, and the binaries' paths.
# Needs: apt-get install -y cargo git.
set -eu
cd "$(dirname "$0")"
rm -rf root build
mkdir -p root/etc build
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'bob:x:1001:1001::/home/bob:/bin/sh' >root/etc/passwd
CARGO=${CARGO:-/usr/bin/cargo}
export CARGO_HOME="$PWD/build/cargo-home"

crate() { # dir name version
	mkdir -p "$1/src/bin"
	printf '[package]\nname = "%s"\nversion = "%s"\nedition = "2021"\n' "$2" "$3" >"$1/Cargo.toml"
	printf 'fn main() { println!("%s"); }\n' "$2" >"$1/src/main.rs"
}
crate build/hello acme-hello 0.4.2
printf 'fn main() {}\n' >build/hello/src/bin/acme-hello-admin.rs
crate build/sync acme-sync 2.3.0-beta.1
(cd build/sync && git init -q && git add -A && git -c user.email=ci@example.com -c user.name=ci commit -qm init)

install() { # root args...
	r=$1
	shift
	"$CARGO" install --quiet --root "$PWD/root$r" "$@"
}
install /home/alice/.cargo --offline --path build/hello
install /home/alice/.cargo --git "file://$PWD/build/sync" # a local repository: no network
install /usr/local/cargo --offline --path build/hello

mkdir -p root/home/bob/.cargo/bin
cat >root/home/bob/.cargo/.crates.toml <<'TOML'
[v1]
"ripgrep 13.0.0 (registry+https://github.com/rust-lang/crates.io-index)" = ["rg"]
TOML

# Stubs for the binaries, and paths that do not name this machine's build directory.
for b in root/usr/local/cargo/bin/* root/home/*/.cargo/bin/*; do [ -f "$b" ] && : >"$b"; done
: >root/home/bob/.cargo/bin/rg
chmod 755 root/usr/local/cargo/bin/* root/home/*/.cargo/bin/*
sed -i "s|file://$PWD/build|file:///src|g" root/usr/local/cargo/.crates* root/home/*/.cargo/.crates*
rm -rf build
