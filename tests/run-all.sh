#!/bin/sh
# Run every frx test and end with the line "N passed, N failed".
#
# Unit tests (cmocka) count their own cases; shell tests print TAP-style
# "ok N - ..." / "not ok N - ..." lines and are counted line by line.  A
# test program that crashes or exits non-zero without reporting a failure
# counts as one failure.  Run from the repository root, as root (the
# sandbox tests need it); build first with `make`.
set -u

B=${B:-build}
export FRX_VECTORS=${FRX_VECTORS:-$(cd "$(dirname "$0")/.." && pwd)/../shared/vectors}
LOGDIR=${FRX_TEST_LOGDIR:-$(mktemp -d /tmp/frx-tests.XXXXXX)}
passed=0
failed=0

count() {	# name logfile exitcode
	name=$1 log=$2 rc=$3
	p=$(grep -Ec '^ok [0-9]+' "$log")
	f=$(grep -Ec '^not ok [0-9]+' "$log")
	cp=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	cf=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=$((p + ${cp:-0}))
	f=$((f + ${cf:-0}))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name exited with status $rc without reporting" \
		    "a failure (see $log)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	echo "$name: $p passed, $f failed"
	if [ "$f" -ne 0 ]; then
		echo "---- $name (last 60 lines of $log) ----"
		tail -n 60 "$log"
		echo "----"
	fi
}

run() {		# name command...
	name=$1
	shift
	log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
	"$@" >"$log" 2>&1
	count "$name" "$log" $?
}

for t in "$B"/tests/test-*; do
	[ -x "$t" ] || continue
	run "$(basename "$t")" "$t"
done
# Store objects from a NAR must be root's also when the daemon runs
# with another group: the NAR tests again, as root with group 35000.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	run "test-nar (group 35000)" setpriv --regid 35000 --clear-groups \
	    "$B/tests/test-nar"
fi
for t in tests/sh/test-*.sh; do
	[ -f "$t" ] || continue
	run "$(basename "$t")" sh "$t"
done
run run-jail-package-build.sh sh tests/run-jail-package-build.sh

echo "logs: $LOGDIR"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
