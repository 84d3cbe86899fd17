#!/usr/bin/env bash
# bench/scan/run.sh - a full TCP connect scan (ports 1-65535) of 127.0.0.1
# by netprobe's GET /scan side by side with nmap -sT, in one run, inside a
# network namespace this script creates (its own loopback: nothing else
# listens there, and no port outside it is touched). See bench/README.md.
#
#   bench/scan/run.sh            # run as root (ip netns); about 30 s
#
# Environment (all optional):
#   ROUNDS=5        measured rounds (contenders interleaved); medians reported
#   CONC=512        netprobe's concurrency= (connects in flight)
#   BUILD_DIR=build CMake build directory holding netprobe
#   KEEP_TMP=1      keep the temp dir
#
# Each round checks that both contenders found exactly the open ports the
# script put there (its listeners and netprobe's own ports); a difference
# exits 1. Goal (printed as PASS/MISS, exit status unchanged): netprobe at
# least as fast as nmap -sT -T4.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
ROUNDS=${ROUNDS:-5}
CONC=${CONC:-512}
KEEP_TMP=${KEEP_TMP:-0}
GOAL=1.0
HTTP_PORT=18080
LISTENER_PORT=18888
OPEN_EXPECTED="22 80 8080 $HTTP_PORT $LISTENER_PORT"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

int_in "$ROUNDS" 1 50 || die "ROUNDS='$ROUNDS' must be an integer in [1, 50]"
int_in "$CONC" 1 4096 || die "CONC='$CONC' must be an integer in [1, 4096]"
[[ $(id -u) -eq 0 ]] || die "needs root: the scan runs in a network namespace (ip netns)"

need nmap nmap
need ip iproute2
need curl curl
need python3 python3
need cmake cmake
need /usr/bin/time time
need_report

bench_tmp netprobe-scanbench
NS=np-bench-scan-$$
NS_MADE=0
# After the processes are stopped (bench_cleanup runs the hooks).
delete_ns() { ((NS_MADE)) && ip netns del "$NS" 2>/dev/null; return 0; }
CLEANUP_HOOKS+=(delete_ns)

in_ns() { ip netns exec "$NS" "$@"; }

say "== build"
cmake -S "$ROOT" -B "$BUILD_DIR" >"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log" >&2; die "cmake failed"; }
cmake --build "$BUILD_DIR" --target netprobe -j"$(nproc)" >"$TMP/build.log" 2>&1 ||
	{ tail -n 30 "$TMP/build.log" >&2; die "build failed"; }
NETPROBE=$BUILD_DIR/netprobe

ip netns add "$NS" || die "cannot create network namespace $NS"
NS_MADE=1
in_ns ip link set lo up

# Listeners on 22, 80 and 8080 inside the namespace.
# (ip netns exec directly, not through in_ns: $! is then the PID that
# becomes python3 / netprobe, not a subshell's)
ip netns exec "$NS" python3 - <<'PY' >"$TMP/listeners.log" 2>&1 &
import select, socket
socks = []
for port in (22, 80, 8080):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    socks.append(s)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        s.accept()[0].close()
PY
STARTED+=("$!")
ip netns exec "$NS" "$NETPROBE" --bind 127.0.0.1 --port "$HTTP_PORT" --workers 1 \
	--listener-tcp-port "$LISTENER_PORT" --listener-udp-port "$LISTENER_PORT" \
	--scan-concurrency-max 4096 --access-log=false >"$TMP/netprobe.log" 2>&1 &
NP_PID=$!
STARTED+=("$NP_PID")
for ((i = 0; i < 100; i++)); do
	in_ns curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/readyz" 2>/dev/null && break
	sleep 0.1
done
in_ns curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/readyz" ||
	{ tail "$TMP/netprobe.log" >&2; die "netprobe did not start in the namespace"; }
