#!/usr/bin/env bash
# Builds the dpkg database of the Debian 12 fixture root (agent/testdata/roots/debian12) and the
# status.d tree of the distroless fixture root, with the real dpkg tools.
#
# Needs: dpkg and dpkg-deb (Debian's dpkg package). Run from anywhere, as root or not:
#   bash agent/testdata/scripts/dpkg.sh
# It rebuilds the packages below as small .deb files whose control data mirror Debian 12's (names,
# versions, maintainers, sections, source packages), installs them with `dpkg --root`, removes
# one (left in config-files state) and unpacks another without configuring it, so the database
# holds every state the reader must handle. dpkg stamps file lists with the current time; the
# script then sets each list's time to a fixed, plausible install date and records those times in
# roots/debian12.mtimes, because git does not keep modification times (tests re-apply them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
roots=$here/../roots
root=$roots/debian12
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf "$root/var/lib/dpkg" "$root/usr/share/doc" "$root/etc/apache2"
mkdir -p "$root/var/lib/dpkg/"{info,updates,triggers,alternatives} "$root/usr/share/doc"
: >"$root/var/lib/dpkg/status"
dpkg --root="$root" --add-architecture i386

# name|version|arch|section|priority|installed-size KiB|maintainer|source|multi-arch|install date|summary
pkgs=$(cat <<'LIST'
base-files|12.4+deb12u5|amd64|admin|required|341|Santiago Vila <sanvila@debian.org>||foreign|2024-06-10 08:14:02|Debian base system miscellaneous files
bash|5.2.15-2+b2|amd64|shells|required|7164|Matthias Klose <doko@debian.org>|bash (5.2.15-2)|foreign|2024-06-10 08:14:05|GNU Bourne Again SHell
coreutils|9.1-1|amd64|utils|required|18062|Michael Stone <mstone@debian.org>||foreign|2024-06-10 08:14:07|GNU core utilities
libc6|2.36-9+deb12u7|amd64|libs|optional|12986|GNU Libc Maintainers <debian-glibc@lists.debian.org>|glibc|same|2024-06-10 08:14:03|GNU C Library: Shared libraries
libc6|2.36-9+deb12u7|i386|libs|optional|12430|GNU Libc Maintainers <debian-glibc@lists.debian.org>|glibc|same|2024-11-02 14:40:51|GNU C Library: Shared libraries
libssl3|3.0.13-1~deb12u1|amd64|libs|optional|6199|Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>|openssl|same|2024-06-10 08:14:09|Secure Sockets Layer toolkit - shared libraries
openssl|3.0.13-1~deb12u1|amd64|utils|optional|2303|Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>||foreign|2024-06-10 08:14:10|Secure Sockets Layer toolkit - cryptographic utility
openssh-client|1:9.2p1-2+deb12u3|amd64|net|standard|4890|Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>|openssh||2024-06-10 08:14:12|secure shell (SSH) client, for secure access to remote machines
openssh-server|1:9.2p1-2+deb12u3|amd64|net|optional|1880|Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>|openssh|foreign|2024-06-10 08:14:13|secure shell (SSH) server, for secure access from remote machines
sudo|1.9.13p3-1+deb12u1|amd64|admin|optional|6550|Sudo Maintainers <sudo@packages.debian.org>|||2024-06-10 08:14:15|Provide limited super user privileges to specific users
curl|7.88.1-10+deb12u6|amd64|web|optional|500|Debian Curl Maintainers <team+curl@tracker.debian.org>|||2024-07-22 09:30:41|command line tool for transferring data with URL syntax
tzdata|2024a-0+deb12u1|all|localization|required|3585|GNU Libc Maintainers <debian-glibc@lists.debian.org>||foreign|2024-06-10 08:14:16|time zone and daylight-saving time data
nginx|1.22.1-9|amd64|httpd|optional|1183|Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>|||2024-09-02 16:05:22|small, powerful, scalable web/proxy server
nginx-common|1.22.1-9|all|httpd|optional|452|Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>|nginx|foreign|2024-09-02 16:05:21|small, powerful, scalable web/proxy server - common files
postgresql-15|15.7-0+deb12u1|amd64|database|optional|55326|Debian PostgreSQL Maintainers <team+postgresql@tracker.debian.org>|||2024-09-03 10:12:45|The World's Most Advanced Open Source Relational Database
python3.11|3.11.2-6+deb12u2|amd64|python|optional|650|Matthias Klose <doko@debian.org>|||2024-06-10 08:14:20|Interactive high-level object-oriented language (version 3.11)
docker-ce|5:26.1.4-1~debian.12~bookworm|amd64|admin|optional|100834|Docker <support@docker.com>|docker-ce (26.1.4-1~debian.12~bookworm)||2025-01-15 11:47:03|Docker: the open-source application container engine
grafana|11.0.0|amd64|default|optional|400148|contact@grafana.com|||2025-03-04 13:20:59|Grafana
apache2|2.4.62-1~deb12u1|amd64|httpd|optional|561|Debian Apache Maintainers <debian-apache@lists.debian.org>|||2024-08-01 12:00:00|Apache HTTP Server
mariadb-server|1:10.11.6-0+deb12u1|amd64|database|optional|19660|Debian MySQL Maintainers <pkg-mysql-maint@lists.alioth.debian.org>|mariadb||2025-05-20 07:03:11|MariaDB database server binaries
LIST
)

