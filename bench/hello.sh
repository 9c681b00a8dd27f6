#!/bin/sh
# bench/hello.sh: GNU Hello 2.10 (configure, make, make check, make
# install) built by frx-daemon in its sandbox, against the same builder
# script with the same environment run bare on the host, as the same
# uid (frx-bench bare-drv), in a directory where the daemon keeps its
# build directories and outputs: a tmpfs (BENCH_FS=loop or not), since
# frx-daemon keeps both in memory.
#
# Each round builds a new derivation (a harmless make variable carries a
# salt), so nothing is reused; each of 5 rounds (HELLO_ROUNDS) runs both,
# in alternating order, and the medians are compared.  Needs Debian's hello_2.10.orig.tar.gz (set up
# by scripts/setup-debian.sh) in FRX_SRC_CACHE (/var/cache/frx-sources).
. "$(dirname "$0")/lib.sh"

bench_init
bench_start_frx
frx_env
bench_tmpfs bare-mem
SRC_CACHE=${FRX_SRC_CACHE:-/var/cache/frx-sources}
TARBALL=$SRC_CACHE/hello_2.10.orig.tar.gz
[ -f "$TARBALL" ] || die "$TARBALL missing: run scripts/setup-debian.sh"
ROUNDS=${HELLO_ROUNDS:-5}
[ "$BENCH_SCALE" = 0 ] && ROUNDS=${HELLO_ROUNDS:-1}
CORES=$(nproc)
FRX=$BENCH_TOP/$B/frx

"$FRX" download "$TARBALL" hello-2.10.tar.gz >/dev/null ||
    die "frx download failed"

# Lower a salted GNU Hello; prints its derivation.
hello_drv() {	# salt
	cat >"$BENCH_DIR/hello-$1.scm" <<EOF
(use-modules (frx packages) (frx packages hello))
(package
  (inherit hello)
  (arguments (list #:make-flags '("FRX_BENCH_SALT=$1"))))
EOF
	"$FRX" build -n -f "$BENCH_DIR/hello-$1.scm" 2>"$BENCH_DIR/err" ||
	    die "frx build -n: $(tail -3 "$BENCH_DIR/err")"
}

in_sandbox() {	# drv -> seconds
	"$BENCH_BIN" realise "$FRX_TOP/sock" "$1!out" ||
	    die "the sandboxed build of $1 failed (frx log $1)"
}

bare() {	# drv -> seconds
	dir=$BENCH_TMPFS/bare-$(date +%s%N)
	mkdir -p "$dir" && chmod 755 "$dir"
	"$BENCH_BIN" bare-drv "$1" "$dir" 35001 "$CORES" ||
	    die "the bare build of $1 failed"
}

i=0
: >"$BENCH_DIR/t-frx"
: >"$BENCH_DIR/t-bare"
while [ $i -lt $ROUNDS ]; do
	d1=$(hello_drv "s$i-$(date +%s%N)")
	d2=$(hello_drv "b$i-$(date +%s%N)")
	say "round $((i + 1)) of $ROUNDS"
	# Which goes first alternates: a machine that gets busier or
	# quieter during a round favours neither.
	if [ $((i % 2)) -eq 0 ]; then
		in_sandbox "$d1" >>"$BENCH_DIR/t-frx"
		bare "$d2" >>"$BENCH_DIR/t-bare"
	else
		bare "$d2" >>"$BENCH_DIR/t-bare"
		in_sandbox "$d1" >>"$BENCH_DIR/t-frx"
	fi
	i=$((i + 1))
done
tf=$(median <"$BENCH_DIR/t-frx")
tb=$(median <"$BENCH_DIR/t-bare")
# The rounds are pairs: the overhead of each, its mean and a 95%
# interval (Student's t) say whether the rounds can tell 1% from none.
spread=$(paste "$BENCH_DIR/t-frx" "$BENCH_DIR/t-bare" | awk '
	BEGIN { split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 " \
	    "2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09 2.09", t, " ") }
	{ d[NR] = 100 * ($1 - $2) / $2; s += d[NR] }
	END {
		m = s / NR
		if (NR < 2) { printf "one round: %+.2f%%", m; exit }
		for (i = 1; i <= NR; i++) v += (d[i] - m) ^ 2
		h = (NR - 1 <= 20 ? t[NR - 1] : 2.0) * sqrt(v / (NR - 1) / NR)
		printf "paired: mean %+.2f%%, 95%% interval %+.2f%% to %+.2f%%",
		    m, m - h, m + h
	}')
result "GNU Hello build (s, median of $ROUNDS)" "$tf" "$tb" bare \
    "$(calc 'b / a' "$tf" "$tb")" \
    "sandbox overhead $(calc '100 * (a - b) / b' "$tf" "$tb")%; $spread"
