#!/bin/sh
# The README's main job: set the machine up (unless --no-setup), start
# frx-daemon on the default store (/frx/store, state in /frx/var) if none
# is running, seed the store with Debian's GNU Hello 2.10 tarball, build
# GNU Hello through the daemon in the sandbox, and print its output path,
# what it prints, and its build record.  Run as root.
set -eu
cd "$(dirname "$0")/.."
[ "${1:-}" = --no-setup ] || scripts/setup-debian.sh

SRC_CACHE=${FRX_SRC_CACHE:-/var/cache/frx-sources}
STATE=${FRX_STATE_DIR:-/frx/var}
export PATH="/usr/local/bin:$PATH"

# A daemon answers when `frx path-info` exits with anything but 3.
frx path-info /frx/store/00000000000000000000000000000000-x \
    >/dev/null 2>&1 && rc=0 || rc=$?
if [ "$rc" -eq 3 ]; then
	mkdir -p "$STATE/log"
	echo "build-hello: starting frx-daemon (log: $STATE/log/frx-daemon.log)"
	(cd / && exec nohup setsid frx-daemon \
	    >>"$STATE/log/frx-daemon.log" 2>&1 </dev/null) &
	# Until it answers: a socket file alone may be a killed daemon's.
	i=0
	while [ "$rc" -eq 3 ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
		frx path-info /frx/store/00000000000000000000000000000000-x \
		    >/dev/null 2>&1 && rc=0 || rc=$?
	done
	if [ "$rc" -eq 3 ]; then
		echo "build-hello: frx-daemon did not start; the end of" \
		    "$STATE/log/frx-daemon.log:" >&2
		tail -5 "$STATE/log/frx-daemon.log" >&2
		exit 1
	fi
fi

echo "build-hello: seeding the store with Debian's hello_2.10.orig.tar.gz"
frx download "$SRC_CACHE/hello_2.10.orig.tar.gz" hello-2.10.tar.gz

record=$STATE/hello.record
out=$(frx build -f examples/hello.scm --record "$record")
echo
echo "output path: $out"
echo "it says:     $("$out/bin/hello")"
echo "build record ($record):"
sed 's/^/  /' "$record"
