#!/bin/sh
# Bad input and hostile builders, each through the real daemon and
# sandbox: every case must end in a clear error (or a contained build),
# with the store and database consistent and no mount or process left.
#
# Needs root.  Prints "ok N - ..." / "not ok N - ...".
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib.sh
SRC_CACHE=${FRX_SRC_CACHE:-/var/cache/frx-sources}
TARBALL=${HELLO_TARBALL:-$SRC_CACHE/hello_2.10.orig.tar.gz}

[ "$(id -u)" -eq 0 ] || { echo "test-bad-input: needs root" >&2; exit 1; }
make -s -j2 B="$B" "$B/frx" "$B/frx-daemon" >/dev/null || exit 1

t_tmpdir frx-bad
mkdir -p "$T/www"
[ -f "$TARBALL" ] && cp "$TARBALL" "$T/www/hello-2.10.tar.gz"
echo "not the real thing" >"$T/www/other.tar.gz"
trap t_cleanup EXIT
trap 'exit 1' INT TERM
t_start_http "$T/www"
# The soft limit on open files most daemons start with (systemd's): the
# daemon raises its own for its walks over deep outputs, and gives its
# builders this one back.
ulimit -S -n 1024
t_start_daemon
daemon_pid=$t_daemon_pid

# A package built by a shell script of our own (trivial build system).
trivial() {	# name script-file
	cat >"$T/$1.scm" <<EOF
(use-modules (frx packages) (ice-9 textual-ports))
(package
  (name "$1")
  (version "1")
  (source #f)
  (build-system trivial-build-system)
  (arguments
   (list #:builder (call-with-input-file "$2" get-string-all))))
EOF
}

build() {	# name -> output on stdout, log in $T/name.log, status in $rc
	"$B/frx" build -f "$T/$1.scm" --record "$T/$1.record" \
	    >"$T/$1.out" 2>"$T/$1.log"
	rc=$?
}

store_clean() {	# nothing unregistered, no temporary, no mount, no process
	for p in "$FRX_STORE_DIR"/*; do
		[ -e "$p" ] || continue
		"$B/frx" path-info "$p" >/dev/null 2>&1 || {
			echo "unregistered store entry: $p"
			return 1
		}
	done
	! ls -A "$FRX_STORE_DIR" | grep -q '^\.frx-tmp' &&
	    ! grep -q "$T" /proc/self/mountinfo &&
	    ! ps -eo uid= | awk '$1 >= 35001 && $1 <= 35999' | grep -q .
}

# 1. A wrong source hash.
cat >"$T/badhash.scm" <<EOF
(use-modules (frx packages) (frx packages hello))
(package
  (inherit hello)
  (source
   (origin
     (inherit (package-source hello))
     (uri "http://127.0.0.1:$port/other.tar.gz")
     (sha256 "0000000000000000000000000000000000000000000000000000000000000000"))))
EOF
build badhash
check "wrong hash: build fails with status 1" test "$rc" -eq 1
check "wrong hash: error names the URL" \
    grep -q "http://127.0.0.1:$port/other.tar.gz" "$T/badhash.log"
check "wrong hash: error names the expected hash" \
    grep -q "expected sha256:0000000000000000000000000000000000000000000000000000" \
    "$T/badhash.log"
actual=$(sha256sum "$T/www/other.tar.gz" | cut -d' ' -f1)
check "wrong hash: error names the actual hash" \
    grep -q "got sha256:" "$T/badhash.log"
check "wrong hash: nothing named other.tar.gz/hello-2.10.tar.gz output is in the store" \
    sh -c "! ls '$FRX_STORE_DIR' | grep -v '\.drv$' | grep -q 'hello-2.10.tar.gz$'"
check "wrong hash: store consistent" store_clean

# 2. A URL that does not answer.
cat >"$T/noanswer.scm" <<EOF
(use-modules (frx packages) (frx packages hello))
(package
  (inherit hello)
  (source
   (origin
     (inherit (package-source hello))
     (uri "http://127.0.0.1:1/hello-2.10.tar.gz")
     (sha256 "1111111111111111111111111111111111111111111111111111111111111111"))))
EOF
build noanswer
check "dead URL: build fails with status 1" test "$rc" -eq 1
check "dead URL: error names the URL and the reason" \
    grep -Eq "http://127.0.0.1:1/hello-2.10.tar.gz: .*(refused|connect)" \
    "$T/noanswer.log"
check "dead URL: store consistent" store_clean

# 3. A builder that fails.
printf 'echo first line\necho the last words\nexit 3\n' >"$T/fail.sh"
trivial failing "$T/fail.sh"
build failing
check "failing builder: status 1" test "$rc" -eq 1
check "failing builder: client sees the exit status" \
    grep -q "failed with exit code 3" "$T/failing.log"
check "failing builder: client sees the log tail" \
    grep -q "the last words" "$T/failing.log"
check "failing builder: no output registered" \
    sh -c "! ls '$FRX_STORE_DIR' | grep -v '\.drv$' | grep -q -- '-failing-1$'"
check "failing builder: the build record says failed" \
    grep -q "^status=failed" "$T/failing.record"
check "failing builder: store consistent" store_clean

# 4. A builder that writes outside its output and /tmp.
cat >"$T/escape.sh" <<'EOF'
for f in /usr/frx-escape /frx-escape /etc/frx-escape /bin/frx-escape; do
	if echo owned >"$f" 2>/dev/null; then echo "WROTE $f"; exit 1; fi
done
if echo owned >>/etc/passwd 2>/dev/null; then echo "WROTE /etc/passwd"; exit 1; fi
echo ok >/tmp/fine
mkdir "$out" && echo contained >"$out/result"
EOF
trivial escape "$T/escape.sh"
build escape
check "writes outside: refused inside the sandbox, build contained" \
    test "$rc" -eq 0
check "writes outside: nothing reached the host" \
    sh -c "! test -e /usr/frx-escape && ! test -e /frx-escape &&
        ! test -e /etc/frx-escape && ! grep -q owned /etc/passwd"

# 5. Reading a store path that is not an input.
echo "secret-$$" >"$T/secret.txt"
secret=$("$B/frx" download "$T/secret.txt")
cat >"$T/peek.sh" <<EOF
if cat "$secret" 2>/dev/null; then echo "READ A NON-INPUT"; exit 1; fi
if ls "$FRX_STORE_DIR" | grep -q secret; then echo "LISTED A NON-INPUT"; exit 1; fi
if cat /etc/shadow 2>/dev/null; then echo "READ SHADOW"; exit 1; fi
if ls /root 2>/dev/null; then echo "SAW /root"; exit 1; fi
mkdir "\$out"
EOF
trivial peek "$T/peek.sh"
build peek
check "foreign store path, /etc/shadow and /root are invisible" \
    test "$rc" -eq 0
check "the secret never reached the log" \
    sh -c "! grep -q 'secret-$$' '$T/peek.log'"

# 6. Opening a network connection.
cat >"$T/net.sh" <<EOF
if python3 -c 'import socket; socket.create_connection(("127.0.0.1", $port), 3)' 2>/dev/null; then
	echo "CONNECTED"; exit 1
fi
mkdir "\$out"
EOF
trivial net "$T/net.sh"
: >"$T/http.log.mark"
before=$(grep -c GET "$T/http.log")
build net
check "network: the connection fails inside the sandbox" test "$rc" -eq 0
check "network: the host server saw no request" \
    test "$(grep -c GET "$T/http.log")" -eq "$before"

# 7. Leaving a background process running.
cat >"$T/bg.sh" <<'EOF'
sleep 1000 &
(setsid sleep 1001 &) &
mkdir "$out"
echo started background processes
EOF
trivial background "$T/bg.sh"
build background
check "background: the build succeeds" test "$rc" -eq 0
sleep 0.5
check "background: no process of the build survives it" \
    sh -c "! ps -eo args= | grep -Eq '^sleep 100[01]$'"

# 8. Outputs that may not enter the store, and bits that are stripped.
cat >"$T/fifo.sh" <<'EOF'
mkdir "$out"
mkfifo "$out/pipe"
EOF
trivial fifo "$T/fifo.sh"
build fifo
check "FIFO in the output: refused" test "$rc" -eq 1
check "FIFO in the output: the error names the file" \
    grep -q -- "-fifo-1/pipe: is a FIFO" "$T/fifo.log"
check "FIFO in the output: nothing registered" \
    sh -c "! ls '$FRX_STORE_DIR' | grep -v '\.drv$' | grep -q -- '-fifo-1$'"

cat >"$T/sock.sh" <<'EOF'
mkdir "$out"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$out/sock"
EOF
trivial sock "$T/sock.sh"
build sock
check "socket in the output: refused, naming the file" \
    sh -c "test $rc -eq 1 && grep -q -- '-sock-1/sock: is a socket' '$T/sock.log'"

cat >"$T/hardlink.sh" <<'EOF'
echo outside >"$NIX_STORE/outside-$$"
mkdir "$out"
ln "$NIX_STORE/outside-$$" "$out/inside"
EOF
trivial hardlink "$T/hardlink.sh"
build hardlink
check "hard link to a file outside the output: refused, naming it" \
    sh -c "test $rc -eq 1 && grep -q -- '-hardlink-1/inside: is a hard link' '$T/hardlink.log'"

# A builder decides how deep its output goes: the daemon's walks recurse
# once per level, and must refuse, not crash (3000 levels overflowed the
# runner's stack before).
deep() {	# name levels: an output of directories "d" nested that deep
	cat >"$T/$1.sh" <<EOF
echo "open files: \$(ulimit -n)"
python3 -c '
import os, sys
os.mkdir(sys.argv[1])
os.chdir(sys.argv[1])
for i in range($2):
    os.mkdir("d")
    os.chdir("d")
' "\$out"
EOF
	trivial "$1" "$T/$1.sh"
	build "$1"
}
deep deep 3000
check "output nested 3000 deep: refused, saying why" \
    sh -c "test $rc -eq 1 && grep -q 'nested more than 1024 deep' '$T/deep.log'"
check "output nested 3000 deep: the runner was not killed" \
    sh -c "! grep -q 'killed by signal' '$T/deep.log'"
deep deep1025 1025
check "output nested 1025 deep: refused" \
    sh -c "test $rc -eq 1 && grep -q 'nested more than 1024 deep' '$T/deep1025.log'"
deep deep1024 1024
check "output nested 1024 deep, daemon started with 1024 open files: built" \
    test "$rc" -eq 0
check "... and its builder had the daemon's own limit, 1024 open files" \
    grep -q "open files: 1024" "$T/deep1024.log"
deepest=$(cat "$T/deep1024.out")
for i in $(seq 1024); do deepest=$deepest/d; done
check "... down to the 1024th directory" test -d "$deepest"

cat >"$T/longpath.sh" <<'EOF'
n=$(printf '%0250d' 0 | tr 0 n)
p=$n/$n/$n/$n/$n/$n/$n/$n/$n/$n
mkdir -p "$out/$p"
cd "$out/$p"
mkdir -p "$p"
EOF
trivial longpath "$T/longpath.sh"
build longpath
check "a path inside the output longer than 4095 bytes: refused, the reason kept" \
    sh -c "test $rc -eq 1 && grep -q 'a path inside the output longer than 4095 bytes; refusing it' '$T/longpath.log'"

cat >"$T/bits.sh" <<'EOF'
mkdir "$out"
echo x >"$out/suid"
chmod 6755 "$out/suid"
echo y >"$out/plain"
chmod 0666 "$out/plain"
ln "$out/plain" "$out/plain2"
EOF
trivial bits "$T/bits.sh"
build bits
bits=$(cat "$T/bits.out")
check "setuid/setgid stripped, write bits removed, links inside allowed" \
    sh -c "test $rc -eq 0 &&
        test \"\$(stat -c %a '$bits/suid')\" = 555 &&
        test \"\$(stat -c %a '$bits/plain')\" = 444 &&
        test \"\$(stat -c %a '$bits')\" = 555"
check "after the refused outputs: store consistent" store_clean

# 9. Package files with a syntax error or an unknown field.
printf '(use-modules (frx packages))\n(package\n  (name "x")\n' >"$T/syntax.scm"
"$B/frx" build -f "$T/syntax.scm" >/dev/null 2>"$T/syntax.log"
rc=$?
check "syntax error: status 2" test "$rc" -eq 2
check "syntax error: names the file and line" \
    grep -q "$T/syntax.scm:[0-9]" "$T/syntax.log"
cat >"$T/field.scm" <<'EOF'
(use-modules (frx packages))
(package
  (name "x")
  (version "1")
  (colour "blue")
  (source #f)
  (build-system gnu-build-system))
EOF
"$B/frx" build -f "$T/field.scm" >/dev/null 2>"$T/field.log"
rc=$?
check "unknown field: status 2" test "$rc" -eq 2
check "unknown field: names the file, line 5 and the field" \
    sh -c "grep -q '$T/field.scm:5' '$T/field.log' &&
        grep -q colour '$T/field.log'"

# 10. Text that is not ASCII reaches the builder intact, in any locale.
printf 'mkdir "$out"\necho "h\303\251llo \344\270\226\347\225\214" >"$out/greeting"\n' \
    >"$T/utf8.sh"
trivial utf8 "$T/utf8.sh"
LC_ALL=C build utf8
check "UTF-8 in a package file survives a C locale" \
    sh -c "test $rc -eq 0 &&
        printf 'h\303\251llo \344\270\226\347\225\214\n' | cmp -s - \"\$(cat '$T/utf8.out')/greeting\""

# 11. Daemon configurations that cannot work are refused at start-up.
"$B/frx-daemon" --socket "$T/second.sock" >/dev/null 2>"$T/second.err"
rc=$?
check "a second daemon on the same state directory is refused" \
    sh -c "test $rc -eq 111 && grep -q 'another frx-daemon' '$T/second.err'"
check "...and it left the first daemon's socket alone" \
    test -S "$FRX_DAEMON_SOCKET"
"$B/frx-daemon" --store-dir /tmp/frx-store-$$ --state-dir "$T/other" \
    --socket "$T/other.sock" >/dev/null 2>"$T/tmpstore.err"
rc=$?
check "a store under /tmp is refused, with the reason" \
    sh -c "test $rc -eq 111 && grep -q 'overlaps /tmp' '$T/tmpstore.err' &&
        ! test -e /tmp/frx-store-$$"

for v in ' -1' 1k ''; do
	"$B/frx-daemon" --max-log-size "$v" --state-dir "$T/other" \
	    --socket "$T/other.sock" >/dev/null 2>"$T/maxlog.err"
	rc=$?
	check "--max-log-size '$v' is refused, with the reason" \
	    sh -c "test $rc -eq 100 &&
	        grep -q -- \"--max-log-size: $v is not a number of bytes\" '$T/maxlog.err'"
done

check "after everything: store consistent, no mount, no process" store_clean
check "the daemon is still running" kill -0 "$daemon_pid"

t_status
