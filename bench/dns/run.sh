#!/usr/bin/env bash
# bench/dns/run.sh - DNS throughput of netprobe's POST /dns batches side by
# side with a plain c-ares program, both resolving the same 10,000 names
# against the same NSD on loopback, in one run. See bench/dns/README.md.
#
#   bench/dns/run.sh
#
# Environment (all optional):
#   NAMES=10000        names in the zone, and resolved by each contender per round
#   CONC=100           c-ares: queries in flight
#   SHAPES="2x50 1x100"  netprobe contenders, each CONNSxBATCH: CONNS keep-alive
#                      connections, each with one POST /dns of BATCH names in
#                      flight. The first is the one the goal is judged on, and
#                      CONNS*BATCH must equal CONC for it (same names in flight).
#   WORKERS=1          netprobe --workers (cares_bench is one thread, one loop)
#   DOH=1              also run netprobe-<first>-doh: the same batches with
#                      "format":"doh" (Google JSON shape, half the bytes), to
#                      show what the answer's JSON costs (0: skip it)
#   ROUNDS=9           measured rounds (contenders interleaved). The goal is
#                      judged on the median of the per-round ratios (each
#                      netprobe round over the c-ares round run just before it)
#   NSD_SERVERS=1      NSD server-count (processes answering queries)
#   WRK_DURATION=5s WRK_CONNS=32 WRK_THREADS=2   the GET /dns wrk run
#   BUILD_DIR=build    CMake build directory holding netprobe
#   KEEP_TMP=1         keep the temp dir (zone, configs, logs, raw outputs)
#
# Exits 1 if a tool is missing, a build fails, a server does not start, or
# any name does not resolve to its address (in any round, or in the wrk
# run: non-2xx answers). The goal (netprobe at least 0.8x c-ares in
# names/s, median of the paired per-round ratios) is printed as PASS/MISS
# and does not change the exit status.
#
# Every server is started by this script on 127.0.0.1, on ports it picked
# free, and stopped by its PID on exit (EXIT trap). Nothing else is touched.
#
# shellcheck disable=SC2034  # SEC, OUT, CPU_* are read through namerefs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/dns
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
NAMES=${NAMES:-10000}
CONC=${CONC:-100}
SHAPES=${SHAPES:-2x50 1x100}
WORKERS=${WORKERS:-1}
ROUNDS=${ROUNDS:-9}
DOH=${DOH:-1}
NSD_SERVERS=${NSD_SERVERS:-1}
WRK_DURATION=${WRK_DURATION:-5s}
WRK_CONNS=${WRK_CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
KEEP_TMP=${KEEP_TMP:-0}
GOAL=0.8
ZONE=bench.test

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---- arguments ----

int_in "$NAMES" 1 1000000 || die "NAMES='$NAMES' must be an integer in [1, 1000000]"
int_in "$CONC" 1 10000 || die "CONC='$CONC' must be an integer in [1, 10000]"
int_in "$WORKERS" 1 64 || die "WORKERS='$WORKERS' must be an integer in [1, 64]"
[[ $DOH == 0 || $DOH == 1 ]] || die "DOH='$DOH' must be 0 or 1"
int_in "$ROUNDS" 1 50 || die "ROUNDS='$ROUNDS' must be an integer in [1, 50]"
int_in "$NSD_SERVERS" 1 16 || die "NSD_SERVERS='$NSD_SERVERS' must be an integer in [1, 16]"
int_in "$WRK_CONNS" 1 10000 || die "WRK_CONNS='$WRK_CONNS' must be an integer in [1, 10000]"
int_in "$WRK_THREADS" 1 64 || die "WRK_THREADS='$WRK_THREADS' must be an integer in [1, 64]"
((WRK_CONNS >= WRK_THREADS)) || die "WRK_CONNS must be at least WRK_THREADS"
if ! [[ $WRK_DURATION =~ ^([0-9]{1,3})s$ ]] || ((BASH_REMATCH[1] < 1 || BASH_REMATCH[1] > 300)); then
	die "WRK_DURATION='$WRK_DURATION' must be 1s..300s"
fi
read -r -a SHAPE <<<"$SHAPES"
((${#SHAPE[@]} >= 1 && ${#SHAPE[@]} <= 8)) || die "SHAPES='$SHAPES' must list 1 to 8 values"
BATCH_MAX=1
for sh in "${SHAPE[@]}"; do
	[[ $sh =~ ^[0-9]+x[0-9]+$ ]] || die "SHAPES: '$sh' must be CONNSxBATCH, e.g. 2x50"
	int_in "${sh%x*}" 1 64 || die "SHAPES: '$sh': CONNS must be in [1, 64]"
	int_in "${sh#*x}" 1 100000 || die "SHAPES: '$sh': BATCH must be in [1, 100000]"
	if ((${sh#*x} > BATCH_MAX)); then BATCH_MAX=${sh#*x}; fi
done
BATCH=${SHAPE[0]#*x}         # the judged shape's batch
((${SHAPE[0]%x*} * BATCH == CONC)) ||
	die "SHAPES: the first shape (${SHAPE[0]}) must keep CONC=$CONC names in flight"

# ---- tools ----

need nsd nsd
need dig dnsutils
need wrk wrk
need curl curl
need python3 python3
need gcc build-essential
need cmake cmake
need pkg-config pkg-config
if command -v pkg-config >/dev/null 2>&1; then
	pkg-config --exists libcares || { missing+=("libcares.pc"); pkgs+=(libc-ares-dev); }
	pkg-config --exists libcurl || { missing+=("libcurl.pc"); pkgs+=(libcurl4-openssl-dev); }
	pkg-config --exists jansson || { missing+=("jansson.pc"); pkgs+=(libjansson-dev); }
fi
need_report

# ---- temp dir, process bookkeeping, cleanup ----

bench_tmp netprobe-dnsbench

# CPU time (utime+stime, clock ticks) of a PID and its children processes.
CLK_TCK=$(getconf CLK_TCK)
ticks_of() {
	local st rest f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	rest=${st##*) }
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}
tree_ticks() {      # pid: CPU ticks of it and every process below it
	local t=0 p
	for p in $(tree_of "$1"); do t=$((t + $(ticks_of "$p"))); done
	echo "$t"
}

kv() {              # "line" key: the value of key=value in line
	local w
	for w in $1; do
		[[ $w == "$2="* ]] && { echo "${w#*=}"; return 0; }
	done
	echo ""
}

# ---- build ----

say "== build"
if ! cmake -S "$ROOT" -B "$BUILD_DIR" >"$TMP/cmake.log" 2>&1; then
	cat "$TMP/cmake.log" >&2
	die "cmake configure failed"
fi
if ! cmake --build "$BUILD_DIR" --target netprobe -j"$(nproc)" >"$TMP/build.log" 2>&1; then
	tail -n 30 "$TMP/build.log" >&2
	die "build failed (cmake --build $BUILD_DIR --target netprobe)"
fi
NETPROBE=$BUILD_DIR/netprobe
[[ -x $NETPROBE ]] || die "build produced no $NETPROBE"
build_type=$(cache_var CMAKE_BUILD_TYPE)
build_note=""
[[ $(cache_var NETPROBE_SANITIZE) == ON ]] && build_note+=" +ASan/UBSan"
[[ $(cache_var NETPROBE_FUZZ) == ON ]] && build_note+=" +fuzzer instrumentation"
case ${build_type:-none} in
Release | RelWithDebInfo) ;;
*) build_note+=" (not an optimised build)" ;;
esac
[[ -n $build_note ]] &&
	say "bench: WARNING: netprobe build is ${build_type:-no type}$build_note; figures are not representative" >&2

CFLAGS_BENCH=(-O2 -Wall -Wextra -Werror)
# shellcheck disable=SC2046  # pkg-config output is meant to split
gcc "${CFLAGS_BENCH[@]}" -o "$TMP/cares_bench" "$HERE/cares_bench.c" \
	$(pkg-config --cflags --libs libcares) || die "cannot build bench/dns/cares_bench.c"
# shellcheck disable=SC2046
gcc "${CFLAGS_BENCH[@]}" -pthread -o "$TMP/np_client" "$HERE/np_client.c" \
	$(pkg-config --cflags --libs libcurl jansson) || die "cannot build bench/dns/np_client.c"
say "   netprobe ($build_type$build_note), cares_bench and np_client (gcc ${CFLAGS_BENCH[*]})"

# ---- NSD with the generated zone ----

read -r DNS_PORT HTTP_PORT LTCP_PORT LUDP_PORT <<<"$(free_ports udp tcp tcp udp)"

NSD_DIR=$TMP/nsd
mkdir -p "$NSD_DIR"
{
	printf '%s %s.\n%s 3600\n' "\$ORIGIN" "$ZONE" "\$TTL"
	printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 3600\n' "$ZONE" "$ZONE"
	printf '@ IN NS ns\nns IN A 127.0.0.1\n'
	# nK -> 10.a.b.c, a.b.c the low three bytes of K (what the clients check).
	awk -v n="$NAMES" 'BEGIN { for (k = 0; k < n; k++)
		printf "n%d IN A 10.%d.%d.%d\n", k, int(k / 65536) % 256, int(k / 256) % 256, k % 256 }'
} >"$NSD_DIR/$ZONE.zone"
cat >"$NSD_DIR/nsd.conf" <<EOF
# Generated by bench/dns/run.sh for one benchmark run.
server:
    ip-address: 127.0.0.1@$DNS_PORT
    do-ip6: no
    server-count: $NSD_SERVERS
    username: ""
    chroot: ""
    zonesdir: "$NSD_DIR"
    database: ""
    zonelistfile: "$NSD_DIR/zone.list"
    xfrdfile: "$NSD_DIR/xfrd.state"
    xfrdir: "$NSD_DIR"
    pidfile: "$NSD_DIR/nsd.pid"
    logfile: "$NSD_DIR/nsd.log"
    cookie-secret-file: "$NSD_DIR/cookiesecrets.txt"
    verbosity: 1
    hide-version: yes
    # Response rate limiting (on in Debian's build, 200 qps per source by
    # default) would answer most of a loopback benchmark with TC=1.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: $ZONE.zone
EOF
if command -v nsd-checkconf >/dev/null 2>&1; then
	nsd-checkconf "$NSD_DIR/nsd.conf" >"$TMP/nsd-checkconf.log" 2>&1 || {
		cat "$TMP/nsd-checkconf.log" >&2
		die "nsd-checkconf rejected the generated configuration"
	}
fi
nsd -d -c "$NSD_DIR/nsd.conf" >"$NSD_DIR/nsd.out" 2>&1 &
NSD_PID=$!
STARTED+=("$NSD_PID")

expect_addr() { echo "10.$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }
last=$((NAMES - 1))
ok=0
for ((i = 0; i < 100; i++)); do           # at most ~10-20 s
	kill -0 "$NSD_PID" 2>/dev/null || break
	got=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" "n$last.$ZONE" A 2>/dev/null || true)
	if [[ $got == "$(expect_addr "$last")" ]]; then
		ok=1
		break
	fi
	sleep 0.1
done
if ((!ok)); then
	say "bench: NSD did not answer n$last.$ZONE on 127.0.0.1@$DNS_PORT; its logs:" >&2
	tail -n 20 "$NSD_DIR/nsd.out" "$NSD_DIR/nsd.log" >&2 2>/dev/null || true
	die "NSD failed to start"
fi
got=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" "n0.$ZONE" A || true)
[[ $got == "$(expect_addr 0)" ]] || die "NSD answers n0.$ZONE with '$got', expected $(expect_addr 0)"

# ---- netprobe ----

NP_LOG=$TMP/netprobe.log
"$NETPROBE" --bind 127.0.0.1 --port "$HTTP_PORT" --workers "$WORKERS" \
	--dns-server "127.0.0.1:$DNS_PORT" --dns-batch-max "$((BATCH_MAX > 1000 ? BATCH_MAX : 1000))" \
	--listener-tcp-port "$LTCP_PORT" --listener-udp-port "$LUDP_PORT" \
	--access-log --log-level=info --shutdown-grace 2000 >"$NP_LOG" 2>&1 &
NP_PID=$!
STARTED+=("$NP_PID")
BASE=http://127.0.0.1:$HTTP_PORT
ok=0
for ((i = 0; i < 100; i++)); do           # at most ~10 s
	kill -0 "$NP_PID" 2>/dev/null || break
	if curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" 2>/dev/null; then
		ok=1
		break
	fi
	sleep 0.1
done
if ((!ok)); then
	say "bench: netprobe did not answer $BASE/healthz; its log:" >&2
	tail -n 20 "$NP_LOG" >&2 || true
	die "netprobe failed to start"
fi
ONE_URL="$BASE/dns?name=n1.$ZONE&type=A"
curl -fsS --max-time 10 -o "$TMP/one.json" "$ONE_URL" || die "GET $ONE_URL failed"
python3 - "$TMP/one.json" "$(expect_addr 1)" <<'EOF' || die "GET /dns for n1.$ZONE: unexpected answer"
import json, sys
d = json.load(open(sys.argv[1]))
ok = (d.get("status") == "ok" and d.get("rcode") == "NOERROR" and
      [a["data"] for a in d.get("answer", []) if a.get("type") == "A"] == [sys.argv[2]])
if not ok:
    print(json.dumps(d)[:600], file=sys.stderr)
sys.exit(0 if ok else 1)
EOF

say "== DNS benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "   machine: $(nproc) CPU(s), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
say "   NSD $(nsd -v 2>&1 | sed -n 's/^NSD version //p' | head -n1) on 127.0.0.1@$DNS_PORT, server-count $NSD_SERVERS, RRL off, zone $ZONE with $NAMES A records"
say "   c-ares $(pkg-config --modversion libcares): cares_bench -c $CONC (queries in flight), SO_RCVBUF 4 MB"
say "   netprobe --workers $WORKERS --dns-server 127.0.0.1:$DNS_PORT, access log to a file;" \
	"np_client: POST /dns over CONNS keep-alive connections, one batch of BATCH names in" \
	"flight on each (CONNSxBATCH: ${SHAPE[*]})"
say "   $ROUNDS measured rounds after one warm-up round, contenders interleaved; the table shows each one's median round"

# ---- rounds ----

CONTENDERS=(c-ares)
for sh in "${SHAPE[@]}"; do CONTENDERS+=("netprobe-$sh"); done
((DOH)) && CONTENDERS+=("netprobe-${SHAPE[0]}-doh")
declare -A SEC OUT CPU_NP CPU_NSD CPU_CLIENT
NP_BATCHES_SENT=0

run_one() {         # contender round (round 0: warm-up)
	local name=$1 r=$2 line rc=0 t0n t0d t1n t1d sh conns batch fmt sample
	t0n=$(tree_ticks "$NP_PID")
	t0d=$(tree_ticks "$NSD_PID")
	if [[ $name == c-ares ]]; then
		line=$(timeout 300 "$TMP/cares_bench" -s "127.0.0.1:$DNS_PORT" -n "$NAMES" -c "$CONC" -z "$ZONE" \
			2>"$TMP/$name.r$r.err") || rc=$?
	else
		sh=${name#netprobe-}
		sh=${sh%-doh}
		conns=${sh%x*} batch=${sh#*x}
		fmt=native sample=$TMP/sample.json
		[[ $name == *-doh ]] && fmt=doh sample=$TMP/sample-doh.json
		[[ $sh != "${SHAPE[0]}" ]] && sample=/dev/null
		line=$(timeout 300 "$TMP/np_client" -u "$BASE/dns" -n "$NAMES" -b "$batch" -p "$conns" -z "$ZONE" \
			-w "$WORKERS" -f "$fmt" -o "$sample" 2>"$TMP/$name.r$r.err") || rc=$?
		NP_BATCHES_SENT=$((NP_BATCHES_SENT + (NAMES + batch - 1) / batch))
	fi
	t1n=$(tree_ticks "$NP_PID")
	t1d=$(tree_ticks "$NSD_PID")
	if ((rc != 0)) || [[ $(kv "$line" ok) != "$NAMES" ]]; then
		say "   $name round $r: $line" >&2
		cat "$TMP/$name.r$r.err" >&2
		die "$name: not every name resolved (exit status $rc)"
	fi
	kill -0 "$NSD_PID" 2>/dev/null || die "NSD died during the run"
	kill -0 "$NP_PID" 2>/dev/null || die "netprobe died during the run"
	OUT[$name:$r]=$line
	SEC[$name:$r]=$(kv "$line" seconds)
	CPU_NP[$name:$r]=$((t1n - t0n))
	CPU_NSD[$name:$r]=$((t1d - t0d))
	CPU_CLIENT[$name:$r]=$(kv "$line" cpu_s)
	if ((r > 0)); then
		printf '   round %d %-16s %8.4f s %9.0f names/s  %s\n' "$r" "$name" "${SEC[$name:$r]}" \
			"$(kv "$line" names_per_s)" \
			"$(if [[ $name == c-ares ]]; then
				echo "retried $(kv "$line" retried), rcvbuf $(kv "$line" rcvbuf)"
			else
				echo "workers $(kv "$line" workers), $(($(kv "$line" bytes_in) / NAMES)) B/name," \
					"client check $(kv "$line" verify_s) s (untimed)"
			fi)"
	fi
}

say ""
say "== rounds"
for name in "${CONTENDERS[@]}"; do run_one "$name" 0; done   # warm-up, not reported
for ((round = 1; round <= ROUNDS; round++)); do
	for name in "${CONTENDERS[@]}"; do run_one "$name" "$round"; done
done

# The median round (by seconds) of each contender.
declare -A PICK
for name in "${CONTENDERS[@]}"; do
	PICK[$name]=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${SEC[$name:$r]} $r"; done |
		sort -g | sed -n "$(((ROUNDS + 1) / 2))p" | cut -d' ' -f2)
done
pick() { local -n arr=$1; echo "${arr[$2:${PICK[$2]}]}"; }
rate() { awk -v n="$NAMES" -v s="$1" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
# CPU microseconds per name, from ticks summed over all measured rounds.
cpu_per_name() {    # array contender
	local -n arr=$1
	local t=0 r
	for ((r = 1; r <= ROUNDS; r++)); do t=$((t + ${arr[$2:$r]})); done
	awk -v t="$t" -v hz="$CLK_TCK" -v n=$((NAMES * ROUNDS)) 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}

# The client's own CPU (getrusage over its timed part) per name: cares_bench
# for c-ares, np_client for the netprobe rows.
client_cpu_per_name() {
	local t=0 r
	for ((r = 1; r <= ROUNDS; r++)); do
		t=$(awk -v a="$t" -v b="${CPU_CLIENT[$1:$r]:-0}" 'BEGIN { print a + b }')
	done
	awk -v t="$t" -v n=$((NAMES * ROUNDS)) 'BEGIN { printf "%.1f", t * 1e6 / n }'
}

CARES_RATE=$(rate "$(pick SEC c-ares)")
# The median of a contender's per-round ratios to c-ares (paired rounds).
paired_median() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do
		ratio "$(rate "${SEC[$1:$r]}")" "$(rate "${SEC[c-ares:$r]}")"
		echo
	done | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2];
		else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

say ""
say "== results ($NAMES names per round, median of $ROUNDS rounds)"
printf '%-18s %6s %8s %8s %6s %15s %9s %19s %16s\n' contender names seconds names/s ratio \
	np_cpu_us/name np_cores client_cpu_us/name nsd_cpu_us/name
for name in "${CONTENDERS[@]}"; do
	s=$(pick SEC "$name")
	np_cpu=- np_cores=-
	if [[ $name != c-ares ]]; then
		np_cpu=$(cpu_per_name CPU_NP "$name")
		np_cores=$(awk -v c="$np_cpu" -v r="$(rate "$s")" 'BEGIN { printf "%.2f", c * r / 1e6 }')
	fi
	printf '%-18s %6d %8.4f %8s %5sx %15s %9s %19s %16s\n' "$name" "$NAMES" "$s" "$(rate "$s")" \
		"$(ratio "$(rate "$s")" "$CARES_RATE")" "$np_cpu" "$np_cores" \
		"$(client_cpu_per_name "$name")" "$(cpu_per_name CPU_NSD "$name")"
done
say "(ratio: names/s over c-ares'. np_ and nsd_cpu_us/name: CPU time of the netprobe / NSD"
say " processes per name during that contender's rounds, from /proc tick counts at ${CLK_TCK} Hz,"
say " so coarse; np_cores: that CPU time per name times names/s, i.e. how many cores netprobe"
say " kept busy; client_cpu_us/name: the client's own CPU (getrusage), cares_bench or np_client)"
# The spread behind the medians: every round's names/s, and each round's
# ratio (the contenders of one round ran back to back, so drift of the
# machine hits both sides of that ratio alike).
for name in "${CONTENDERS[@]}"; do
	line="" pairs=""
	for ((r = 1; r <= ROUNDS; r++)); do
		line+=" $(rate "${SEC[$name:$r]}")"
		[[ $name != c-ares ]] &&
			pairs+=" $(ratio "$(rate "${SEC[$name:$r]}")" "$(rate "${SEC[c-ares:$r]}")")"
	done
	say "   rounds $(printf '%-18s' "$name") names/s:$line${pairs:+   ratio per round:$pairs (median $(paired_median "$name"))}"
done

# ---- what the client would cost in python ----

if [[ -s $TMP/sample.json ]]; then
	nb=$(((NAMES + BATCH - 1) / BATCH))
	py=$(python3 - "$TMP/sample.json" "$nb" "$BATCH" "$ZONE" <<'EOF'
import json, sys, time
raw = open(sys.argv[1], "rb").read()
nb, b, zone = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
for i in range(nb):
    json.dumps({"type": "A", "queries": ["n%d.%s" % (i * b + k, zone) for k in range(b)]}).encode()
t1 = time.perf_counter()
for i in range(nb):
    d = json.loads(raw)
    all(r["status"] == "ok" and r["rcode"] == "NOERROR" and r["answer"] for r in d["results"])
t2 = time.perf_counter()
print("%.4f %.4f %d" % (t1 - t0, t2 - t1, len(raw)))
EOF
) || py=""
	if [[ -n $py ]]; then
		read -r py_enc py_dec py_bytes <<<"$py"
		np1=${CONTENDERS[1]}
		say ""
		np1_s=$(pick SEC "$np1")
		say "client cost: np_client (C) builds the bodies before the clock starts and checks"
		say "  the answers after it stops. python3's json for the same $nb batches: encode" \
			"$py_enc s, decode+check $py_dec s (an answer body is $py_bytes bytes)."
		say "  That is $(awk -v a="$py_enc" -v b="$py_dec" -v s="$np1_s" 'BEGIN { printf "%.0f%%", (a + b) / s * 100 }')" \
			"of $np1's $np1_s s: with a python client the figure would mostly" \
			"measure python (http.client's own cost not counted)."
		say "  np_client's own check (jansson, untimed): $(kv "$(pick OUT "$np1")" verify_s) s"
	fi
fi

# Every batch went through the access log, once.
posts=$(grep -c ' POST /dns 200 ' "$NP_LOG" || true)
say ""
say "netprobe access log: $posts 'POST /dns 200' lines for $NP_BATCHES_SENT batches sent" \
	"(warm-up included; KEEP_TMP=1 keeps $NP_LOG)"
((posts == NP_BATCHES_SENT)) || say "bench: WARNING: access-log lines and batches differ" >&2

# ---- wrk: one name, GET /dns ----

say ""
say "== wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION '$ONE_URL'"
WRK_OUT=$TMP/wrk.out
if ! timeout 400 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" "$ONE_URL" >"$WRK_OUT" 2>&1; then
	cat "$WRK_OUT" >&2
	die "wrk failed"
fi
kill -0 "$NP_PID" 2>/dev/null || die "netprobe died during the wrk run"
wrk_rps=$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")
wrk_reqs=$(awk '/requests in/ {print $1}' "$WRK_OUT")
wrk_lat=$(awk '$1 == "Latency" {print $2}' "$WRK_OUT")
wrk_sock=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$WRK_OUT")
wrk_non2xx=$(awk '/Non-2xx/ {print $NF}' "$WRK_OUT")
[[ -n $wrk_rps ]] || { cat "$WRK_OUT" >&2; die "cannot read wrk's output"; }
say "   GET /dns (one name): $wrk_rps req/s, $wrk_reqs requests, mean latency $wrk_lat," \
	"non-2xx ${wrk_non2xx:-0}, socket errors ${wrk_sock:-0}"
say "   (no standard-tool figure beside it: the tool for single-name DNS throughput is"
say "   dnsperf, which is not packaged here; cares_bench above is the c-ares ceiling)"
((${wrk_non2xx:-0} == 0)) || die "wrk: $wrk_non2xx GET /dns answers were not 2xx"
curl -fsS --max-time 10 -o "$TMP/one.json" "$ONE_URL" || die "GET $ONE_URL failed after wrk"

# ---- verdict ----

say ""
first=${CONTENDERS[1]}
say "(verdict: the median of the per-round ratios, each netprobe round over the c-ares round"
say " run just before it, so both sides of a ratio share the machine's state; the ratio of the"
say " two medians, from different rounds, is beside it)"
for name in "${CONTENDERS[@]:1}"; do
	[[ $name == *-doh ]] && continue    # a diagnostic, not a contender for the goal
	r=$(paired_median "$name")
	rm=$(ratio "$(rate "$(pick SEC "$name")")" "$CARES_RATE")
	verdict=MISS
	meets "$r" "$GOAL" && verdict=PASS
	note=""
	[[ $name == "$first" ]] && note="   (the goal: same concurrency, $CONC names in flight)"
	printf '%-22s %5sx (ratio of medians %5sx)   goal >= %sx   %s%s\n' "$name/c-ares" "$r" "$rm" \
		"$GOAL" "$verdict" "$note"
done
exit 0
