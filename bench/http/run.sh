#!/usr/bin/env bash
# bench/http/run.sh - HTTP throughput of netprobe side by side with nginx and
# a bare libmicrohttpd hello world, measured with the same wrk settings in one
# run, on loopback. See bench/README.md for what is compared and why.
#
#   cmake --build build && bench/http/run.sh
#
# Environment (all optional):
#   DURATION=10s  CONNS=64  THREADS=2   wrk -t$THREADS -c$CONNS -d$DURATION
#   WARMUP=2s          unmeasured wrk run before each measurement (0: none)
#   ROUNDS=1           repeat the three measurements; the median round counts
#   NGINX_ACCESS_LOG=file   nginx logs every request to a file, as netprobe
#                           does (one write per request); "off" disables it
#   BUILD_DIR=build    CMake build directory (configured here if missing)
#   KEEP_TMP=1         keep the temp dir (configs, logs, raw wrk output)
#
# Exits 1 if a tool is missing, the build fails, a server does not start or
# answers other bytes than the others, or wrk fails. The goals (netprobe at
# least 1.0x nginx and 0.8x the bare hello world) are printed as PASS/MISS
# lines and do not change the exit status.
#
# Every server is started by this script on 127.0.0.1, on ports it picked
# free, one at a time, and stopped by its PID when its measurement is done
# (and on any exit, by the EXIT trap). Nothing else is touched.
#
# shellcheck disable=SC2317  # start_* and cleanup are called indirectly
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-1}
NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-file}
KEEP_TMP=${KEEP_TMP:-0}
WORKERS=2                      # netprobe workers = nginx workers = MHD daemons
GOAL_NGINX=1.0
GOAL_MHD=0.8
SERVERS=(netprobe nginx mhd_hello)

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---- arguments ----

# wrk durations: a number with an optional s/m/h unit; bounded to 10 minutes.
duration_s() {
	local v=$1 n unit
	[[ $v =~ ^([0-9]+)([smh]?)$ ]] || return 1
	n=${BASH_REMATCH[1]}
	unit=${BASH_REMATCH[2]:-s}
	case $unit in
	s) echo "$n" ;;
	m) echo $((n * 60)) ;;
	h) echo $((n * 3600)) ;;
	esac
}
dur=$(duration_s "$DURATION") || die "DURATION='$DURATION' is not a wrk duration (e.g. 10s, 1m)"
((dur >= 1 && dur <= 600)) || die "DURATION=$DURATION must be between 1s and 10m"
if [[ $WARMUP != 0 ]]; then
	wdur=$(duration_s "$WARMUP") || die "WARMUP='$WARMUP' is not a wrk duration (or 0)"
	((wdur <= 60)) || die "WARMUP=$WARMUP must be at most 60s"
fi
int_in "$CONNS" 1 10000 || die "CONNS='$CONNS' must be an integer in [1, 10000]"
int_in "$THREADS" 1 64 || die "THREADS='$THREADS' must be an integer in [1, 64]"
((CONNS >= THREADS)) || die "CONNS ($CONNS) must be at least THREADS ($THREADS)"
int_in "$ROUNDS" 1 10 || die "ROUNDS='$ROUNDS' must be an integer in [1, 10]"
[[ $NGINX_ACCESS_LOG == file || $NGINX_ACCESS_LOG == off ]] ||
	die "NGINX_ACCESS_LOG='$NGINX_ACCESS_LOG' must be 'file' or 'off'"

# ---- tools ----

need wrk wrk
need nginx nginx-light
need curl curl
need python3 python3
need cmake cmake
need_report

# ---- build ----

say "== build ($BUILD_DIR)"
build_log=$(mktemp "${TMPDIR:-/tmp}/netprobe-bench-build.XXXXXX")
# Configure every time (cheap, keeps the cache): a build dir configured
# before bench/bench.cmake existed does not know bench_mhd_hello yet.
if ! cmake -S "$ROOT" -B "$BUILD_DIR" >"$build_log" 2>&1 ||
	! cmake --build "$BUILD_DIR" --target netprobe bench_mhd_hello -j"$(nproc)" \
		>>"$build_log" 2>&1; then
	tail -n 40 "$build_log" >&2
	rm -f "$build_log"
	die "build failed (cmake --build $BUILD_DIR --target netprobe bench_mhd_hello)"
