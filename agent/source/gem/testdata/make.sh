#!/bin/sh
# Makes the fixture root under testdata/root with RubyGems itself: two tiny gems built with
# `gem build` (acme-tool, a pure-Ruby gem with an executable, in two versions, one a
# prerelease; acme-native, a gem for the x86_64-linux platform) installed offline with
# `gem install --local --install-dir` into the system's, a user's, rbenv's and RVM's gem
# directories; the specifications of one bundled and one default gem of this host's Ruby
# (/usr/lib/ruby/gems/<ver>); and Debian's ruby-rack package unpacked as dpkg would, whose
# gem is in /usr/share/rubygems-integration/all and must not be reported.
# Needs: apt-get install -y ruby (gem), apt-get download ruby-rack, dpkg-deb.
set -eu
cd "$(dirname "$0")"
rm -rf root build
mkdir -p root/etc build
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'bob:x:1001:1001::/home/bob:/bin/sh' >root/etc/passwd

gemspec() { # name version platform
	mkdir -p "build/$1-$2/bin" "build/$1-$2/lib"
	printf '#!/usr/bin/env ruby\nputs "%s"\n' "$1" >"build/$1-$2/bin/$1"
	chmod +x "build/$1-$2/bin/$1"
	printf 'module Acme; end\n' >"build/$1-$2/lib/$1.rb"
	cat >"build/$1-$2/$1.gemspec" <<SPEC
Gem::Specification.new do |s|
  s.name = "$1"
  s.version = "$2"
  s.platform = "$3"
  s.summary = "A tool of Acme's, \"quoted\" and caf\u00e9"
  s.authors = ["Acme Ops", "Jane Doe"]
  s.licenses = ["MIT", "Apache-2.0"]
  s.homepage = "https://example.com/$1"
  s.files = ["lib/$1.rb", "bin/$1"]
  s.bindir = "bin"
  s.executables = ["$1"]
end
SPEC
	(cd "build/$1-$2" && gem build --quiet "$1.gemspec" >/dev/null)
}
gemspec acme-tool 1.2.0 ruby
gemspec acme-tool 2.0.0.rc1 ruby
gemspec acme-native 0.3.1 x86_64-linux

install() { # dir gem...
	dir=$1
	shift
	for g in "$@"; do
		gem install --quiet --silent --local --no-document --ignore-dependencies --install-dir "root$dir" build/*/"$g".gem >/dev/null
	done
}
install /var/lib/gems/3.1.0 acme-tool-1.2.0 acme-native-0.3.1-x86_64-linux
install /home/alice/.local/share/gem/ruby/3.1.0 acme-tool-2.0.0.rc1
install /home/alice/.gem/ruby/3.1.0 acme-tool-1.2.0
install /home/bob/.rbenv/versions/3.2.2/lib/ruby/gems/3.2.0 acme-tool-1.2.0
install /home/bob/.rvm/gems/ruby-3.2.2 acme-native-0.3.1-x86_64-linux

# The Ruby installation's own gems: one bundled, one default.
ver=$(ruby -e 'print RbConfig::CONFIG["ruby_version"]')
sys=/usr/lib/ruby/gems/$ver/specifications
mkdir -p "root$sys/default"
cp "$(ls "$sys"/minitest-*.gemspec | head -n 1)" "root$sys/"
cp "$(ls "$sys"/default/base64-*.gemspec | head -n 1)" "root$sys/default/"

# Debian's ruby-rack: dpkg's, not reported.
(cd build && apt-get download ruby-rack >/dev/null 2>&1)
dpkg-deb -x build/ruby-rack_*.deb build/rack
mkdir -p root/usr/share/rubygems-integration/all/specifications
cp build/rack/usr/share/rubygems-integration/all/specifications/*.gemspec root/usr/share/rubygems-integration/all/specifications/

# Only the specifications are read; the gems' files are kept small.
find root -path '*/cache/*.gem' -delete
find root -name '*.rb' -path '*/gems/*' -exec sh -c ': >"$1"' _ {} \;
rm -rf build
