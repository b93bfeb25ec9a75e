#!/bin/sh
# Makes the fixture root under testdata/root. snapd cannot run here (no systemd, no mounts,
# no store), so its state file, /var/lib/snapd/state.json, is written by hand in the format
# snapd writes (overlord/state: {"data": {..., "snaps": {...}}, "changes", "tasks", ...},
# each snap a snapstate.SnapState whose sequence holds snap.SideInfo entries and whose
# revisions are strings, "1033" or "x1") and checked with snapd's own reader,
# `snap debug state`. Each snap is built with `snap pack`, which validates its snap.yaml;
# the .snap file goes to /var/lib/snapd/snaps and its meta/snap.yaml, taken out with
# unsquashfs, to the mount directory /snap/<name>/<revision> where snapd would mount it.
# The snaps: core22 (a base) and snapd (platform), acme-hello at revision 42 with revision
# 41 kept, and a parallel instance acme-hello_beta of it, acme-ide (classic), acme-tool (a
# local revision x1 installed with --devmode), acme-old (disabled) and acme-broken (in the
# state, its mount directory missing).
# The publishers come from snapd's assertion database, /var/lib/snapd/assertions/asserts-v0
# (snap-declaration/16/<snap-id>/active, account/<account-id>/active): those assertions are
# written by hand in snapd's encoding (headers, a blank line, the signature), their
# signatures placeholders that snapd would refuse (making real ones needs the store's keys);
# acme-old's publisher has no account assertion.
# Needs: apt-get install -y snapd squashfs-tools python3.
set -eu
cd "$(dirname "$0")"
export SOURCE_DATE_EPOCH=1709251200 # reproducible snap files
rm -rf root build
mkdir -p root/var/lib/snapd/snaps root/snap build

pack() { # name revision snap.yaml-text [instance]
	inst=${4:-$1}
	d=build/$inst
	mkdir -p "$d/meta" "$d/bin"
	printf '%s\n' "$3" >"$d/meta/snap.yaml"
	printf '#!/bin/sh\necho %s\n' "$1" >"$d/bin/run"
	chmod 755 "$d/bin/run"
	snap pack --filename="${inst}_$2.snap" "$d" build >/dev/null
	mv "build/${inst}_$2.snap" root/var/lib/snapd/snaps/
	unsquashfs -q -d "build/x-$inst-$2" "root/var/lib/snapd/snaps/${inst}_$2.snap" meta/snap.yaml >/dev/null
	mkdir -p "root/snap/$inst/$2/meta"
	cp "build/x-$inst-$2/meta/snap.yaml" "root/snap/$inst/$2/meta/"
	ln -sfn "$2" "root/snap/$inst/current"
}

pack core22 1033 "name: core22
version: '20240111'
summary: Runtime environment based on Ubuntu 22.04
description: The base snap based on the Ubuntu 22.04 release.
confinement: strict
grade: stable
type: base
architectures: [amd64]"
pack snapd 20671 "name: snapd
version: 2.61.2
summary: Daemon and tooling that enable snap packages
description: Install, configure, refresh and remove snap packages.
confinement: strict
grade: stable
type: snapd
architectures: [amd64]"
hello="name: acme-hello
version: '2.10'
summary: Prints a greeting
description: A tiny application snap.
confinement: strict
grade: stable
base: core22
license: MIT
architectures: [amd64]
apps:
  acme-hello:
    command: bin/run
  greeterd:
    command: bin/run
    daemon: simple"
pack acme-hello 41 "$(echo "$hello" | sed "s/'2.10'/'2.9'/")"
pack acme-hello 42 "$hello"
pack acme-hello 42 "$hello" acme-hello_beta
rm -rf root/snap/acme-hello_beta/current && ln -s 42 root/snap/acme-hello_beta/current
pack acme-ide 7 "name: acme-ide
version: 2024.1.3
summary: An editor that needs the whole system
description: A classic snap.
confinement: classic
grade: stable
base: core22
architectures: [amd64]
apps:
  acme-ide:
    command: bin/run"
pack acme-tool x1 "name: acme-tool
version: 0.3-dev
summary: A tool built locally
description: A development build, installed with --dangerous --devmode.
confinement: devmode
grade: devel
base: core22
architectures: [amd64]
apps:
  acme-tool:
    command: bin/run"
pack acme-old 5 "name: acme-old
version: '1.0'
summary: A disabled snap
description: Disabled with snap disable.
confinement: strict
grade: stable
base: core22
architectures: [amd64]"

