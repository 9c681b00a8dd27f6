#!/bin/sh
# bench/memory.sh: the daemons' memory, from /proc (bench/memsample.py):
#
#   - idle: the resident set (VmHWM) of the listening process, a second
#     after start-up and one client connection;
#   - building: while N trivial derivations build with 2 jobs, the peak
#     of the summed PSS of the daemon's processes (listener, the session
#     of the connection, runners and sandbox helpers; not the builders),
#     sampled every 10 ms.
#
# Ratios are nix-daemon's kB over frx's.
. "$(dirname "$0")/lib.sh"

bench_init
bench_start_nix
bench_start_frx
N=400
[ "$BENCH_SCALE" = 0 ] && N=100
SAMPLER=$BENCH_TOP/bench/memsample.py

idle() {	# daemon pid -> kB
	use_daemon "$1"
	nix-store -q --references "$(store_of "$1")/$(printf '%032d' 0)-x" \
	    >/dev/null 2>&1
	sleep 1
	awk '/^VmHWM:/ { print $2 }' "/proc/$2/status"
}

building() {	# daemon pid -> "pss hwm" kB
	use_daemon "$1"
	nix-instantiate bench/trivial.nix --arg n "$N" \
	    --argstr salt "mem-$1-$(date +%s%N)" >"$BENCH_DIR/drvs" \
	    2>/dev/null || die "$1: nix-instantiate failed"
	python3 "$SAMPLER" "$2" 600 >"$BENCH_DIR/mem" &
	sampler=$!
	# shellcheck disable=SC2046
	nix-store --realise $(cat "$BENCH_DIR/drvs") --max-jobs 2 \
	    >/dev/null 2>&1 || die "$1: build failed"
	kill "$sampler"
	wait "$sampler"
	cat "$BENCH_DIR/mem"
}

in_=$(idle nix "$NIXD_PID")
if_=$(idle frx "$FRXD_PID")
result "memory, idle daemon (RSS, kB)" "$if_" "$in_" nix-daemon \
    "$(calc 'b / a' "$if_" "$in_")"
bn=$(building nix "$NIXD_PID")
bf=$(building frx "$FRXD_PID")
pn=${bn% *}
pf=${bf% *}
result "memory, building $N derivations with 2 jobs (peak summed PSS, kB)" \
    "$pf" "$pn" nix-daemon "$(calc 'b / a' "$pf" "$pn")" \
    "largest single process: frx ${bf#* } kB, nix-daemon ${bn#* } kB"
