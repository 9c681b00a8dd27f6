# tests/lib.sh: what the shell tests share.  Source it after setting
# $top (the repository root).  Provides TAP-style reporting, a temporary
# directory outside /tmp, and a daemon and a loopback HTTP server that are
# stopped again on exit.

B=${B:-build}
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() {	# description command...
	_d=$1
	shift
	if "$@"; then ok "$_d"; else not_ok "$_d"; fi
}
# The exit status of the whole test.
t_status() { [ "$failed" -eq 0 ]; }

# T: a fresh directory under /var/tmp (inside a build, /tmp is the build
# directory, so a store under /tmp is refused), readable by build users.
t_tmpdir() {	# name
	T=$(mktemp -d "/var/tmp/$1.XXXXXX") || exit 1
	chmod 755 "$T"
}

t_daemon_pid=
t_http_pid=
t_cleanup() {
	[ -n "$t_daemon_pid" ] && kill "$t_daemon_pid" 2>/dev/null
	[ -n "$t_http_pid" ] && kill "$t_http_pid" 2>/dev/null
	wait 2>/dev/null
	if [ -z "${KEEP:-}" ] && [ -n "${T:-}" ]; then
		chmod -R u+w "$T" 2>/dev/null
		rm -rf "$T"
	fi
}

# Serve directory $1 on 127.0.0.1; sets $port.  Its log is $T/http.log.
t_start_http() {
	python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$1" \
	    >"$T/http.log" 2>&1 &
	t_http_pid=$!
	_i=0
	until grep -q ' port ' "$T/http.log" 2>/dev/null || [ $_i -ge 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/http.log" | head -1)
}

# Start $B/frx-daemon on a store, state and socket under $T (exported as
# FRX_*, for frx too); its log is $T/daemon.log.
t_start_daemon() {	# extra daemon options...
	export FRX_STORE_DIR="$T/store" FRX_STATE_DIR="$T/var"
	export FRX_DAEMON_SOCKET="$T/daemon.sock" FRX_DATADIR="$top/scheme"
	"$top/$B/frx-daemon" "$@" >"$T/daemon.log" 2>&1 &
	t_daemon_pid=$!
	_i=0
	until [ -S "$FRX_DAEMON_SOCKET" ] || [ $_i -ge 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
}
