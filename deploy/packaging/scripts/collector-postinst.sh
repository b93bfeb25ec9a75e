#!/bin/sh
# onus-collector postinstall: reload systemd, enable onus-collector.service on a first
# install, and start it only when it is configured; otherwise say what to configure.
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
name=onus-collector
unit=$name.service
conf=/etc/onus/collector.yaml
state=/var/lib/onus-collector

# setting KEY: the value of the active top-level "KEY: value" line of the configuration,
# without quotes or a trailing comment; empty when the key is not set.
setting() {
	sed -n "s/^$1:[[:space:]]*//p" "$root$conf" 2>/dev/null | tail -n 1 |
		sed -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//' -e "s/^[\"']\(.*\)[\"']\$/\1/"
}

# Ownership: the state directory and the configuration belong to the group onus. dpkg and
# rpm apply the package's owners already; this covers an account that did not resolve then.
if [ -n "$first" ]; then
	if [ -n "$root" ]; then
		uid=$(awk -F: '$1 == "onus" { print $3 }' "$root/etc/passwd")
		gid=$(awk -F: '$1 == "onus" { print $3 }' "$root/etc/group")
		owner="$uid:$gid"
		group="$gid"
	else
		owner=onus:onus
		group=onus
	fi
	chown "$owner" "$root$state" && chmod 0750 "$root$state"
	chgrp "$group" "$root$conf" && chmod 0640 "$root$conf"
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

# What the collector needs before it can start, as the configuration names it.
missing=
need() { missing="$missing
  - $1"; }
secret=$(setting enroll_secret_file)
token=$(setting admin_token_file)
if [ -z "$secret" ]; then
	need "set enroll_secret_file in $conf"
elif [ ! -e "$root$secret" ]; then
	need "create the enroll secret $secret, which agents present once:
      (umask 027; openssl rand -hex 32 > $secret); chgrp onus $secret"
fi
if [ -z "$token" ]; then
	need "set admin_token_file in $conf"
elif [ ! -e "$root$token" ]; then
	need "create the admin token $token, for the API and the client commands:
      (umask 027; openssl rand -hex 32 > $token); chgrp onus $token"
fi
if [ "$(setting insecure_http)" != true ]; then
	for key in tls_cert_file tls_key_file; do
		f=$(setting $key)
		if [ -z "$f" ]; then
			need "set $key in $conf (or insecure_http: true, for a test only)"
		elif [ ! -e "$root$f" ]; then
			need "put the TLS file $f ($key) in place, readable by the group onus"
		fi
	done
	case "$missing" in
	*"put the TLS file"*) need "(onus-collector certs --out-dir /etc/onus/tls --host <this host's name> makes a private CA and the certificate)" ;;
	esac
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