grep -q ready "$TMP/listeners.log" || { sleep 1; grep -q ready "$TMP/listeners.log" || die "listeners did not start"; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

run_netprobe() {    # round: prints seconds; checks the open set
	local t0 t1 out open
	out=$TMP/np.$1.json
	t0=$(now)
	in_ns curl -fsS --max-time 60 -o "$out" \
		"http://127.0.0.1:$HTTP_PORT/scan?host=127.0.0.1&ports=1-65535&concurrency=$CONC"
	t1=$(now)
	open=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert d["complete"] and d["filtered"] == 0, d
print(" ".join(str(o["port"]) for o in d["open"]))' "$out") || die "netprobe: incomplete scan: $(head -c 300 "$out")"
	[[ $open == "$(tr ' ' '\n' <<<"$OPEN_EXPECTED" | sort -n | tr '\n' ' ' | sed 's/ $//')" ]] ||
		die "netprobe found open ports '$open', expected '$OPEN_EXPECTED'"
	secs "$t0" "$t1"
}

run_nmap() {        # round timing: prints seconds; checks the open set
	local t0 t1 out open
	out=$TMP/nmap.$1.$2.txt
	t0=$(now)
	in_ns /usr/bin/time -f '%M' -o "$TMP/nmap.$1.$2.rss" \
		nmap -sT -n -Pn "-$2" -p1-65535 -oG "$out" 127.0.0.1 >/dev/null
	t1=$(now)
	open=$(grep -o '[0-9]*/open' "$out" | cut -d/ -f1 | sort -n | tr '\n' ' ' | sed 's/ $//')
	[[ $open == "$(tr ' ' '\n' <<<"$OPEN_EXPECTED" | sort -n | tr '\n' ' ' | sed 's/ $//')" ]] ||
		die "nmap -$2 found open ports '$open', expected '$OPEN_EXPECTED'"
	secs "$t0" "$t1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

say "== scan benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPU(s), kernel $(uname -r)"
say "   network namespace $NS; 127.0.0.1 ports 1-65535, open: $OPEN_EXPECTED"
say "   netprobe GET /scan concurrency=$CONC (one worker); $(nmap --version | head -n1): -sT -n -Pn, -T3 (default) and -T4"
run_netprobe 0 >/dev/null; run_nmap 0 T4 >/dev/null   # warm-up
declare -a NPS T3S T4S
for ((r = 1; r <= ROUNDS; r++)); do
	NPS+=("$(run_netprobe "$r")")
	T4S+=("$(run_nmap "$r" T4)")
	T3S+=("$(run_nmap "$r" T3)")
	say "   round $r: netprobe ${NPS[-1]} s, nmap -T4 ${T4S[-1]} s, nmap -T3 ${T3S[-1]} s"
done
np=$(printf '%s\n' "${NPS[@]}" | median)
t4=$(printf '%s\n' "${T4S[@]}" | median)
t3=$(printf '%s\n' "${T3S[@]}" | median)
np_rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$NP_PID/status")
nmap_rss=$(cat "$TMP"/nmap.*.T4.rss | sort -n | tail -n1)

say ""
printf '%-14s %9s %10s %14s %s\n' contender seconds ports/s "speed vs it" "peak RSS"
printf '%-14s %9s %10.0f %14s %s\n' netprobe "$np" "$(awk -v s="$np" 'BEGIN { print 65535 / s }')" - \
	"$np_rss kB (VmHWM of the whole service)"
printf '%-14s %9s %10.0f %13sx %s\n' "nmap -T4" "$t4" "$(awk -v s="$t4" 'BEGIN { print 65535 / s }')" \
	"$(ratio "$t4" "$np")" "$nmap_rss kB (max RSS)"
printf '%-14s %9s %10.0f %13sx\n' "nmap -T3" "$t3" "$(awk -v s="$t3" 'BEGIN { print 65535 / s }')" \
	"$(ratio "$t3" "$np")"
say "(speed vs it: the contender's seconds over netprobe's; above 1 means netprobe is faster)"
r=$(ratio "$t4" "$np")
verdict=MISS
meets "$r" "$GOAL" && verdict=PASS
say ""
say "netprobe/nmap-T4 speed   ${r}x   goal >= ${GOAL}x   $verdict"
