#!/bin/sh
# onus-agent postinstall: reload systemd, enable onus-agent.service on a first install, and
# start it only when it is configured (a collector_url, and the enroll secret in place);
# otherwise say what to configure.
#   deb: postinst configure [OLD-VERSION];  rpm: %post 1 (install) | 2 (upgrade)
# An upgrade restarts the service if it is running and leaves it enabled or disabled as it
# was. With DPKG_ROOT set (dpkg --root with --force-script-chrootless) there is no running
# systemd to talk to: the unit is enabled in that root and nothing is started.
set -e

case "$1" in
configure) if [ -z "$2" ]; then first=yes; else first=; fi ;;
1) first=yes ;;
2) first= ;;
*) exit 0 ;;
esac

root="${DPKG_ROOT:-}"
name=onus-agent
unit=$name.service
conf=/etc/onus/agent.yaml

# setting KEY: the value of the active top-level "KEY: value" line of the configuration,
# without quotes or a trailing comment; empty when the key is not set.
setting() {
	sed -n "s/^$1:[[:space:]]*//p" "$root$conf" 2>/dev/null | tail -n 1 |
		sed -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//' -e "s/^[\"']\(.*\)[\"']\$/\1/"
}

# The state directory holds the host's credential: root's alone.
if [ -n "$first" ]; then
	chown 0:0 "$root/var/lib/onus-agent" && chmod 0700 "$root/var/lib/onus-agent"
fi

systemd=
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemd=yes
	systemctl daemon-reload
fi
# Enabling works without a running systemd too (in an image build or a container).
if [ -n "$first" ] && command -v systemctl >/dev/null 2>&1; then
	if [ -n "$root" ]; then
		systemctl --root="$root" enable "$unit"
	else
		systemctl enable "$unit"
	fi
fi

missing=
need() { missing="$missing
  - $1"; }
if [ -z "$(setting collector_url)" ]; then
	need "set collector_url in $conf, e.g. collector_url: https://onus.example.com:8443"
fi
secret=$(setting enroll_secret_file)
if [ -z "$secret" ]; then
	need "set enroll_secret_file in $conf"
elif [ ! -e "$root$secret" ]; then
	need "copy the fleet's enroll secret (the collector's enroll_secret_file) to $secret:
      install -m 0600 enroll-secret $secret"
fi

# An upgrade restarts a running service onto the new binary.
if [ -z "$first" ] && [ -n "$systemd" ]; then
	systemctl try-restart "$unit"
fi
if [ -n "$missing" ]; then
	cat <<MSG
$name: not started: it is not configured yet.$missing
  then: systemctl start $name
MSG
	exit 0
fi
if [ -n "$first" ] && [ -n "$systemd" ]; then
	if systemctl start "$unit"; then
		echo "$name: configured and started"
	else
		echo "$name: configured, but it did not start: journalctl -u $name"
	fi
elif [ -n "$first" ]; then
	echo "$name: configured; start it with: systemctl start $name"
elif [ -z "$root" ] && [ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" = disabled ]; then
	echo "$name: configured, but $unit is disabled; enable it with: systemctl enable --now $name"
fi