fi
rm -f "$build_log"
NETPROBE=$BUILD_DIR/netprobe
MHD_HELLO=$BUILD_DIR/bench_mhd_hello
[[ -x $NETPROBE && -x $MHD_HELLO ]] || die "build produced no $NETPROBE or $MHD_HELLO"

build_type=$(cache_var CMAKE_BUILD_TYPE)
build_note=""
[[ $(cache_var NETPROBE_SANITIZE) == ON ]] && build_note+=" +ASan/UBSan"
[[ $(cache_var NETPROBE_FUZZ) == ON ]] && build_note+=" +fuzzer instrumentation"
case ${build_type:-none} in
Release | RelWithDebInfo) ;;
*) build_note+=" (not an optimised build)" ;;
esac
if [[ -n $build_note ]]; then
	say "bench: WARNING: build is ${build_type:-no type}$build_note; figures are not representative" >&2
fi

# ---- temp dir, process bookkeeping, cleanup ----

bench_tmp netprobe-bench

# ---- per-process figures ----

rss_kb() {          # VmRSS of one PID in kB, 0 if gone
	local v
	v=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null) || true
	echo "${v:-0}"
}

cpu_ticks() {       # utime+stime of one PID (all its threads), in clock ticks
	local st rest f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	rest=${st##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}

# The processes that make up a server: netprobe and mhd_hello are one
# process; nginx is its master and its workers.
server_pids() { echo "$1"; children_of "$1"; }

sum_rss_kb() { local t=0 p; for p in $(server_pids "$1"); do t=$((t + $(rss_kb "$p"))); done; echo $t; }
sum_ticks() { local t=0 p; for p in $(server_pids "$1"); do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }

CLK_TCK=$(getconf CLK_TCK)

# ---- the three servers ----

EXPECTED=$TMP/expected.body
printf '%s' '{"status":"ok"}' >"$EXPECTED"   # netprobe's GET /healthz body
EXPECTED_CTYPE=application/json

# Each start_* sets PID, URL and LOG, or fails.
start_netprobe() {
	local ports http ltcp ludp
	ports=$(free_ports tcp tcp udp)
	read -r http ltcp ludp <<<"$ports"
	LOG=$TMP/netprobe.log
	"$NETPROBE" --bind 127.0.0.1 --port "$http" --workers "$WORKERS" \
		--access-log --log-level=info \
		--listener-tcp-port "$ltcp" --listener-udp-port "$ludp" \
		--shutdown-grace 2000 >"$LOG" 2>&1 &
	PID=$!
	STARTED+=("$PID")
	URL=http://127.0.0.1:$http/healthz
}

start_nginx() {
	local port prefix alog fcgi=""
	port=$(free_ports tcp)
	prefix=$TMP/nginx
	mkdir -p "$prefix/html" "$prefix/tmp"
	cp "$EXPECTED" "$prefix/html/healthz"
	# Run as root, nginx's workers switch to 'nobody': let them read the file.
	chmod 755 "$TMP" "$prefix" "$prefix/html"
	chmod 644 "$prefix/html/healthz"
	if [[ $NGINX_ACCESS_LOG == file ]]; then
		alog="access_log $prefix/access.log;"
	else
		alog="access_log off;"
	fi
	# Temp paths inside the prefix (the compiled-in ones are under
	# /var/lib/nginx), for each module this nginx has.
	local m
	for m in fastcgi uwsgi scgi; do
		nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
			fcgi+="    ${m}_temp_path $prefix/tmp/$m;"$'\n'
	done
	cat >"$prefix/nginx.conf" <<EOF
# Generated by bench/http/run.sh for one benchmark run.
worker_processes $WORKERS;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;

events {
    worker_connections 4096;
}

http {
    types { }
    default_type application/json;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # netprobe and MHD do not. Same connection behaviour for all three.
    keepalive_requests 1000000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    $alog
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
$fcgi
    server {
        listen 127.0.0.1:$port reuseport;
        server_name bench;
        root $prefix/html;
        location = /healthz { }
        location / { return 404; }
    }
}
EOF
	LOG=$prefix/error.log
	if ! nginx -q -t -e "$LOG" -p "$prefix/" -c "$prefix/nginx.conf" >"$TMP/nginx-t.log" 2>&1; then
		cat "$TMP/nginx-t.log" >&2
		return 1
	fi
	nginx -e "$LOG" -p "$prefix/" -c "$prefix/nginx.conf" -g 'daemon off;' \
		>"$TMP/nginx.out" 2>&1 &
	PID=$!
	STARTED+=("$PID")
	URL=http://127.0.0.1:$port/healthz
}

start_mhd_hello() {
	local port
	port=$(free_ports tcp)
	LOG=$TMP/mhd_hello.log
	"$MHD_HELLO" "$port" >"$LOG" 2>&1 &
	PID=$!
	STARTED+=("$PID")
	URL=http://127.0.0.1:$port/healthz
}

stop_server() {
	local pid=$1 keep=() p
	stop_pid "$pid"
	for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	STARTED=("${keep[@]+"${keep[@]}"}")
}

wait_ready() {      # name pid url log
	local i
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$2" 2>/dev/null; then
			say "bench: $1 exited during start-up; its log ($4):" >&2
			tail -n 20 "$4" >&2 || true
			return 1
		fi
		curl -fsS -o /dev/null --max-time 1 "$3" 2>/dev/null && return 0
		sleep 0.1
	done
	say "bench: $1 did not answer $3 within 10 s; its log ($4):" >&2
	tail -n 20 "$4" >&2 || true
	return 1
}

# Same status, Content-Type and body bytes as netprobe's /healthz.
verify() {          # name url
	local got code ctype hsize
	got=$(curl -sS --max-time 5 -o "$TMP/$1.body" \
		-w '%{http_code} %{content_type} %{size_header}' "$2") || {
		say "bench: $1: GET $2 failed" >&2
		return 1
	}
	read -r code ctype hsize <<<"$got"
	if [[ $code != 200 || $ctype != "$EXPECTED_CTYPE" ]]; then
		say "bench: $1: GET $2 answered $code '$ctype', expected 200 '$EXPECTED_CTYPE'" >&2
		return 1
	fi
	if ! cmp -s "$TMP/$1.body" "$EXPECTED"; then
		say "bench: $1: body differs from netprobe's /healthz body:" >&2
		say "  expected: $(od -An -c "$EXPECTED" | tr -s ' ')" >&2
		say "  got:      $(od -An -c "$TMP/$1.body" | tr -s ' ')" >&2
		return 1
	fi
	HDR_BYTES[$1]=$hsize
	say "   $1: 200 $ctype, body $(wc -c <"$EXPECTED") bytes identical, headers $hsize bytes"
}

# wrk latency figure ("352.00us", "1.02ms", "1.10s") in microseconds.
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000;
		else if (v ~ /m$/) m = 60000000; else if (v ~ /s$/) m = 1000000; else m = 1
		printf "%.0f", n * m }'
}

