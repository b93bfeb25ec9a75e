#!/bin/sh
# Measures a collector in its own process: starts bin/onus-collector with its embedded etcd
# (plain HTTP on a free 127.0.0.1 port, data in a temporary directory), times its cold start
# to /readyz, runs bin/onus-loadgen against it with --collector-pid (the collector's own CPU
# and memory per phase, from /proc), then times a few GET /metrics and sizes the data
# directory, and restarts the collector on that data to time its restart to /readyz. The
# collector is stopped when the script ends, however it ends.
#
#   HOSTS=1000 STEADY=2m INTERVAL=10s deploy/local/loadtest-split.sh
#
# BIN (bin) holds the binaries (make build); JSON=FILE keeps onus-loadgen's JSON results;
# KEEP=1 keeps the temporary directory (data, secrets, collector.log); LOADGEN_ARGS adds
# flags to onus-loadgen (e.g. "--churn 0.1 --concurrency 32").
set -eu

BIN=${BIN:-bin}
HOSTS=${HOSTS:-1000}
STEADY=${STEADY:-2m}
INTERVAL=${INTERVAL:-10s}
JSON=${JSON:-}
KEEP=${KEEP:-}
LOADGEN_ARGS=${LOADGEN_ARGS:-}

for b in onus-collector onus-loadgen; do
	[ -x "$BIN/$b" ] || { echo "loadtest-split: no $BIN/$b (make build)" >&2; exit 1; }
done
command -v curl >/dev/null 2>&1 || { echo "loadtest-split: needs curl" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/onus-loadtest.XXXXXX")
umask 077
pid=""
stop() {
	trap - INT TERM EXIT
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "$KEEP" ]; then
		echo "loadtest-split: kept $dir"
	else
		rm -rf "$dir"
	fi
}
trap stop EXIT
trap 'exit 130' INT TERM

for f in enroll-secret admin-token; do
	od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$dir/$f"
done

# now_ms prints the wall clock in milliseconds (GNU date).
now_ms() { date +%s%3N; }

# free_port prints a random port of 20000-59999 nobody listens on (the collector may still
# lose a race for it: start retries).
free_port() {
	while :; do
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		if ! command -v ss >/dev/null 2>&1 || [ -z "$(ss -Hltn "sport = :$port")" ]; then
			echo "$port"
			return
		fi
	done
}

# start starts the collector on a free port and waits for /readyz; it sets pid, url and
# ready_ms (launch to the first 200 of /readyz). "start fresh" empties the data directory
# first; "start" keeps it (a restart).
start() {
	tries=0
	while [ $tries -lt 5 ]; do
		tries=$((tries + 1))
		port=$(free_port)
		url="http://127.0.0.1:$port"
		[ "${1:-}" = fresh ] && rm -rf "$dir/data"
		t0=$(now_ms)
		"$BIN/onus-collector" serve --listen-address "127.0.0.1:$port" --insecure-http --data-dir "$dir/data" \
			--enroll-secret-file "$dir/enroll-secret" --admin-token-file "$dir/admin-token" \
			--log-level warn >>"$dir/collector.log" 2>&1 &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then
				ready_ms=$(($(now_ms) - t0))
				return 0
			fi
			if [ $(($(now_ms) - t0)) -gt 120000 ]; then
				echo "loadtest-split: the collector was not ready after 2 minutes" >&2
				exit 1
			fi
			sleep 0.02
		done
		wait "$pid" 2>/dev/null || true
		pid=""
	done
	echo "loadtest-split: the collector did not start; its log:" >&2
	tail -20 "$dir/collector.log" >&2
	exit 1
}

echo "loadtest-split: load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
start fresh
echo "loadtest-split: collector pid $pid at $url, cold start to ready ${ready_ms} ms, data in $dir/data"

json="$dir/result.json"
# shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
"$BIN/onus-loadgen" --collector-url "$url" --insecure-http --enroll-secret-file "$dir/enroll-secret" \
	--admin-token-file "$dir/admin-token" --collector-pid "$pid" --hosts "$HOSTS" \
	--steady-duration "$STEADY" --interval "$INTERVAL" --json "$json" $LOADGEN_ARGS || rc=$?
rc=${rc:-0}
[ -n "$JSON" ] && [ -f "$json" ] && cp "$json" "$JSON"

echo
echo "== after the run"
for i in 1 2 3 4 5; do
	curl -fsS -o /dev/null -w "   GET /metrics $i: %{time_total}s, %{size_download} bytes\n" "$url/metrics" ||
		echo "   GET /metrics $i: failed"
done
if kill -0 "$pid" 2>/dev/null; then
	awk '/^(VmRSS|VmHWM):/ {printf "   collector %s %.1f MiB\n", $1, $2 / 1024}' "/proc/$pid/status"
fi
member=$(find "$dir/data" -type d -name member | head -1)
echo "   data dir $(du -sk "$dir/data" | cut -f1) KiB in all: etcd bbolt file $(du -sk "$member/snap/db" 2>/dev/null | cut -f1) KiB, WAL $(du -sk "$member/wal" 2>/dev/null | cut -f1) KiB"
cold_ms=$ready_ms
# A restart on the data the run left: the time to load the store into a ready collector.
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=""
start
echo "   cold start to ready (empty store) ${cold_ms} ms; restart to ready on this data ${ready_ms} ms, RSS then $(awk '/^VmRSS:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")"
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$dir/collector.log" ]; then
	echo "   collector log: $(wc -l <"$dir/collector.log") lines (KEEP=1 keeps it), last:"
	tail -3 "$dir/collector.log" | sed 's/^/     /'
fi
exit "$rc"
