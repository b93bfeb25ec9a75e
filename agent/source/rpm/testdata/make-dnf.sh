#!/bin/sh
# Makes the fixture roots testdata/dnf4 and testdata/dnf5 with rpm and dnf themselves.
#
# dnf4: tiny packages built by rpmbuild from specs written here, put in a local repository by
# createrepo_c and installed offline by dnf 4 into the root (dnf --installroot, no other
# repository), which writes a real rpmdb.sqlite and a real /var/lib/dnf/history.sqlite. The
# transactions, each run under a login uid written to /proc/self/loginuid (dnf records the
# audit login uid, not the effective one):
#   1 alice (1000)  install acme-hello: acme-libhello as its dependency, acme-extras as a
#                   weak one (Recommends)
#   2 alice         install acme-tool (epoch 1, noarch)
#   3 root (0)      remove acme-tool
#   4 bob (1001)    install acme-tool again: removed, then reinstalled
#   5 alice         install acme-upd-1.0
#   6 unset         upgrade acme-upd to 1.1 (no login uid: as from a service or the installer)
#   7 alice         install acme-gone, 8 alice remove acme-gone, after which rpm alone installs
#                   it again: the history says it was removed
#   9 uid 1234      install acme-marked (1234 is in no passwd line), the repository's name set
#                   on the command line with control bytes in it; then alice's dnf mark remove
#                   acme-marked (10): a reason change to dependency
#  11 alice         install acme-temp, 12 remove it: history naming a package not installed
# and acme-bare is installed by rpm alone, unknown to dnf.
#
# dnf5: Debian packages no dnf 5, so its root holds the same rpmdb.sqlite and a
# transaction_history.sqlite made here by sqlite3 from libdnf5's own schema
# (libdnf5/transaction/db/sql/create_tables.sql, the tables read), with rows as dnf 5 writes
# them, and packages.toml in the format libdnf5's system state writes (toml11's).
#
# The databases are vacuumed into 1 KiB pages to keep the fixture small.
# Needs: apt-get install -y dnf rpm createrepo-c sqlite3 (run as root, writing loginuid).
set -eu
cd "$(dirname "$0")"
here=$PWD
# A fixed build directory, so that the command lines dnf records are the same on every run.
b=/tmp/onus-dnf-fixture
rm -rf "$b"
trap 'rm -rf "$b"' EXIT
rm -rf dnf4 dnf5
mkdir -p "$b/specs" "$b/home"
export HOME="$b/home"
echo '%_dbpath /var/lib/rpm' >"$HOME/.rpmmacros"

spec() { # name epoch version release buildarch extra
	{
		echo "Name: $1"
		[ -n "$2" ] && echo "Epoch: $2"
		echo "Version: $3"
		echo "Release: $4"
		echo "Summary: $1, a test package"
		echo "License: MIT"
		[ -n "$5" ] && echo "BuildArch: $5"
		[ -n "$6" ] && printf '%s\n' "$6"
		printf '\n%%description\n%s, a test package.\n\n%%files\n' "$1"
	} >"$b/specs/$1-$3.spec"
	rpmbuild --quiet -bb --define "_topdir $b/build" --define "_rpmdir $b/repo" \
		--define "_buildhost fixture" "$b/specs/$1-$3.spec"
}
spec acme-hello "" 1.0 1 "" "Requires: acme-libhello
Recommends: acme-extras"
spec acme-libhello "" 2.1 3 "" ""
spec acme-extras "" 0.5 1 noarch ""
spec acme-tool 1 3.0 1 noarch ""
spec acme-upd "" 1.0 1 "" ""
spec acme-upd "" 1.1 1 "" ""
spec acme-gone "" 1.0 1 noarch ""
spec acme-marked "" 4.2 1 "" ""
spec acme-temp "" 0.1 1 noarch ""
spec acme-bare "" 7.0 2 noarch ""
createrepo_c -q "$b/repo"

R=$b/root
mkdir -p "$R/etc"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'bob:x:1001:1001::/home/bob:/bin/sh' >"$R/etc/passwd"

