#!/bin/sh
# Runs Onus on this machine: a collector with its embedded etcd (data under RUN_DIR, plain
# HTTP on 127.0.0.1) and an agent inventorying this host, enrolled to it. Ctrl-C stops both.
#
#   RUN_DIR=.run BIN=bin HOST_ROOT=/ LISTEN=127.0.0.1:8080 deploy/local/run.sh
set -eu

RUN_DIR=${RUN_DIR:-.run}
BIN=${BIN:-bin}
HOST_ROOT=${HOST_ROOT:-/}
LISTEN=${LISTEN:-127.0.0.1:8080}
URL="http://$LISTEN"

mkdir -p "$RUN_DIR/collector" "$RUN_DIR/agent"
chmod 700 "$RUN_DIR"
umask 077
# Secrets are generated once and kept, so the agent's enrollment survives restarts.
for f in enroll-secret admin-token; do
	[ -s "$RUN_DIR/$f" ] || od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$RUN_DIR/$f"
done

# ready asks the collector's /readyz (without curl or wget, it waits 2 s).
ready() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS "$URL/readyz" >/dev/null 2>&1
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O /dev/null "$URL/readyz"
	else
		sleep 2
	fi
}
if command -v curl >/dev/null 2>&1 && ready; then
	echo "onus: something already answers on $LISTEN; set LISTEN=127.0.0.1:PORT" >&2
	exit 1
fi

"$BIN/onus-collector" serve --listen-address "$LISTEN" --insecure-http \
	--data-dir "$RUN_DIR/collector" \
	--enroll-secret-file "$RUN_DIR/enroll-secret" --admin-token-file "$RUN_DIR/admin-token" &
collector=$!
agent=""
stop() {
	trap - INT TERM EXIT
	[ -n "$agent" ] && kill "$agent" 2>/dev/null || true
	kill "$collector" 2>/dev/null || true
	wait 2>/dev/null || true
	echo "onus: stopped"
}
trap stop INT TERM EXIT

i=0
until ready; do
	i=$((i + 1))
	if [ $i -gt 300 ] || ! kill -0 "$collector" 2>/dev/null; then
		echo "onus: the collector did not become ready" >&2
		exit 1
	fi
	sleep 0.2
done
if ! kill -0 "$collector" 2>/dev/null; then
	echo "onus: the collector stopped (is $LISTEN taken? set LISTEN=127.0.0.1:PORT)" >&2
	exit 1
fi

"$BIN/onus-agent" run --collector-url "$URL" --insecure-http \
	--enroll-secret-file "$RUN_DIR/enroll-secret" --state-dir "$RUN_DIR/agent" \
	--host-root "$HOST_ROOT" --label env=local &
agent=$!

token=$(cat "$RUN_DIR/admin-token")
cat <<MSG

onus is running: collector $URL (embedded etcd in $RUN_DIR/collector), agent for this host.
  metrics:   curl -s $URL/metrics | grep ^onus_
  hosts:     curl -s -H "Authorization: Bearer $token" $URL/api/v1/hosts
  software:  curl -s -H "Authorization: Bearer $token" '$URL/api/v1/software?limit=20'
  new:       curl -s -H "Authorization: Bearer $token" '$URL/api/v1/software?installed=true'
  services:  curl -s -H "Authorization: Bearer $token" '$URL/api/v1/services?kind=port'
Ctrl-C stops both.

MSG
wait "$collector"