# shellcheck disable=SC2034  # read through the nameref in val()
declare -A RPS P50 P99 ERRS REQS RSS CPU_US HDR_BYTES
WRK_ARGS=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency)

# shellcheck disable=SC2034  # the arrays are read through the nameref in val()
measure() {         # name round
	local name=$1 r=$2 url=$URL pid=$PID out=$TMP/$1.r$2.wrk t0 t1 sock non2xx
	if [[ $WARMUP != 0 ]]; then
		wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$url" >/dev/null 2>&1 || {
			say "bench: $name: warm-up wrk failed" >&2
			return 1
		}
	fi
	t0=$(sum_ticks "$pid")
	if ! wrk "${WRK_ARGS[@]}" "$url" >"$out" 2>&1; then
		cat "$out" >&2
		say "bench: $name: wrk failed" >&2
		return 1
	fi
	t1=$(sum_ticks "$pid")
	kill -0 "$pid" 2>/dev/null || { say "bench: $name died during the run" >&2; return 1; }
	RSS[$name:$r]=$(sum_rss_kb "$pid")
	RPS[$name:$r]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	REQS[$name:$r]=$(awk '/requests in/ {print $1}' "$out")
	P50[$name:$r]=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
	P99[$name:$r]=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
	sock=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
	ERRS[$name:$r]=$((${sock:-0} + ${non2xx:-0}))
	# Server CPU time per request, in microseconds (all its threads/processes).
	CPU_US[$name:$r]=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${REQS[$name:$r]}" \
		'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
	[[ -n ${RPS[$name:$r]} && -n ${P50[$name:$r]} ]] || {
		cat "$out" >&2
		say "bench: $name: could not read wrk's output" >&2
		return 1
	}
	say "   $name: ${RPS[$name:$r]} req/s, p50 ${P50[$name:$r]} us, p99 ${P99[$name:$r]} us," \
		"errors ${ERRS[$name:$r]}, server CPU ${CPU_US[$name:$r]} us/req"
}