cat >"$b/dnf.conf" <<CONF
[main]
assumeyes=True
reposdir=/dev/null
cachedir=$b/cache
plugins=False
[local]
name=local
baseurl=file://$b/repo
gpgcheck=False
CONF
dnf() { # loginuid args...
	uid=$1
	shift
	sh -c 'if [ "$0" != unset ]; then echo "$0" >/proc/self/loginuid; fi; exec "$@"' "$uid" \
		/usr/bin/dnf --installroot="$R" --releasever=9 --config="$b/dnf.conf" "$@" >/dev/null
}
dnf 1000 install acme-hello
dnf 1000 install acme-tool
dnf 0 remove acme-tool
dnf 1001 install acme-tool
dnf 1000 install acme-upd-1.0
dnf unset upgrade acme-upd
dnf 1000 install acme-gone
dnf 1000 remove acme-gone
rpm --root "$R" --dbpath /var/lib/rpm -i --nodeps "$b/repo/noarch/acme-gone-1.0-1.noarch.rpm" \
	"$b/repo/noarch/acme-bare-7.0-2.noarch.rpm" 2>/dev/null
dnf 1234 --setopt="local.name=$(printf 'local\033[31m')" install acme-marked

# 1 KiB pages (the reader takes any size sqlite does) keep the fixture small; the history is
# put back in WAL mode, in which dnf keeps it. While another process holds the database open
# (PackageKit does), dnf's connection is not the last one and does not checkpoint when it
# closes: the last three transactions stay in the -wal file alone, as on such a host.
compact() { # db
	sqlite3 "$1" "PRAGMA journal_mode=DELETE; PRAGMA page_size=1024; VACUUM;" >/dev/null
}
compact "$R/var/lib/dnf/history.sqlite"
sqlite3 "$R/var/lib/dnf/history.sqlite" "PRAGMA journal_mode=WAL;" >/dev/null
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("SELECT count(*) FROM trans").fetchall()
print(flush=True); time.sleep(600)' "$R/var/lib/dnf/history.sqlite" >"$b/holder" &
holder=$!
until [ -s "$b/holder" ]; do sleep 0.1; done
dnf 1000 mark remove acme-marked
dnf 1000 install acme-temp
dnf 1000 remove acme-temp
kill -9 "$holder" # gone without a checkpoint either
wait "$holder" 2>/dev/null || true

test -s "$R/var/lib/dnf/history.sqlite-wal"
compact "$R/var/lib/rpm/rpmdb.sqlite"
rm -rf "$R/var/log" "$R/var/cache" "$R/tmp" "$R/var/lib/dnf/history.sqlite-shm" "$R/var/lib/rpm/rpmdb.sqlite-"* \
	"$R/var/lib/rpm/.rpm.lock" "$R/etc/dnf" "$R/var/lib/dnf/repos" "$R/var/tmp"
find "$R" -depth -type d -empty -delete
cp -a "$R" "$here/dnf4"

