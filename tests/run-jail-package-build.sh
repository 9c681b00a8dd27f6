#!/bin/sh
# The founding document's harness, on Linux: start frx-daemon on a
# temporary socket with a temporary store, serve the real GNU Hello 2.10
# tarball from a loopback HTTP server, generate a package file that
# inherits from the shipped hello, build it through the daemon in the
# sandbox, run the result and check what the build observed.
#
#   METADATA_OUT=/tmp/hello-metadata.txt tests/run-jail-package-build.sh
#
# Needs root (the daemon is root and builds as uid 35001).  Prints
# "ok N - ..." / "not ok N - ..." lines; exits non-zero on any failure.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/lib.sh
HELLO_SHA256=31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b
SRC_CACHE=${FRX_SRC_CACHE:-/var/cache/frx-sources}
TARBALL=${HELLO_TARBALL:-$SRC_CACHE/hello_2.10.orig.tar.gz}

if [ "$(id -u)" -ne 0 ]; then
	echo "run-jail-package-build: must run as root" >&2
	exit 1
fi
make -s -j2 B="$B" "$B/frx" "$B/frx-daemon" >/dev/null || {
	echo "run-jail-package-build: build failed" >&2
	exit 1
}
if ! echo "$HELLO_SHA256  $TARBALL" | sha256sum -c --status 2>/dev/null; then
	echo "run-jail-package-build: $TARBALL missing or wrong;" \
	    "run scripts/setup-debian.sh first" >&2
	exit 1
fi

t_tmpdir frx-harness
mkdir -p "$T/www"
cp "$TARBALL" "$T/www/hello-2.10.tar.gz"
trap t_cleanup EXIT
trap 'exit 1' INT TERM
t_start_http "$T/www"
t_start_daemon
check "daemon listens on $FRX_DAEMON_SOCKET" test -S "$FRX_DAEMON_SOCKET"
check "loopback HTTP server runs (port $port)" test -n "$port"

cat >"$T/hello-harness.scm" <<EOF
(use-modules (frx packages) (frx packages hello))

;; GNU Hello as shipped, fetched from a server on loopback.
(package
  (inherit hello)
  (source
   (origin
     (inherit (package-source hello))
     (uri "http://127.0.0.1:$port/hello-2.10.tar.gz"))))
EOF

out=$("$B/frx" build -f "$T/hello-harness.scm" --record "$T/record.txt" \
    2>"$T/build.log")
rc=$?
check "frx build exits 0 (status $rc)" test "$rc" -eq 0
if [ "$rc" -ne 0 ]; then
	tail -n 40 "$T/build.log"
	tail -n 20 "$T/daemon.log"
fi
check "frx build prints an output path in the store" \
    sh -c "case '$out' in '$FRX_STORE_DIR'/*-hello-2.10) exit 0;; esac; exit 1"

runtime=$("$out/bin/hello" 2>&1)
check "\$out/bin/hello prints 'Hello, world!'" test "$runtime" = "Hello, world!"

rec() { sed -n "s/^$1=//p" "$T/record.txt" | head -1; }
drv=$(rec drv_path)
src=$(rec source_store_path)
uid=$(rec build_uid)
gid=$(rec build_gid)
host=$(rec jail_hostname)
mode=$(rec build_mode)

check "record: drv_path is a .drv in the store" \
    sh -c "case '$drv' in '$FRX_STORE_DIR'/*-hello-2.10.drv) exit 0;; esac; exit 1"
check "record: out_path matches" test -n "$out" -a "$(rec out_path)" = "$out"
check "record: build_uid=35001" test "$uid" = 35001
check "record: build_gid=35001" test "$gid" = 35001
check "record: build_mode=linux-namespaces" test "$mode" = linux-namespaces
check "record: jail_hostname is frx-build-hello-<hash> ($host)" \
    sh -c "echo '$host' | grep -Eq '^frx-build-hello-[0-9a-z]{8}$'"
check "record: exit_status=0" test "$(rec exit_status)" = 0
check "record: source_store_path is the tarball" \
    sh -c "case '$src' in '$FRX_STORE_DIR'/*-hello-2.10.tar.gz) exit 0;; esac; exit 1"
check "source in the store has the expected SHA256" \
    sh -c "echo '$HELLO_SHA256  $src' | sha256sum -c --status"

# The build's own observation, printed by the builder inside the sandbox.
check "the builder itself saw uid 35001, gid 35001 and the hostname" \
    grep -q "^frx-build: uid=35001 gid=35001 hostname=$host\$" "$T/build.log"
check "GNU Hello's test suite ran and passed in the sandbox" \
    sh -c "grep -Eq '^# PASS: +[1-9]' '$T/build.log' &&
        grep -Eq '^# FAIL: +0' '$T/build.log'"
check "the daemon log shows the sandboxed build" \
    grep -q "building $drv as uid 35001 in $host (linux-namespaces)" \
    "$T/daemon.log"

"$B/frx" path-info "$out" >"$T/pathinfo.txt" 2>&1
check "the output's references include the source tarball" \
    sh -c "test -n '$src' && grep -qF '$src' '$T/pathinfo.txt'"
check "store item is read-only and owned by root" \
    sh -c "test \"\$(stat -c '%u %a' '$out/bin/hello')\" = '0 555'"
check "store item has mtime 1" \
    test "$(stat -c %Y "$out/bin/hello")" = 1

# Building again is a no-op that gives the same path.
out2=$("$B/frx" build -f "$T/hello-harness.scm" 2>/dev/null)
check "a second build returns the same path without rebuilding" \
    test -n "$out" -a "$out2" = "$out"

check "no mount of the build is left" \
    sh -c "! grep -q '$T' /proc/self/mountinfo"
check "no process of build user 35001 is left" \
    sh -c "! ps -eo uid= | awk '\$1 == 35001' | grep -q ."

if [ -n "${METADATA_OUT:-}" ]; then
	{
		echo "drv_path=$drv"
		echo "out_path=$out"
		echo "runtime_output=$runtime"
		echo "build_uid=$uid"
		echo "build_gid=$gid"
		echo "jail_hostname=$host"
		echo "build_mode=$mode"
		echo "source_store_path=$src"
	} >"$METADATA_OUT"
	check "metadata written to $METADATA_OUT" test -s "$METADATA_OUT"
fi

t_status
