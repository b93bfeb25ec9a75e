#!/bin/sh
# Builds the systemd unit tree of the debian12 fixture root from Debian 12's own packages:
#   agent/testdata/roots/debian12/usr/lib/systemd/system   unit files as the packages ship them
#   agent/testdata/roots/debian12/lib -> usr/lib           usrmerge
#   agent/testdata/roots/debian12/etc/systemd/system       enablement links, an alias, a mask,
#                                                          as "systemctl enable/mask" leave them
#   agent/testdata/roots/debian12/run/systemd/generator*   systemd-sysv-generator's real output
#                                                          for exim4's init script
# Needs: a Debian 12 host with apt sources, and the packages apt, dpkg and systemd (for
# /lib/systemd/system-generators/systemd-sysv-generator). Run from the repository root as root
# (apt-get download): sh agent/testdata/scripts/systemd-debian12.sh. It is idempotent: the tree
# is rebuilt from scratch each run.
set -eu

dest=$(pwd)/agent/testdata/roots/debian12
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download -q systemd systemd-timesyncd apt e2fsprogs postgresql-common \
	dbus dbus-system-bus-common openssh-server cron nginx-common rsyslog exim4-base >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
src=$work/x/lib/systemd/system

rm -rf "$dest/usr/lib/systemd" "$dest/etc/systemd" "$dest/run/systemd" "$dest/lib"
mkdir -p "$dest/usr/lib/systemd/system" "$dest/etc/systemd/system" "$dest/run/systemd"
ln -s usr/lib "$dest/lib"
lib=$dest/usr/lib/systemd/system
for u in ssh.service ssh.socket cron.service nginx.service rsyslog.service \
	postgresql.service postgresql@.service systemd-journald.service systemd-journald.socket \
	systemd-timesyncd.service systemd-hostnamed.service getty@.service dbus.service dbus.socket \
	apt-daily.service apt-daily.timer apt-daily-upgrade.service apt-daily-upgrade.timer \
	e2scrub_all.service e2scrub_all.timer e2scrub_reap.service exim4-base.service exim4-base.timer; do
	cp "$src/$u" "$lib/$u"
done
# Symbolic links the packages ship: aliases and vendor masks.
ln -s getty@.service "$lib/autovt@.service"
ln -s systemd-hostnamed.service "$lib/dbus-org.freedesktop.hostname1.service"
ln -s /dev/null "$lib/hwclock.service"
ln -s /dev/null "$lib/cryptdisks.service"

# What the maintainer scripts' "systemctl enable" left, and an administrator's mask.
etc=$dest/etc/systemd/system
mkdir -p "$etc/multi-user.target.wants" "$etc/timers.target.wants" "$etc/getty.target.wants" \
	"$etc/sysinit.target.wants"
for u in ssh.service cron.service nginx.service rsyslog.service postgresql.service e2scrub_reap.service; do
	ln -s "/lib/systemd/system/$u" "$etc/multi-user.target.wants/$u"
done
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer exim4-base.timer; do
	ln -s "/lib/systemd/system/$u" "$etc/timers.target.wants/$u"
done
ln -s /lib/systemd/system/getty@.service "$etc/getty.target.wants/getty@tty1.service"
ln -s /lib/systemd/system/systemd-timesyncd.service "$etc/sysinit.target.wants/systemd-timesyncd.service"
ln -s /lib/systemd/system/systemd-timesyncd.service "$etc/dbus-org.freedesktop.timesync1.service"
ln -s /lib/systemd/system/ssh.service "$etc/sshd.service"
ln -s /lib/systemd/system/rsyslog.service "$etc/syslog.service"
ln -s /dev/null "$etc/apt-daily-upgrade.timer"
mkdir -p "$etc/nginx.service.d"
printf '[Service]\nLimitNOFILE=65536\n' >"$etc/nginx.service.d/override.conf"

# systemd-sysv-generator on exim4's init script, enabled in runlevels 2-5 as update-rc.d does.
mkdir -p "$work/init.d" "$work/gen/normal" "$work/gen/early" "$work/gen/late"
cp "$work/x/etc/init.d/exim4" "$work/init.d/exim4"
for r in 2 3 4 5; do mkdir -p "$work/rc$r.d" && ln -s ../init.d/exim4 "$work/rc$r.d/S01exim4"; done
SYSTEMD_SYSVINIT_PATH=$work/init.d SYSTEMD_SYSVRCND_PATH=$work SYSTEMD_UNIT_PATH=$src \
	/lib/systemd/system-generators/systemd-sysv-generator "$work/gen/normal" "$work/gen/early" "$work/gen/late"
sed -i "s|$work/init.d|/etc/init.d|g" "$work/gen/late/exim4.service"
cp -a "$work/gen/late" "$dest/run/systemd/generator.late"
# postgresql-generator's wants link for the cluster found in /etc/postgresql.
mkdir -p "$dest/run/systemd/generator/postgresql.service.wants"
ln -s /lib/systemd/system/postgresql@.service "$dest/run/systemd/generator/postgresql.service.wants/postgresql@15-main.service"