R=$here/dnf5
mkdir -p "$R/usr/lib/sysimage/rpm" "$R/usr/lib/sysimage/libdnf5"
mkdir -p "$R/etc" && cp dnf4/etc/passwd "$R/etc/"
cp dnf4/var/lib/rpm/rpmdb.sqlite "$R/usr/lib/sysimage/rpm/"
sqlite3 "$R/usr/lib/sysimage/libdnf5/transaction_history.sqlite" <<'SQL' >/dev/null
BEGIN TRANSACTION;
CREATE TABLE "trans_state" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_state" VALUES (1, 'Started'), (2, 'Ok'), (3, 'Error');
CREATE TABLE "trans" (
    "id" INTEGER,
    "dt_begin" INTEGER NOT NULL,                      /* (unix timestamp) date and time of transaction begin */
    "dt_end" INTEGER,                                 /* (unix timestamp) date and time of transaction end */
    "rpmdb_version_begin" TEXT,
    "rpmdb_version_end" TEXT,
    "releasever" TEXT NOT NULL,                       /* var: $releasever */
    "user_id" INTEGER NOT NULL,                       /* user ID (UID) */
    "description" TEXT,                               /* A description of the transaction (e.g. the CLI command being executed) */
    "comment" TEXT,                                   /* An arbitrary comment */
    "state_id" INTEGER,                               /* (enum) */
    PRIMARY KEY("id" AUTOINCREMENT),
    FOREIGN KEY("state_id") REFERENCES "trans_state"("id")
);
CREATE TABLE "repo" ("id" INTEGER, "repoid" TEXT NOT NULL, PRIMARY KEY("id"));
CREATE TABLE "pkg_name" ("id" INTEGER, "name" TEXT NOT NULL UNIQUE, PRIMARY KEY("id"));
CREATE TABLE "arch" ("id" INTEGER, "name" TEXT NOT NULL UNIQUE, PRIMARY KEY("id"));
CREATE TABLE "item" ("id" INTEGER, PRIMARY KEY("id"));
CREATE TABLE "trans_item_action" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_item_action" VALUES (1, 'Install'), (2, 'Upgrade'), (3, 'Downgrade'), (4, 'Reinstall'), (5, 'Remove'), (6, 'Replaced'), (7, 'Reason Change');
CREATE TABLE "trans_item_reason" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_item_reason" VALUES (0, 'None'), (1, 'Dependency'), (2, 'User'), (3, 'Clean'), (4, 'Weak Dependency'), (5, 'Group'), (6, 'External User');
CREATE TABLE "trans_item_state" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_item_state" VALUES (1, 'Started'), (2, 'Ok'), (3, 'Error');
CREATE TABLE "trans_item" (
    "id" INTEGER,
    "trans_id" INTEGER,
    "item_id" INTEGER,
    "repo_id" INTEGER,
    "action_id" INTEGER NOT NULL,    /* (enum) */
    "reason_id" INTEGER NOT NULL,    /* (enum) */
    "state_id" INTEGER NOT NULL,     /* (enum) */
    PRIMARY KEY("id" AUTOINCREMENT),
    FOREIGN KEY("trans_id") REFERENCES "trans"("id"),
    FOREIGN KEY("item_id") REFERENCES "item"("id"),
    FOREIGN KEY("repo_id") REFERENCES "repo"("id"),
    FOREIGN KEY("action_id") REFERENCES "trans_item_action"("id"),
    FOREIGN KEY("reason_id") REFERENCES "trans_item_reason"("id"),
    FOREIGN KEY("state_id") REFERENCES "trans_item_state"("id")
);
CREATE TABLE "rpm" (
    "item_id" INTEGER NOT NULL UNIQUE,
    "name_id" INTEGER NOT NULL,
    "epoch" INTEGER NOT NULL,                 /* empty epoch is stored as 0 */
    "version" TEXT NOT NULL,
    "release" TEXT NOT NULL,
    "arch_id" INTEGER NOT NULL,
    FOREIGN KEY("item_id") REFERENCES "item"("id"),
    FOREIGN KEY("name_id") REFERENCES "pkg_name"("id"),
    FOREIGN KEY("arch_id") REFERENCES "arch"("id"),
    CONSTRAINT "rpm_unique_nevra" UNIQUE ("name_id", "epoch", "version", "release", "arch_id")
);
CREATE TABLE "config" ("key" TEXT, "value" TEXT NOT NULL, PRIMARY KEY("key"));
INSERT INTO "config" VALUES ('version', '1.1');
CREATE INDEX "pkg_name_name" ON "pkg_name"("name");
CREATE INDEX "trans_item_trans_id" ON "trans_item"("trans_id");
CREATE INDEX "trans_item_item_id" ON "trans_item"("item_id");

INSERT INTO repo VALUES (1, 'fedora'), (2, '@System');
INSERT INTO pkg_name (name) VALUES ('acme-extras'), ('acme-hello'), ('acme-libhello'), ('acme-tool'),
    ('acme-upd'), ('acme-gone'), ('acme-marked'), ('acme-temp');
