#!/usr/bin/env bash
# Copies excerpts of a real Debian host's apt records into the dpkg source's test root
# (agent/source/dpkg/testdata/apt), for the tests of who installed each package:
#   - /var/lib/dpkg/status: the stanzas of the packages listed below, as this host has them;
#   - /var/lib/apt/extended_states: apt's marks of the same packages;
#   - /var/log/apt/history.log: the newest $keep stanzas of this host's history, and the older
#     ones gzipped as history.log.1.gz, as logrotate leaves them.
# Nothing is edited or anonymized: what apt and dpkg wrote is copied as it is. To have stanzas
# with Requested-By, install something through sudo first (apt records SUDO_UID):
#   sudo apt-get install -y dnf createrepo-c
# Run from anywhere: bash agent/testdata/scripts/apt.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../../source/dpkg/testdata/apt
keep=${KEEP:-4}
pkgs=${PKGS:-"base-files dpkg libc6 tzdata git curl libcurl4 openssh-client lsb-release dnf dnf-data libdnf2-common createrepo-c libsolv1 python3-dnf postgresql podman sqlite3 rpm passwd"}

rm -rf "$out"
mkdir -p "$out/var/lib/dpkg" "$out/var/lib/apt" "$out/var/log/apt"
re=$(echo "$pkgs" | tr ' ' '|')
awk -v re="^Package: ($re)\$" 'BEGIN{RS="";ORS="\n\n"} { split($0, l, "\n"); if (l[1] ~ re) print }' \
  /var/lib/dpkg/status >"$out/var/lib/dpkg/status"
awk -v re="^Package: ($re)\$" 'BEGIN{RS="";ORS="\n\n"} { split($0, l, "\n"); if (l[1] ~ re) print }' \
  /var/lib/apt/extended_states >"$out/var/lib/apt/extended_states"

# Stanzas start with a blank line and "Start-Date:"; split the log after the last $keep.
log=/var/log/apt/history.log
total=$(grep -c '^Start-Date:' "$log")
split=$((total - keep))
awk -v n="$split" '/^Start-Date:/{k++} k<=n' "$log" | gzip -9n >"$out/var/log/apt/history.log.1.gz"
awk -v n="$split" '/^Start-Date:/{k++} k>n' "$log" | sed '1{/^$/!s/^/\n/}' >"$out/var/log/apt/history.log"
