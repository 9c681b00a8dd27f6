#!/bin/sh
# bench/throughput.sh: independent trivial derivations (/bin/sh writing
# a small file to $out), built through frx-daemon and through nix-daemon
# 2.8 with the same client command, side by side:
#
#	nix-instantiate bench/trivial.nix --arg n N --argstr salt S
#	nix-store --realise DRVS... --max-jobs J       (this part is timed)
#
# for N = 200 and 1000 and J = 1 and 2, plus N = 50 for the per-build
# cost's growth with the size of a request.  Every run has a new salt,
# so everything is built.  Prints builds per second, the median of
# BENCH_ROUNDS (3) alternating rounds (one for N = 1000); the ratio is
# frx's rate over nix-daemon's.
. "$(dirname "$0")/lib.sh"

bench_init
bench_start_nix
bench_start_frx

if [ "$BENCH_SCALE" = 0 ]; then
	COUNTS="50 200"
else
	COUNTS="50 200 1000"
fi

# Seconds to realise N new derivations with J jobs through daemon $1.
realise() {	# daemon n jobs
	use_daemon "$1"
	salt=$1-$2-$3-$(date +%s%N)
	nix-instantiate bench/trivial.nix --arg n "$2" --argstr salt "$salt" \
	    >"$BENCH_DIR/drvs" 2>"$BENCH_DIR/err" ||
	    die "$1: nix-instantiate: $(tail -3 "$BENCH_DIR/err")"
	settle
	t0=$(now)
	# shellcheck disable=SC2046
	nix-store --realise $(cat "$BENCH_DIR/drvs") --max-jobs "$3" \
	    >/dev/null 2>"$BENCH_DIR/err" ||
	    die "$1: nix-store --realise: $(tail -3 "$BENCH_DIR/err")"
	t1=$(now)
	calc 'b - a' "$t0" "$t1"
}

say "warming up"
realise nix 20 2 >/dev/null
realise frx 20 2 >/dev/null

# Rounds per measure, the median kept: a busy moment of this machine
# moves one run by 10-30%.  The 1000-derivation runs are long (40 s for
# nix-daemon) and their ratio far from the target: one round.
ROUNDS=${BENCH_ROUNDS:-3}
[ "$BENCH_SCALE" = 0 ] && ROUNDS=${BENCH_ROUNDS:-1}

for n in $COUNTS; do
	for j in 1 2; do
		rounds=$ROUNDS
		[ "$n" -ge 1000 ] && rounds=1
		: >"$BENCH_DIR/t.frx"
		: >"$BENCH_DIR/t.nix"
		r=0
		while [ $r -lt $rounds ]; do
			# Each on a quiet machine (settle), in turns first.
			if [ $(((n + j + r) % 2)) = 0 ]; then
				realise nix "$n" "$j" >>"$BENCH_DIR/t.nix"
				echo >>"$BENCH_DIR/t.nix"
				realise frx "$n" "$j" >>"$BENCH_DIR/t.frx"
				echo >>"$BENCH_DIR/t.frx"
			else
				realise frx "$n" "$j" >>"$BENCH_DIR/t.frx"
				echo >>"$BENCH_DIR/t.frx"
				realise nix "$n" "$j" >>"$BENCH_DIR/t.nix"
				echo >>"$BENCH_DIR/t.nix"
			fi
			r=$((r + 1))
		done
		tf=$(median <"$BENCH_DIR/t.frx")
		tn=$(median <"$BENCH_DIR/t.nix")
		rf=$(calc 'b / a' "$tf" "$n")
		rn=$(calc 'b / a' "$tn" "$n")
		eval "per_${n}_${j}_frx=\$(calc '1000 * a / b' \"\$tf\" \"\$n\")"
		eval "per_${n}_${j}_nix=\$(calc '1000 * a / b' \"\$tn\" \"\$n\")"
		[ "$n" = 50 ] && continue
		result "throughput, $n derivations, $j job$([ "$j" = 1 ] ||
		    echo s) (builds/s)" "$rf" "$rn" nix-daemon \
		    "$(calc 'a / b' "$rf" "$rn")"
	done
done

last=$(echo "$COUNTS" | awk '{ print $NF }')
for j in 1 2; do
	eval "f50=\$per_50_${j}_frx f_last=\$per_${last}_${j}_frx"
	eval "n50=\$per_50_${j}_nix n_last=\$per_${last}_${j}_nix"
	result "per-build ms, 50 -> $last derivations, $j job$([ "$j" = 1 ] ||
	    echo s)" "$f50 -> $f_last" "$n50 -> $n_last" nix-daemon \
	    "$(calc 'd / b' "$f50" "$f_last" "$n50" "$n_last")" \
	    "frx per-build cost grows $(calc '100 * (b - a) / a' "$f50" \
	    "$f_last")%"
done
