#!/bin/sh
# test-drop-exec.sh: check frx-drop-exec as root.  Builds nothing.
#
#	tests/sh/test-drop-exec.sh [path/to/frx-drop-exec]
#
# Prints "ok N - ..." / "not ok N - ..." lines; exits 1 if any failed.

prog=${1:-${B:-build}/frx-drop-exec}
n=0
failed=0
out=${TMPDIR:-/tmp}/frx-drop-exec-test.$$
trap 'rm -f "$out" "$out.err"' EXIT

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -s "$out" ] && sed 's/^/#   stdout: /' "$out"
	[ -s "$out.err" ] && sed 's/^/#   stderr: /' "$out.err"
	return 0
}

# expect DESCRIPTION STATUS STDOUT STDERR-FRAGMENT -- ARGS...
expect() {
	desc=$1 want_status=$2 want_out=$3 want_err=$4
	shift 5
	"$prog" "$@" >"$out" 2>"$out.err"
	status=$?
	if [ "$status" -ne "$want_status" ]; then
		not_ok "$desc (status $status, wanted $want_status)"
	elif [ "$(cat "$out")" != "$want_out" ]; then
		not_ok "$desc (stdout \"$(cat "$out")\", wanted \"$want_out\")"
	elif [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$out.err"; then
		not_ok "$desc (stderr lacks \"$want_err\")"
	else
		ok "$desc"
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP frx-drop-exec tests need root"
	exit 0
fi
if [ ! -x "$prog" ]; then
	echo "Bail out! $prog: not an executable (give its path as \$1)"
	exit 1
fi

expect "id -u is 35001" 0 35001 "" -- 35001 35001 -- id -u
expect "id -g is 35001" 0 35001 "" -- 35001 35001 -- id -g
expect "id -G is only 35001" 0 35001 "" -- 35001 35001 -- id -G
expect "uid and gid may differ" 0 "35001 35002" "" -- \
	35001 35002 -- sh -c 'echo "$(id -u) $(id -g)"'
expect "real, effective, saved and fs ids all changed" 0 \
	"$(printf 'Uid: 35001 35001 35001 35001\nGid: 35002 35002 35002 35002\nGroups:')" \
	"" -- 35001 35002 -- \
	awk '/^(Uid|Gid|Groups):/ { $1 = $1; print }' /proc/self/status
expect "refuses uid 0" 100 "" 'frx-drop-exec: uid "0": refusing to run as root' -- \
	0 35001 -- id -u
expect "refuses gid 0" 100 "" 'frx-drop-exec: gid "0": refusing to run as root' -- \
	35001 0 -- id -u
expect "refuses 000" 100 "" "refusing to run as root" -- 000 35001 -- id -u
expect "refuses a user name" 100 "" 'uid "root": not a decimal number' -- \
	root 35001 -- id -u
expect "refuses a group name" 100 "" 'gid "nogroup": not a decimal number' -- \
	35001 nogroup -- id -u
expect "refuses 12abc" 100 "" 'uid "12abc": not a decimal number' -- \
	12abc 35001 -- id -u
expect "refuses a sign" 100 "" "not a decimal number" -- +35001 35001 -- id -u
expect "refuses -1" 100 "" "not a decimal number" -- -1 35001 -- id -u
expect "refuses a space" 100 "" "not a decimal number" -- " 35001" 35001 -- id -u
expect "refuses an empty id" 100 "" 'uid "": empty' -- "" 35001 -- id -u
expect "refuses 99999999999" 100 "" 'uid "99999999999": out of range' -- \
	99999999999 35001 -- id -u
expect "refuses 4294967295 (-1 as uid_t)" 100 "" "out of range" -- \
	35001 4294967295 -- id -u
expect "refuses a missing --" 100 "" "usage" -- 35001 35001 id -u
expect "refuses another word for --" 100 "" "usage" -- 35001 35001 -x id -u
expect "refuses a missing command" 100 "" "usage" -- 35001 35001 --
expect "refuses no arguments" 100 "" "usage" --
expect "reports a missing command" 111 "" \
	"frx-drop-exec: exec /no/such/command: No such file or directory" -- \
	35001 35001 -- /no/such/command
expect "passes the exit status on" 7 "" "" -- 35001 35001 -- sh -c 'exit 7'
expect "cannot regain root" 0 "denied" "" -- 35001 35001 -- \
	sh -c 'su -c true root </dev/null >/dev/null 2>&1 && echo allowed || echo denied'

# Descriptors: 5 and 9 opened here must not reach the command.
fds=$(exec 5</dev/null 9>/dev/null; "$prog" 35001 35001 -- \
	sh -c 'ls /proc/self/fd' 2>"$out.err" | sort -n | tr '\n' ' ')
# ls itself holds one fd for the directory it lists.
case "$fds" in
"0 1 2 3 ") ok "closes descriptors above 2" ;;
*) not_ok "closes descriptors above 2 (open: $fds)" ;;
esac
fds=$(exec 5</dev/null; sh -c 'ls /proc/self/fd' | sort -n | tr '\n' ' ')
case "$fds" in
*" 5 "*) ok "control: without the helper, fd 5 is inherited" ;;
*) not_ok "control: without the helper, fd 5 is inherited (open: $fds)" ;;
esac

expect "a closed stdin is reopened on /dev/null" 0 "/dev/null" "" -- \
	35001 35001 -- sh -c 'readlink /proc/self/fd/0' <&-

echo "1..$n"
[ "$failed" -eq 0 ]
