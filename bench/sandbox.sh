#!/bin/sh
# bench/sandbox.sh: what the sandbox costs one build.
#
#   - bare: the trivial builder (/bin/sh -c 'echo ... > FILE') run
#     without any sandbox, N times (frx-bench bare);
#   - frx sandbox: the same builder in frx's sandbox, with the plan,
#     start, run and tear-down of sandbox/ and nothing else (frx-bench
#     sandbox; the roots in a private tmpfs, as frx-daemon keeps them);
#   - per build through each daemon: N builds in one request, one job,
#     nix-store --realise (as in throughput.sh);
#   - one build from client start to result: a new client process adds
#     one new trivial derivation and builds it (frx-bench spawn-one,
#     which speaks the protocol to either daemon), the median of M.
. "$(dirname "$0")/lib.sh"

bench_init
bench_start_nix
bench_start_frx

if [ "$BENCH_SCALE" = 0 ]; then
	N=100 M=20
else
	N=400 M=100
fi

mkdir -p "$BENCH_DIR/bare" "$BENCH_DIR/sb"
"$BENCH_BIN" bare 20 "$BENCH_DIR/bare" >/dev/null || die "bare run failed"
settle
bare=$("$BENCH_BIN" bare "$N" "$BENCH_DIR/bare") || die "bare run failed"
settle
sb=$("$BENCH_BIN" sandbox "$N" "$BENCH_DIR/sb" "$BENCH_DIR/sb/store") ||
    die "sandbox run failed"
say "frx sandbox, ms per build: total $sb"
sbt=$(echo "$sb" | awk '{ print $1 }')
result "sandbox per build, setup + run + teardown (ms)" "$sbt" "$bare" bare \
    "$(calc 'b / a' "$sbt" "$bare")" \
    "frx sandbox costs $(calc 'a - b' "$sbt" "$bare") ms over the bare run"

per_build() {	# daemon -> ms per build, N builds, one job
	use_daemon "$1"
	nix-instantiate bench/trivial.nix --arg n "$N" \
	    --argstr salt "sb-$1-$(date +%s%N)" >"$BENCH_DIR/drvs" \
	    2>"$BENCH_DIR/err" || die "$1: nix-instantiate failed"
	t0=$(now)
	# shellcheck disable=SC2046
	nix-store --realise $(cat "$BENCH_DIR/drvs") --max-jobs 1 \
	    >/dev/null 2>"$BENCH_DIR/err" ||
	    die "$1: nix-store --realise: $(tail -3 "$BENCH_DIR/err")"
	t1=$(now)
	calc '1000 * (b - a) / c' "$t0" "$t1" "$N"
}

settle
pn=$(per_build nix)
settle
pf=$(per_build frx)
result "per build through the daemon, 1 job (ms)" "$pf" "$pn" nix-daemon \
    "$(calc 'b / a' "$pf" "$pn")" \
    "frx: $(calc 'a - b' "$pf" "$bare") ms over the bare run"

one() {	# daemon -> "mean median" ms
	"$BENCH_BIN" spawn-one "$M" "$(sock_of "$1")" "$(store_of "$1")" \
	    "one-$1-$(date +%s%N)" || die "$1: spawn-one failed"
}
# Each on a quiet machine, as in throughput.sh: what the 400 builds
# before left to the kernel (network namespaces to clean up) must not
# land in the next daemon's run.
one nix >/dev/null
settle
on=$(one nix | awk '{ print $2 }')
settle
of=$(one frx | awk '{ print $2 }')
result "one build, client start to result (ms, median of $M)" "$of" "$on" \
    nix-daemon "$(calc 'b / a' "$of" "$on")"