assertion() { # path headers...
	f=root/var/lib/snapd/assertions/asserts-v0/$1/active
	shift
	mkdir -p "$(dirname "$f")"
	printf '%s\n' "$@" "sign-key-sha3-384: BWDEoaqyr25nF5SNCvEv2v7QnM9QsfCc0PBMYD_i2NGSQ32EF2d4D0hqUel3m8ul" "" \
		"AcLBUgQAAQoABgUCXYZ2uAAKCRDgT5vottzAEid7D/9placeholdersignature" >"$f"
}
account() { # id username display-name validation
	assertion "account/$1" "type: account" "authority-id: canonical" "account-id: $1" "display-name: $3" \
		"timestamp: 2016-04-01T00:00:00.0Z" "username: $2" "validation: $4"
}
declaration() { # snap-id name publisher-id
	assertion "snap-declaration/16/$1" "type: snap-declaration" "authority-id: canonical" "revision: 3" \
		"series: 16" "snap-id: $1" "publisher-id: $3" "snap-name: $2" "plugs:" "  network:" "    allow-auto-connection: true" \
		"timestamp: 2023-01-01T00:00:00.0Z"
}
account canonical canonical Canonical verified
account AcmeAccount0000000000000000000000 acme "Acme Inc." unproven
declaration amcUKQILKXHHTlmSa7NMdnXSx02dNeeT core22 canonical
declaration PMrrV4ml8uWuEUDBT8dSGnKUYbevVhc4 snapd canonical
declaration AcmeHello0AcmeHello0AcmeHello0Ac acme-hello AcmeAccount0000000000000000000000
declaration AcmeIde000AcmeIde000AcmeIde000Ac acme-ide AcmeAccount0000000000000000000000
declaration AcmeOld000AcmeOld000AcmeOld000Ac acme-old AcmeGone00000000000000000000000

python3 - <<'PY'
import json
def si(name, rev, channel=None, snap_id=None):
    d = {"name": name, "snap-id": snap_id or "", "revision": rev}
    if channel:
        d["channel"] = channel
    return d
def st(typ, seq, current, channel=None, **kw):
    d = {"type": typ, "sequence": seq, "active": True, "current": current}
    if channel:
        d["channel"] = channel
    d.update(kw)
    return d
ID = lambda s: (s * 32)[:32]
snaps = {
    "core22": st("base", [si("core22", "1033", "latest/stable", "amcUKQILKXHHTlmSa7NMdnXSx02dNeeT")], "1033", "latest/stable"),
    "snapd": st("snapd", [si("snapd", "20671", "latest/stable", "PMrrV4ml8uWuEUDBT8dSGnKUYbevVhc4")], "20671", "latest/stable"),
    "acme-hello": st("app", [si("acme-hello", "41", "latest/stable", ID("AcmeHello0")), si("acme-hello", "42", "latest/stable", ID("AcmeHello0"))],
                     "42", "latest/stable", **{"last-refresh-time": "2024-03-01T10:00:00Z"}),
    "acme-hello_beta": st("app", [si("acme-hello", "42", "latest/beta", ID("AcmeHello0"))], "42", "latest/beta", **{"instance-key": "beta"}),
    "acme-ide": st("app", [si("acme-ide", "7", "2024/stable", ID("AcmeIde000"))], "7", "2024/stable", classic=True),
    "acme-tool": st("app", [si("acme-tool", "x1")], "x1", devmode=True),
    "acme-old": st("app", [si("acme-old", "5", "latest/stable", ID("AcmeOld000"))], "5", "latest/stable"),
    "acme-broken": st("app", [si("acme-broken", "3", "latest/edge", ID("AcmeBroken"))], "3", "latest/edge"),
}
snaps["acme-old"]["active"] = False
data = {"config": {"core": {"experimental": {"parallel-instances": True}}}, "conns": {}, "seeded": True, "snaps": snaps}
state = {
    "data": data,
    "changes": {"1": {"id": "1", "kind": "install-snap", "summary": "Install \"acme-hello\" snap", "status": 4,
                      "clean": True, "data": {"snap-names": ["acme-hello"]}, "task-ids": ["1"],
                      "spawn-time": "2024-03-01T10:00:00Z", "ready-time": "2024-03-01T10:00:05Z"}},
    "tasks": {"1": {"id": "1", "kind": "link-snap", "summary": "Make snap \"acme-hello\" (42) available to the system",
                    "status": 4, "clean": True, "change": "1", "spawn-time": "2024-03-01T10:00:00Z"}},
    "last-change-id": 1, "last-task-id": 1, "last-lane-id": 0, "last-notice-id": 0,
}
with open("root/var/lib/snapd/state.json", "w") as f:
    json.dump(state, f, separators=(",", ":"), sort_keys=False)
PY
# snapd's own reader loads the state file and lists its change.
snap debug state --changes root/var/lib/snapd/state.json | grep -q install-snap
rm -rf build