build() { # name version arch section priority size maint source multiarch summary -> deb path
  local name=$1 version=$2 arch=$3 section=$4 prio=$5 size=$6 maint=$7 src=$8 ma=$9 summary=${10}
  local d=$work/$name-$arch
  mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$name"
  printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: %s\n' "$name" >"$d/usr/share/doc/$name/copyright"
  if [ "$name" = apache2 ]; then
    mkdir -p "$d/etc/apache2"
    printf 'ServerRoot "/etc/apache2"\n' >"$d/etc/apache2/apache2.conf"
    echo /etc/apache2/apache2.conf >"$d/DEBIAN/conffiles"
  fi
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maint"
    echo "Installed-Size: $size"
    [ -n "$src" ] && echo "Source: $src"
    [ -n "$ma" ] && echo "Multi-Arch: $ma"
    echo "Section: $section"
    echo "Priority: $prio"
    [ "$name" = grafana ] && echo "Vendor: Grafana Labs" && echo "Homepage: https://grafana.com"
    echo "Description: $summary"
    echo " $name as packaged for Debian 12 (bookworm). This long description spans"
    echo " several lines, as real ones do, and the reader keeps only the first line."
    echo " ."
    echo " A paragraph separator is a line holding a single dot."
  } >"$d/DEBIAN/control"
  dpkg-deb --root-owner-group -Zgzip --build "$d" "$work/${name}_${arch}.deb" >/dev/null
  echo "$work/${name}_${arch}.deb"
}

declare -A when
while IFS='|' read -r name version arch section prio size maint src ma date summary; do
  deb=$(build "$name" "$version" "$arch" "$section" "$prio" "$size" "$maint" "$src" "$ma" "$summary")
  if [ "$name" = mariadb-server ]; then
    dpkg --root="$root" --force-not-root --force-depends --unpack "$deb" >/dev/null
  else
    dpkg --root="$root" --force-not-root --force-depends --install "$deb" >/dev/null
  fi
  if [ "$ma" = same ]; then when["$name:$arch"]=$date; else when["$name"]=$date; fi
done <<<"$pkgs"
# apache2 was removed but its conffiles stay: config-files state, not reported.
dpkg --root="$root" --force-not-root --remove apache2 >/dev/null
# curl is selected for removal but still installed ("deinstall ok installed"): reported.
echo "curl deinstall" | dpkg --root="$root" --set-selections

# Fixed install dates, recorded for the tests (git does not keep mtimes).
: >"$roots/debian12.mtimes"
for key in "${!when[@]}"; do
  f=$root/var/lib/dpkg/info/$key.list
  [ -f "$f" ] || continue
  touch -d "${when[$key]} UTC" "$f"
  echo "var/lib/dpkg/info/$key.list $(date -u -d "${when[$key]} UTC" +%s)" >>"$roots/debian12.mtimes"
done
sort -o "$roots/debian12.mtimes" "$roots/debian12.mtimes"
rm -f "$root/var/lib/dpkg/"{status-old,available,available-old,lock,lock-frontend,triggers/Lock,cmethopt}

# A distroless image keeps one stanza file per package in status.d and has no status file.
dl=$roots/distroless/var/lib/dpkg/status.d
rm -rf "$roots/distroless/var/lib/dpkg"
mkdir -p "$dl"
for p in base-files libc6 libssl3 tzdata; do
  awk -v p="$p" 'BEGIN{RS="";ORS="\n\n"} $0 ~ "^Package: "p"\n" && $0 ~ "Architecture: (amd64|all)" {print}' \
    "$root/var/lib/dpkg/status" | sed '/^Status: /d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$dl/$p"
done
# distroless also ships md5sums beside the stanzas; the reader ignores them.
printf 'd41d8cd98f00b204e9800998ecf8427e  usr/share/doc/libssl3/copyright\n' >"$dl/libssl3.md5sums"