# ---- run ----

say "== netprobe HTTP benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "   machine: $(nproc) CPU(s), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
say "   wrk ${WRK_ARGS[*]} http://127.0.0.1:PORT/healthz (warm-up ${WARMUP}, rounds ${ROUNDS})"
say "   netprobe: $NETPROBE --workers $WORKERS, access log on (to a file), build ${build_type:-?}$build_note"
say "   nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), worker_processes $WORKERS, open_file_cache on, access_log $([[ $NGINX_ACCESS_LOG == file ]] && echo "to a file" || echo off)"
say "   mhd_hello: libmicrohttpd $(pkg-config --modversion libmicrohttpd 2>/dev/null || echo '?'), $WORKERS epoll-thread daemons"

for ((round = 1; round <= ROUNDS; round++)); do
	((ROUNDS > 1)) && say "== round $round/$ROUNDS"
	for name in "${SERVERS[@]}"; do
		"start_$name" || die "$name failed to start"
		wait_ready "$name" "$PID" "$URL" "$LOG" || die "$name failed to start"
		verify "$name" "$URL" || die "$name does not answer the same bytes"
		measure "$name" "$round" || die "$name: measurement failed"
		if [[ $name == netprobe ]]; then
			NP_LOG_LINES=$(grep -c ' access ' "$LOG" || true)
			NP_LOG_BYTES=$(wc -c <"$LOG")
		fi
		stop_server "$PID"
	done
done

# The median round of each server (by req/s) is the one reported.
declare -A PICK
for name in "${SERVERS[@]}"; do
	PICK[$name]=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${RPS[$name:$r]} $r"; done |
		sort -g | sed -n "$(((ROUNDS + 1) / 2))p" | cut -d' ' -f2)
done
val() { local -n arr=$1; echo "${arr[$2:${PICK[$2]}]}"; }

ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

say ""
say "== results (wrk ${WRK_ARGS[*]}$( ((ROUNDS > 1)) && echo ", median of $ROUNDS rounds"))"
printf '%-10s %12s %10s %10s %8s %12s %10s %8s\n' \
	server req/s p50_ms p99_ms errors cpu_us/req RSS_MB hdr_B
for name in "${SERVERS[@]}"; do
	printf '%-10s %12.0f %10s %10s %8s %12s %10s %8s\n' "$name" "$(val RPS "$name")" \
		"$(ms "$(val P50 "$name")")" "$(ms "$(val P99 "$name")")" "$(val ERRS "$name")" \
		"$(val CPU_US "$name")" "$(mb "$(val RSS "$name")")" "${HDR_BYTES[$name]}"
done
say ""
say "RSS after the run: netprobe $(val RSS netprobe) kB (VmRSS, one process," \
	"$WORKERS workers); nginx $(val RSS nginx) kB (VmRSS of master + $WORKERS workers);" \
	"mhd_hello $(val RSS mhd_hello) kB"
say "netprobe access log: ${NP_LOG_LINES:-0} lines, ${NP_LOG_BYTES:-0} bytes in the last round (warm-up included);" \
	"nginx access_log: $NGINX_ACCESS_LOG"
if [[ ${NP_LOG_LINES:-0} == 0 ]]; then
	say "bench: WARNING: netprobe wrote no access-log lines: was access logging on?" >&2
fi
for name in "${SERVERS[@]}"; do
	if [[ $(val ERRS "$name") != 0 ]]; then
		say "bench: WARNING: $name had $(val ERRS "$name") socket errors or non-2xx answers" >&2
	fi
done

r_nginx=$(ratio "$(val RPS netprobe)" "$(val RPS nginx)")
r_mhd=$(ratio "$(val RPS netprobe)" "$(val RPS mhd_hello)")
say ""
printf '%-22s %6sx   goal >= %sx   %s\n' "netprobe/nginx" "$r_nginx" "$GOAL_NGINX" \
	"$(meets "$r_nginx" "$GOAL_NGINX" && echo PASS || echo MISS)"
printf '%-22s %6sx   goal >= %sx   %s\n' "netprobe/mhd_hello" "$r_mhd" "$GOAL_MHD" \
	"$(meets "$r_mhd" "$GOAL_MHD" && echo PASS || echo MISS)"
exit 0
