#!/bin/sh
# test-cli-build.sh: `frx download', `frx build', `frx record' and
# `frx path-info' against a daemon, with a tiny autotools-shaped package
# made on the spot (no network, no GNU Hello tarball needed).
#
# Uses the daemon at FRX_DAEMON_SOCKET when that is set; otherwise, as
# root with build/frx-daemon present, starts a private daemon on a
# temporary store; otherwise skips.
#
# Environment: FRX, FRX_DAEMON (binaries), FRX_DATADIR.

top=$(cd "$(dirname "$0")/../.." && pwd)
FRX=${FRX:-$top/${B:-build}/frx}
FRX_DAEMON=${FRX_DAEMON:-$top/${B:-build}/frx-daemon}
FRX_DATADIR=${FRX_DATADIR:-$top/scheme}
export FRX_DATADIR

. "$top/tests/lib.sh"

if [ ! -x "$FRX" ]; then
	echo "1..0 # SKIP $FRX not built"
	exit 0
fi

# Not under /tmp: the sandbox refuses a store dir inside a directory it
# replaces for the build.
tmp=$(mktemp -d /var/tmp/frx-cli-build.XXXXXX) || exit 1
chmod 755 "$tmp"
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2> /dev/null
		wait "$daemon_pid" 2> /dev/null
	fi
	rm -rf "$tmp" 2> /dev/null || {
		chmod -R u+w "$tmp" 2> /dev/null
		rm -rf "$tmp"
	}
}
trap cleanup EXIT INT TERM

if [ -n "$FRX_DAEMON_SOCKET" ]; then
	: "${FRX_STORE_DIR:=/frx/store}"
elif [ "$(id -u)" -eq 0 ] && [ -x "$FRX_DAEMON" ]; then
	FRX_STORE_DIR=$tmp/store
	FRX_STATE_DIR=$tmp/var
	FRX_DAEMON_SOCKET=$tmp/var/daemon-socket/socket
	export FRX_STATE_DIR
	"$FRX_DAEMON" --store-dir "$FRX_STORE_DIR" \
	    --state-dir "$FRX_STATE_DIR" > "$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	i=0
	while [ ! -S "$FRX_DAEMON_SOCKET" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
else
	echo "1..0 # SKIP no FRX_DAEMON_SOCKET and cannot start a daemon"
	exit 0
fi
export FRX_STORE_DIR FRX_DAEMON_SOCKET
if [ ! -S "$FRX_DAEMON_SOCKET" ]; then
	echo "1..0 # SKIP daemon socket $FRX_DAEMON_SOCKET not there"
	[ -f "$tmp/daemon.log" ] && sed 's/^/# /' "$tmp/daemon.log"
	exit 0
fi

cd "$tmp" || exit 1

# A package with the shape of a GNU one: configure writes a Makefile.
mkdir -p pkg/toy-1.0
cat > pkg/toy-1.0/configure <<'EOF'
#!/bin/sh
prefix=/usr/local
for a; do
	case $a in
	--prefix=*) prefix=${a#--prefix=} ;;
	--fail) echo "configure: failing on request" >&2; exit 1 ;;
	esac
done
cat > Makefile <<MK
prefix = $prefix
all: toy
toy:
	printf '#!/bin/sh\necho toy ok\n' > toy
check: toy
	sh ./toy | grep -q 'toy ok'
install: toy
	mkdir -p \$(prefix)/bin
	cp toy \$(prefix)/bin/toy
	chmod 755 \$(prefix)/bin/toy
MK
EOF
chmod 755 pkg/toy-1.0/configure
tar cf - -C pkg toy-1.0 | gzip -n > toy-1.0.tar.gz
hex=$( (sha256sum toy-1.0.tar.gz 2> /dev/null || sha256 -r toy-1.0.tar.gz) |
    cut -d' ' -f1)

toy_scm() {
	cat <<EOF
(use-modules (frx packages))
(package
  (name "toy")
  (version "1.0")
  (source (origin
            (method url-fetch)
            (uri "http://127.0.0.1:9/toy-1.0.tar.gz")
            (sha256 "$hex")))
  (build-system gnu-build-system)
  (arguments (list #:configure-flags '($1))))
EOF
}
toy_scm '"--enable-toy"' > toy.scm
toy_scm '"--fail"' > toy-fail.scm
toy_scm '"--enable-toy" "--chatty"' > toy-chatty.scm

"$FRX" eval -f toy.scm --paths > paths 2> err
check "eval the toy package" [ $? -eq 0 ]
src=$(sed -n 's/^source_store_path=//p' paths)
drv=$(sed -n 's/^drv_path=//p' paths)
out=$(sed -n 's/^out_path=//p' paths)

seeded=$("$FRX" download toy-1.0.tar.gz 2>> err)
check "download prints the source path ($seeded)" [ "$seeded" = "$src" ]

dry=$("$FRX" build -n -f toy.scm 2>> err)
check "build -n prints the drv path" [ "$dry" = "$drv" ]

built=$("$FRX" build -f toy.scm --record toy.record 2> build.log)
st=$?
check "build exits 0 (got $st)" [ $st -eq 0 ]
check "build prints the output path" [ "$built" = "$out" ]
check "the log streams the phases" grep -q '^phase: install' build.log
check "the build ran as a build user" \
    sh -c "grep '^frx-build: uid=' build.log | grep -qv 'uid=0 '"
check "the output runs" sh -c "[ \"\$(sh $out/bin/toy)\" = 'toy ok' ]"
check "the output names its source" \
    grep -qx "$src" "$out/share/frx/toy-1.0/source"
for k in drv_path out_path source_store_path; do
	check "record has $k" grep -q "^$k=" toy.record
done
check "record drv_path is the drv" grep -qx "drv_path=$drv" toy.record

"$FRX" path-info "$out" > info 2>> err
check "path-info exits 0" [ $? -eq 0 ]
check "the output refers to its source" grep -q "^references=.*$src" info
check "the output's deriver is the drv" grep -qx "deriver=$drv" info

"$FRX" record "$drv" > rec2 2>> err
check "record DRV prints the record" [ -s rec2 ]

"$FRX" build -f toy-fail.scm > failout 2> fail.log
st=$?
check "a failing build exits 1 (got $st)" [ $st -eq 1 ]
check "the failure names the phase" grep -q 'phase configure failed' fail.log
check "nothing on stdout for a failed build" [ ! -s failout ]

"$FRX" build --max-log-size 200 -f toy-chatty.scm > chattyout 2> chatty.log
st=$?
check "a build whose log passes --max-log-size exits 1 (got $st)" [ $st -eq 1 ]
check "... and the error names the limit" \
    grep -q 'its log passed 200 bytes (max-log-size)' chatty.log
"$FRX" build --max-log-size 20k -f toy.scm > /dev/null 2>> err
st=$?
check "--max-log-size takes only a number of bytes (got $st)" [ $st -eq 2 ]

"$FRX" --socket "$tmp/no-such-socket" build -f toy.scm > /dev/null 2>&1
st=$?
check "an unreachable daemon exits 3 (got $st)" [ $st -eq 3 ]

if [ $failed -ne 0 ]; then
	for f in err build.log fail.log chatty.log daemon.log; do
		[ -s "$f" ] && sed "s/^/# $f: /" "$f" | tail -n 40
	done
fi
echo "1..$n"
[ $failed -eq 0 ]
