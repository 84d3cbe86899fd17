# bench/lib.sh - what bench/*/run.sh share: messages, argument checks, the
# tool check, free loopback ports, stopping what the script started, and
# the temp dir. Sourced (bash); a script sets KEEP_TMP before bench_tmp.
# shellcheck shell=bash
# shellcheck disable=SC2317  # bench_cleanup is called by the trap

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

int_in() {          # value min max: a decimal integer in [min, max]
	[[ $1 =~ ^[0-9]{1,8}$ ]] && (($1 >= $2 && $1 <= $3))
}

# need COMMAND PACKAGE ... then need_report: lists what is missing with
# the Debian packages to install, and exits 1 if anything is.
missing=() pkgs=()
need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		missing+=("$1")
		pkgs+=("$2")
	fi
}
need_report() {
	if ((${#missing[@]})); then
		say "bench: missing: ${missing[*]}" >&2
		say "bench: install the Debian package(s): apt-get install ${pkgs[*]}" >&2
		say "bench: (scripts/install-deps.sh --test installs all of them)" >&2
		exit 1
	fi
}

# A CMake cache variable of $BUILD_DIR.
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD_DIR/CMakeCache.txt" | head -n1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
meets() { awk -v r="$1" -v g="$2" 'BEGIN { exit !(r >= g) }'; }

children_of() {     # PIDs whose parent is $1 (any of its threads)
	local st ppid f
	if [[ -r /proc/$1/task/$1/children ]]; then
		for f in /proc/"$1"/task/*/children; do
			tr ' ' '\n' <"$f" 2>/dev/null | sed '/^$/d'
		done
		return 0
	fi
	for st in /proc/[0-9]*/status; do
		ppid=$(sed -n 's/^PPid:[[:space:]]*//p' "$st" 2>/dev/null) || continue
		[[ $ppid == "$1" ]] && { st=${st#/proc/}; echo "${st%/status}"; }
	done
	return 0
}

# $1 and every process below it (nginx's workers; NSD's xfrd, main and
# server processes).
tree_of() {         # pid [depth]
	local p depth=${2:-0}
	echo "$1"
	((depth < 4)) || return 0
	for p in $(children_of "$1"); do tree_of "$p" $((depth + 1)); done
	return 0
}

# SIGTERM, up to 5 s, then SIGKILL; then any process it had started.
stop_pid() {
	local pid=$1 kids i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kids=$(tree_of "$pid" | sed 1d)
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "bench: PID $pid did not stop on SIGTERM within 5 s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	# Children exit with their parent; make sure none outlives it.
	for i in $kids; do
		kill -0 "$i" 2>/dev/null && kill -KILL "$i" 2>/dev/null
	done
	return 0
}

# bench_tmp NAME: TMP becomes a new temp dir; every PID added to STARTED is
# stopped on exit, then every function named in CLEANUP_HOOKS runs, and TMP
# is removed unless KEEP_TMP=1.
bench_cleanup() {
	local rc=$? pid hook
	trap - EXIT
	for pid in "${STARTED[@]+"${STARTED[@]}"}"; do
		stop_pid "$pid"
	done
	for hook in "${CLEANUP_HOOKS[@]+"${CLEANUP_HOOKS[@]}"}"; do
		"$hook"
	done
	if [[ $KEEP_TMP == 1 ]]; then
		say "bench: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
bench_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	STARTED=()
	CLEANUP_HOOKS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Free ports on 127.0.0.1: "udp tcp tcp" prints three distinct ports, held
# open together while they are picked so that no two are the same.
free_ports() {
	python3 - "$@" <<'PY'
import socket, sys
socks = []
for kind in sys.argv[1:]:
    s = socket.socket(socket.AF_INET,
                      socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}
