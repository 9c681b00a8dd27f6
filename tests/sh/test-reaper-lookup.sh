#!/bin/sh
# Where frx-daemon takes frx-reaper from: the PID 1 of every sandbox runs
# as root, so it is taken only where nobody but root can have put it,
# first beside the daemon, then in the LIBEXECDIR compiled in.  Each case
# starts a copy of the daemon in $T/CASE/bin, in a private mount
# namespace where LIBEXECDIR is a fresh tmpfs, empty or holding a good
# frx-reaper, and reads what the daemon said.
#
# Needs root.  Prints "ok N - ..." / "not ok N - ...".
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib.sh

[ "$(id -u)" -eq 0 ] || { echo "test-reaper-lookup: needs root" >&2; exit 1; }
make -s -j2 B="$B" "$B/frx-daemon" "$B/frx-reaper" >/dev/null || exit 1
# BINDIR DATADIR LIBEXECDIR, as compiled in (see the Makefile).
LX=$(cut -d' ' -f3 "$B/paths")
case $LX in
/?*) ;;
*) echo "test-reaper-lookup: no LIBEXECDIR in $B/paths" >&2; exit 1 ;;
esac

t_tmpdir frx-lookup
trap 'for p in $(cat "$T"/*/pid 2>/dev/null); do kill "$p" 2>/dev/null; done;
    [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

# The nearest existing directory at or above LIBEXECDIR: the tmpfs goes
# there, so that the host's file system is not touched.
mnt=$LX
while [ ! -d "$mnt" ]; do mnt=$(dirname "$mnt"); done
[ "$mnt" != / ] || { echo "test-reaper-lookup: cannot mount over /" >&2; exit 1; }

# start CASE empty|good: the daemon copy in $T/CASE/bin, started; its
# log in $T/CASE/log, "running" or its exit status in $T/CASE/status.
start() {
	d=$T/$1
	mkdir -p "$d/var"
	chmod 755 "$d"
	FRX_STORE_DIR=$d/store FRX_STATE_DIR=$d/var \
	    FRX_DAEMON_SOCKET=$d/sock FRX_DATADIR=$top/scheme \
	    unshare -m --propagation private sh -c '
		mount -t tmpfs -o mode=0755 frx-test "$1" || exit 90
		mkdir -p "$2" || exit 90
		if [ "$3" = good ]; then
			cp "$4" "$2/frx-reaper" && chmod 0755 "$2/frx-reaper" ||
			    exit 90
		fi
		exec "$5"' sh "$mnt" "$LX" "$2" "$top/$B/frx-reaper" \
	    "$d/bin/frx-daemon" >"$d/log" 2>&1 &
	echo $! >"$d/pid"
	_i=0
	while [ ! -S "$d/sock" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null &&
	    [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if [ -S "$d/sock" ]; then
		echo running >"$d/status"
		kill "$(cat "$d/pid")"
	fi
	wait "$(cat "$d/pid")"
	_rc=$?
	[ -s "$d/status" ] || echo "$_rc" >"$d/status"
	rm -f "$d/pid"
}

# bin CASE: $T/CASE/bin with a copy of the daemon, root's, 0755.
bin() {
	mkdir -p "$T/$1/bin"
	chmod 755 "$T/$1/bin"
	cp "$B/frx-daemon" "$T/$1/bin/"
}

status() { cat "$T/$1/status"; }
said() { grep -qF -- "$2" "$T/$1/log"; }

# 1. A symlink beside the daemon, none installed: no start, and why.
bin symlink
ln -s "$top/$B/frx-reaper" "$T/symlink/bin/frx-reaper"
start symlink empty
check "symlinked frx-reaper, none installed: the daemon does not start (111)" \
    test "$(status symlink)" = 111
check "... it names the symlink and why it was refused" \
    said symlink "$T/symlink/bin/frx-reaper: not a regular file"
check "... and the installed place, and why" \
    said symlink "$LX/frx-reaper: No such file or directory"

# 2. One of nobody's beside the daemon, a good one installed: it
#    starts with the installed one, and says what it refused.
bin nobodys
cp "$B/frx-reaper" "$T/nobodys/bin/"
chown 65534:65534 "$T/nobodys/bin/frx-reaper"
start nobodys good
check "frx-reaper of nobody's beside, a good one installed: it starts" \
    test "$(status nobodys)" = running
check "... warning that it uses the installed one, and why" \
    said nobodys "warning: sandbox: using $LX/frx-reaper, having refused $T/nobodys/bin/frx-reaper: not root's"

# 3. A good one beside, in a directory anybody may write: refused.
bin open
cp "$B/frx-reaper" "$T/open/bin/"
chmod 0777 "$T/open/bin"
start open empty
check "frx-reaper in a directory anybody may write: refused (111)" \
    test "$(status open)" = 111
check "... naming the directory" \
    said open "$T/open/bin/frx-reaper: writable by others than root ($T/open/bin)"

# 4. A group-writable frx-reaper beside the daemon: refused.
bin groupw
cp "$B/frx-reaper" "$T/groupw/bin/"
chmod 0775 "$T/groupw/bin/frx-reaper"
start groupw empty
check "group-writable frx-reaper: refused (111)" \
    test "$(status groupw)" = 111
check "... saying why" \
    said groupw "$T/groupw/bin/frx-reaper: writable by others than root"

# 5. A good one beside the daemon and none installed: it starts, quietly.
bin beside
cp "$B/frx-reaper" "$T/beside/bin/"
start beside empty
check "a good frx-reaper beside the daemon: it starts" \
    test "$(status beside)" = running
check "... without a word about frx-reaper" \
    sh -c "! grep -q frx-reaper '$T/beside/log'"

# 6. None beside, a good one installed: it starts, quietly.
bin installed
start installed good
check "none beside, a good one installed: it starts" \
    test "$(status installed)" = running
check "... without a word about frx-reaper" \
    sh -c "! grep -q frx-reaper '$T/installed/log'"

check "no mount of the test is left" \
    sh -c "! grep -q frx-test /proc/self/mountinfo"

t_status