INSERT INTO arch (name) VALUES ('noarch'), ('x86_64');
INSERT INTO item (id) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9);
INSERT INTO rpm VALUES (1, 1, 0, '0.5', '1', 1), (2, 2, 0, '1.0', '1', 2), (3, 3, 0, '2.1', '3', 2),
    (4, 4, 1, '3.0', '1', 1), (5, 5, 0, '1.0', '1', 2), (6, 5, 0, '1.1', '1', 2), (7, 6, 0, '1.0', '1', 1),
    (8, 7, 0, '4.2', '1', 2), (9, 8, 0, '0.1', '1', 1);
-- dnf 5 records the whole command line, and the login uid as an unsigned number.
INSERT INTO trans (dt_begin, dt_end, rpmdb_version_begin, rpmdb_version_end, releasever, user_id, description, comment, state_id) VALUES
    (1796680001, 1796680002, '', '', '41', 1000, 'dnf install acme-hello', '', 2),
    (1796680101, 1796680102, '', '', '41', 1000, 'dnf install acme-tool', '', 2),
    (1796680201, 1796680202, '', '', '41', 0, 'dnf remove acme-tool', '', 2),
    (1796680301, 1796680302, '', '', '41', 1001, 'dnf install acme-tool', '', 2),
    (1796680401, 1796680402, '', '', '41', 1000, 'dnf install acme-upd-1.0', '', 2),
    (1796680501, 1796680502, '', '', '41', 4294967295, 'dnf upgrade acme-upd', '', 2),
    (1796680601, 1796680602, '', '', '41', 1000, 'dnf install acme-gone', '', 2),
    (1796680701, 1796680702, '', '', '41', 1000, 'dnf remove acme-gone', '', 2),
    (1796680801, 1796680802, '', '', '41', 1234, 'dnf install acme-marked --setopt=fedora.name=' || char(27) || '[31m', '', 2),
    (1796680901, 1796680902, '', '', '41', 1000, 'dnf mark dependency acme-marked', '', 2),
    (1796681001, 1796681002, '', '', '41', 1000, 'dnf install acme-temp', '', 2),
    (1796681101, 1796681102, '', '', '41', 1000, 'dnf remove acme-temp', '', 2),
    (1796681201, NULL, '', '', '41', 1001, 'dnf reinstall acme-hello', '', 1);
INSERT INTO trans_item (trans_id, item_id, repo_id, action_id, reason_id, state_id) VALUES
    (1, 1, 1, 1, 4, 2), (1, 2, 1, 1, 2, 2), (1, 3, 1, 1, 1, 2),
    (2, 4, 1, 1, 2, 2),
    (3, 4, 2, 5, 2, 2),
    (4, 4, 1, 1, 2, 2),
    (5, 5, 1, 1, 2, 2),
    (6, 6, 1, 2, 2, 2), (6, 5, 2, 6, 2, 2),
    (7, 7, 1, 1, 2, 2),
    (8, 7, 2, 5, 2, 2),
    (9, 8, 1, 1, 2, 2),
    (10, 8, 2, 7, 1, 2),
    (11, 9, 1, 1, 2, 2),
    (12, 9, 2, 5, 2, 2),
    (13, 2, 1, 4, 2, 1);
COMMIT;
SQL
compact "$R/usr/lib/sysimage/libdnf5/transaction_history.sqlite"
# As libdnf5 writes it (toml11 4: a one-line table per package); acme-gone and acme-bare were
# installed by rpm alone, which dnf 5 records as an external user's.
cat >"$R/usr/lib/sysimage/libdnf5/packages.toml" <<'TOML'
version = "1.0"

[packages]
"acme-bare.noarch" = { reason = "External User" }
"acme-extras.noarch" = { reason = "Weak Dependency" }
"acme-gone.noarch" = { reason = "External User" }
"acme-hello.x86_64" = { reason = "User" }
"acme-libhello.x86_64" = { reason = "Dependency" }
"acme-marked.x86_64" = { reason = "Dependency" }
"acme-tool.noarch" = { reason = "User" }
"acme-upd.x86_64" = { reason = "User" }
TOML
