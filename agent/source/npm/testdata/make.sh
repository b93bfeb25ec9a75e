#!/bin/sh
# Makes the fixture root under testdata/root with npm itself, from the npm registry:
# is-number and a scoped package (@isaacs/string-locale-compare) installed globally into
# /usr/local; mkdirp (a command) and the same is-number into alice's nvm Node, v20.20.2,
# where `npm link` also links her own package, ~/src/acme-cli; and an older is-number into
# bob's prefix, which his ~/.npmrc sets. Debian's node-is-number is unpacked into
# /usr/share/nodejs, where dpkg's modules are: not read. Only the package.json files are
# read: every other file of the installed packages is removed (their bin links are left
# dangling).
# Needs: npm and the registry (npm install); apt-get download for Debian's package.
set -eu
cd "$(dirname "$0")"
rm -rf root build
mkdir -p root/etc root/home/bob build
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'bob:x:1001:1001::/home/bob:/bin/sh' >root/etc/passwd
NPM=${NPM:-npm}
export npm_config_cache="$PWD/build/cache" npm_config_audit=false npm_config_fund=false \
	npm_config_update_notifier=false npm_config_userconfig=/dev/null
g() { # prefix packages...
	p=$1
	shift
	"$NPM" install --global --silent --prefix "$PWD/root$p" "$@"
}
g /usr/local is-number@7.0.0 @isaacs/string-locale-compare@1.1.0
nvm=/home/alice/.nvm/versions/node/v20.20.2
g $nvm mkdirp@1.0.4 is-number@7.0.0

mkdir -p root/home/alice/src/acme-cli
cat >root/home/alice/src/acme-cli/package.json <<'JSON'
{
  "name": "acme-cli",
  "version": "0.1.0-dev.3",
  "description": "Acme's command line,\n\tunder development",
  "license": "Apache-2.0",
  "bin": { "acme": "cli.js", "acme-admin": "admin.js" },
  "repository": { "type": "git", "url": "git+https://git.example.com/acme/cli.git" }
}
JSON
printf '#!/usr/bin/env node\n' >root/home/alice/src/acme-cli/cli.js
cp root/home/alice/src/acme-cli/cli.js root/home/alice/src/acme-cli/admin.js
(cd root/home/alice/src/acme-cli && npm_config_prefix="$PWD/../../../..$nvm" "$NPM" link --silent)

printf '; where npm install -g puts packages\nprefix = ~/.npm-packages\n' >root/home/bob/.npmrc
g /home/bob/.npm-packages is-number@6.0.0

(cd build && apt-get download -qq node-is-number)
dpkg-deb --fsys-tarfile build/node-is-number_*.deb | tar -x -C root ./usr/share/nodejs/is-number/package.json

find root -path '*/node_modules/*' -type f ! -name package.json ! -name .package-lock.json -delete
find root -type d -empty -delete
rm -rf build
