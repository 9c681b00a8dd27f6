#!/bin/sh
# test-nix-client.sh: the real Nix 2.8 client (Debian's nix-bin) builds,
# adds and queries through frx-daemon, unchanged.
#
# Starts a private daemon on a temporary store under /var/tmp (the sandbox
# refuses a store under /tmp) and points nix-store, nix-build and
# nix-instantiate at it with NIX_REMOTE.  Flows: --add-fixed against
# `frx download', nix-build of GNU Hello whose source is a builtin:fetchurl
# fixed-output derivation served by a local HTTP server, --realise (drv,
# valid output, failing builder), the queries, --dump against the daemon's
# NarFromPath, --export/--import between two stores, --verify
# --check-contents, and the operations frx refuses.
#
# Needs root, nix-bin, python3, unshare(1) and the GNU Hello 2.10 tarball
# (scripts/setup-debian.sh installs them).  Prints "ok N - ..." /
# "not ok N - ..." lines; exits non-zero if anything failed.
#
# Environment: B (build directory, default build), HELLO_TARBALL,
# KEEP=1 to keep the temporary directory.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
B=${B:-build}
FRX=$top/$B/frx
FRX_DAEMON=$top/$B/frx-daemon
WIRECLIENT=$top/tests/proto/wireclient.py
TARBALL=${HELLO_TARBALL:-/var/cache/frx-sources/hello_2.10.orig.tar.gz}
HELLO_SHA256=31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b
TMO=60

. tests/lib.sh
bail() { not_ok "$*"; exit 1; }

command -v nix-store >/dev/null 2>&1 ||
    bail "nix-store not found: install nix-bin (scripts/setup-debian.sh)"
[ "$(id -u)" -eq 0 ] || bail "needs root (builds run as uid 35001+)"
[ -x "$FRX" ] && [ -x "$FRX_DAEMON" ] ||
    bail "$FRX and $FRX_DAEMON not built (make B=$B)"
[ -f "$TARBALL" ] ||
    bail "$TARBALL missing (scripts/setup-debian.sh fetches it)"
command -v python3 >/dev/null 2>&1 || bail "python3 not found"

T=$(mktemp -d /var/tmp/frx-nix-client.XXXXXX) || exit 1
chmod 755 "$T"
daemon_pid=
daemonC_pid=
http_pid=
cleanup() {
	for pid in "$daemon_pid" "$daemonC_pid" "$http_pid" \
	    "$(cat "$T/daemonB.pid" 2>/dev/null)"; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -z "${KEEP:-}" ]; then
		chmod -R u+w "$T" 2>/dev/null
		rm -rf "$T"
	else
		echo "# kept $T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

STORE=$T/store
STATE=$T/var
SOCK=$T/sock
mkdir -p "$T/nixconf" "$T/nixstate" "$T/home" "$T/www" "$T/work"
# No substituters: everything comes from frx-daemon or is built by it.
printf 'substituters =\n' >"$T/nixconf/nix.conf"

export NIX_REMOTE="unix://$SOCK" NIX_STORE_DIR="$STORE"
export NIX_STATE_DIR="$T/nixstate" NIX_LOG_DIR="$STATE/log"
export NIX_CONF_DIR="$T/nixconf" HOME="$T/home" XDG_CACHE_HOME="$T/home"
export FRX_STORE_DIR="$STORE" FRX_STATE_DIR="$STATE"
export FRX_DAEMON_SOCKET="$SOCK" FRX_DATADIR="$top/scheme"
unset NIX_PATH

wait_for() {	# file-test path
	i=0
	while ! test "$1" "$2" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	test "$1" "$2"
}

"$FRX_DAEMON" --store-dir "$STORE" --state-dir "$STATE" --socket "$SOCK" \
    >"$T/daemon.log" 2>&1 &
daemon_pid=$!
wait_for -S "$SOCK" || bail "frx-daemon did not start: $(cat "$T/daemon.log")"

cp "$TARBALL" "$T/www/hello-2.10.tar.gz"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$T/www" \
    >"$T/http.log" 2>&1 &
http_pid=$!
i=0
while ! grep -q ' port ' "$T/http.log" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/http.log" | head -1)
[ -n "$port" ] || bail "the HTTP server did not start: $(cat "$T/http.log")"

# run NAME CMD...: stdout to $T/NAME.out, stderr to $T/NAME.err, status
# in $rc; every client call is bounded so that a hang is a failure.
run() {
	name=$1
	shift
	timeout "$TMO" "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
}
out() { cat "$T/$1.out"; }
contains() { grep -q -- "$2" "$T/$1"; }		# file pattern
same() { [ "$1" = "$2" ] || { echo "# '$1' != '$2'"; return 1; }; }
tm() { timeout "$TMO" "$@"; }
builds() { grep -c ': building ' "$T/daemon.log"; }
nar_b32() {	# path -> sha256:<base32> of its NAR, computed by Nix
	h=$(tm nix-store --dump "$1" | sha256sum | cut -d' ' -f1)
	echo "sha256:$(nix-hash --type sha256 --to-base32 "$h")"
}
path_info() {	# path key -> value from `frx path-info'
	tm "$FRX" path-info "$1" | sed -n "s/^$2=//p"
}
frx_valid() { tm "$FRX" path-info "$1" >/dev/null 2>&1; }
frx_invalid() { ! frx_valid "$1"; }
one_store_path() {	# output file holds exactly one store path
	[ "$(wc -l <"$T/$1")" -eq 1 ] || return 1
	case $(cat "$T/$1") in "$STORE"/*) return 0 ;; esac
	return 1
}

# ---------------------------------------------------------------------
# 1. --add-fixed against `frx download'

cp "$TARBALL" "$T/work/hello-2.10.tar.gz"
run addfixed nix-store --add-fixed sha256 "$T/work/hello-2.10.tar.gz"
check "nix-store --add-fixed sha256: exit 0" [ "$rc" -eq 0 ]
SRC=$(out addfixed)
want=$(tm nix-store --print-fixed-path sha256 "$HELLO_SHA256" hello-2.10.tar.gz)
check "--add-fixed path is Nix's fixed-output path" same "$SRC" "$want"
run download "$FRX" download "$T/work/hello-2.10.tar.gz"
check "frx download gives the same path as nix-store --add-fixed" \
    same "$(out download)" "$SRC"
check "the store file is the tarball" cmp -s "$SRC" "$TARBALL"
check "frx path-info: NAR hash is sha256 of nix-store --dump" \
    same "$(path_info "$SRC" nar_hash)" "$(nar_b32 "$SRC")"
check "frx path-info: NAR size is the size of nix-store --dump" \
    same "$(path_info "$SRC" nar_size)" \
    "$(tm nix-store --dump "$SRC" | wc -c | tr -d ' ')"
check "frx path-info: content address fixed:sha256" \
    same "$(path_info "$SRC" ca)" \
    "fixed:sha256:$(nix-hash --type sha256 --to-base32 "$HELLO_SHA256")"

# ---------------------------------------------------------------------
# 2. nix-build of GNU Hello, source fetched by builtin:fetchurl

cat >"$T/work/builder.sh" <<'EOF'
PATH=/usr/bin:/bin
export PATH
echo "builder running as uid $(id -u)"
tar xzf "$src"
cd hello-2.10
./configure --prefix="$out"
make
make check
make install
EOF
cat >"$T/work/hello.nix" <<EOF
let
  src = derivation {
    name = "hello-2.10-fetched.tar.gz";
    system = "builtin";
    builder = "builtin:fetchurl";
    url = "http://127.0.0.1:$port/hello-2.10.tar.gz";
    outputHash = "$HELLO_SHA256";
    outputHashAlgo = "sha256";
    outputHashMode = "flat";
    preferLocalBuild = true;
  };
in derivation {
  name = "hello-2.10";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-e" ./builder.sh ];
  inherit src;
}
EOF
cd "$T/work" || exit 1
run dryinst nix-instantiate hello.nix
run dryrun nix-store --realise --dry-run "$(out dryinst)"
check "--realise --dry-run (QueryMissing) lists both derivations" \
    sh -c "grep -q 'these 2 derivations will be built' '$T/dryrun.err' &&
        grep -q 'hello-2.10-fetched.tar.gz.drv' '$T/dryrun.err'"
TMO=900 run nixbuild nix-build hello.nix
check "nix-build hello.nix: exit 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/nixbuild.err" | tail -20
OUT=$(out nixbuild)
check "nix-build printed one store path" one_store_path nixbuild.out
check "frx registered the output" frx_valid "$OUT"
check "result links to the output" same "$(readlink result)" "$OUT"
check "result/bin/hello prints Hello, world!" \
    same "$(./result/bin/hello 2>&1)" "Hello, world!"
check "the build ran as uid 35001 (daemon log)" \
    grep -q "building .*hello-2.10.drv as uid 35001 " "$T/daemon.log"
check "the builder saw uid 35001" contains nixbuild.err \
    "builder running as uid 35001"
check "the log reached the client (make check passed)" \
    contains nixbuild.err "PASS: tests/hello-1"
check "builtin:fetchurl fetched from the HTTP server" \
    grep -q "GET /hello-2.10.tar.gz" "$T/http.log"
FOD=$(tm nix-store --print-fixed-path sha256 "$HELLO_SHA256" \
    hello-2.10-fetched.tar.gz)
check "the fetched source is valid at its fixed-output path" \
    tm nix-store --check-validity "$FOD"
run instantiate nix-instantiate hello.nix
DRV=$(out instantiate)
check "nix-instantiate gives the derivation nix-build built" \
    same "$(path_info "$OUT" deriver)" "$DRV"
run readlog nix-store --read-log "$DRV"
check "nix-store --read-log shows the build log" \
    contains readlog.out "Testsuite summary for GNU Hello 2.10"

# ---------------------------------------------------------------------
# 3. --realise

n0=$(builds)
run realise_drv nix-store --realise "$DRV"
check "--realise of the built .drv: exit 0, prints the output" \
    sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$T/realise_drv.out')\" = '$OUT' ]"
run realise_out nix-store --realise "$OUT"
check "--realise of a valid output path: exit 0, prints it" \
    sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$T/realise_out.out')\" = '$OUT' ]"
run rebuild nix-build hello.nix
check "nix-build again: same output" same "$(out rebuild)" "$OUT"
check "no rebuild: the daemon log gained no 'building' line" \
    same "$(builds)" "$n0"

cat >"$T/work/fail.nix" <<'EOF'
derivation {
  name = "fails";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo first line; echo the last words; exit 3" ];
}
EOF
run fail_inst nix-instantiate fail.nix
FDRV=$(out fail_inst)
FOUT=$(tm nix-store -q --outputs "$FDRV")
run fail nix-store --realise "$FDRV"
check "--realise of a failing builder: non-zero exit, no hang" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "the client prints the exit code" \
    contains fail.err "failed with exit code 3"
check "the client prints the log tail" contains fail.err "the last words"
run fail_valid nix-store --check-validity "$FOUT"
check "the failed output is not valid (nix-store --check-validity)" \
    [ "$rc" -ne 0 ]
check "the failed output is not valid (frx path-info)" frx_invalid "$FOUT"
check "the failed output is not in the store" [ ! -e "$FOUT" ]

# Nix's own name for the log limit, as nix-store sends it.
cat >"$T/work/chatty.nix" <<'EOF'
derivation {
  name = "chatty";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; echo x > $out" ];
}
EOF
run chatty_inst nix-instantiate chatty.nix
CDRV=$(out chatty_inst)
run chatty nix-store --realise "$CDRV" --option max-build-log-size 1000
check "--option max-build-log-size 1000: the chatty build fails" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "... and the client says the log passed 1000 bytes" \
    contains chatty.err "its log passed 1000 bytes (max-log-size)"

# ---------------------------------------------------------------------
# 4. Queries

BUILDER=$(grep -o "$STORE/[a-z0-9]*-builder.sh" "$DRV" | head -1)
SRCDRV=$(tm nix-store -q --deriver "$FOD")
run refs nix-store -q --references "$OUT"
check "-q --references agrees with frx path-info" \
    same "$(sort "$T/refs.out" | tr '\n' ' ')" \
    "$(path_info "$OUT" references | tr ' ' '\n' | sort | tr '\n' ' ')"
run drvrefs nix-store -q --references "$DRV"
check "-q --references of the .drv: builder script and source .drv" \
    same "$(sort "$T/drvrefs.out" | tr '\n' ' ')" \
    "$(printf '%s\n' "$BUILDER" "$SRCDRV" | sort | tr '\n' ' ')"
run referrers nix-store -q --referrers "$BUILDER"
check "-q --referrers of the builder script lists the .drv" \
    contains referrers.out "^$DRV\$"
run reqs nix-store -q --requisites "$DRV"
check "-q --requisites of the .drv: itself, source .drv, builder" \
    same "$(sort "$T/reqs.out" | tr '\n' ' ')" \
    "$(printf '%s\n' "$DRV" "$SRCDRV" "$BUILDER" | sort | tr '\n' ' ')"
run deriver nix-store -q --deriver "$OUT"
check "-q --deriver" same "$(out deriver)" "$DRV"
run hash nix-store -q --hash "$OUT"
check "-q --hash is sha256 of nix-store --dump" \
    same "$(out hash)" "$(nar_b32 "$OUT")"
run size nix-store -q --size "$OUT"
check "-q --size is the size of nix-store --dump" \
    same "$(out size)" "$(tm nix-store --dump "$OUT" | wc -c | tr -d ' ')"
run outputs nix-store -q --outputs "$DRV"
check "-q --outputs" same "$(out outputs)" "$OUT"
# nix-store 2.8 has no --valid-derivers; ask the daemon directly.
run derivers python3 "$WIRECLIENT" valid-derivers "$OUT"
check "QueryValidDerivers of the output lists the .drv" \
    same "$(out derivers)" "$DRV"
run verifypath nix-store --verify-path "$OUT"
check "nix-store --verify-path: exit 0" [ "$rc" -eq 0 ]
run roots nix-store --gc --print-roots
check "--gc --print-roots lists the result link" \
    contains roots.out "^$T/work/result -> $OUT\$"
tm nix-store --dump "$OUT" >"$T/dump.nar"
tm python3 "$WIRECLIENT" nar-from-path "$OUT" >"$T/daemon.nar"
check "nix-store --dump equals the daemon's NarFromPath" \
    cmp -s "$T/dump.nar" "$T/daemon.nar"
check "the daemon's NAR is not empty" [ -s "$T/daemon.nar" ]
tm nix-store --export "$OUT" >"$T/one.export" 2>/dev/null
tm python3 "$WIRECLIENT" export "$OUT" >"$T/daemon.export"
check "nix-store --export equals the daemon's ExportPath (op 16)" \
    cmp -s "$T/one.export" "$T/daemon.export"

# --export / --import between two stores.  Paths embed the store dir, so
# the second daemon gets the same store dir path in a private mount
# namespace, with another directory mounted on it.
run export nix-store --export $(tm nix-store -qR "$OUT" "$DRV")
cp "$T/export.out" "$T/closure.export"
check "nix-store --export: exit 0" [ "$rc" -eq 0 ]
mkdir -p "$T/storeB" "$T/varB" "$T/nixstateB"
cat >"$T/import.sh" <<EOF
mount --bind '$T/storeB' '$STORE' || exit 1
'$FRX_DAEMON' --store-dir '$STORE' --state-dir '$T/varB' \
    --socket '$T/sockB' >'$T/daemonB.log' 2>&1 &
pid=\$!
echo \$pid >'$T/daemonB.pid'
i=0
while [ ! -S '$T/sockB' ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
export NIX_REMOTE='unix://$T/sockB' NIX_STATE_DIR='$T/nixstateB'
export FRX_DAEMON_SOCKET='$T/sockB' FRX_STATE_DIR='$T/varB'
timeout $TMO nix-store --import <'$T/closure.export' >'$T/import.out' \
    2>'$T/import.err'
echo \$? >'$T/import.rc'
timeout $TMO nix-store -q --hash '$OUT' >'$T/importB.hash' 2>&1
timeout $TMO nix-store -q --deriver '$OUT' >'$T/importB.deriver' 2>&1
timeout $TMO nix-store --realise '$DRV' >'$T/importB.realise' \
    2>'$T/importB.realise.err'
'$OUT/bin/hello' >'$T/importB.hello' 2>&1
timeout $TMO nix-store --verify --check-contents >'$T/importB.verify' 2>&1
echo \$? >'$T/importB.verify.rc'
ls '$STORE' >'$T/importB.ls'
kill \$pid
wait \$pid
rm -f '$T/daemonB.pid'
EOF
timeout 300 unshare -m sh "$T/import.sh"
check "--import into a second frx store: exit 0" \
    same "$(cat "$T/import.rc" 2>/dev/null)" 0
check "--import printed the imported paths" contains import.out "^$OUT\$"
check "the imported objects are in the second store directory" \
    [ -e "$T/storeB/$(basename "$OUT")" -a -e "$T/storeB/$(basename "$DRV")" ]
check "the first store is untouched by the mount" [ -e "$OUT/bin/hello" ]
check "second store: same NAR hash" \
    same "$(cat "$T/importB.hash")" "$(nar_b32 "$OUT")"
check "second store: deriver kept" same "$(cat "$T/importB.deriver")" "$DRV"
check "second store: --realise of the .drv needs no build" \
    sh -c "[ \"\$(cat '$T/importB.realise')\" = '$OUT' ] &&
        ! grep -q ': building ' '$T/daemonB.log'"
check "second store: hello runs" \
    same "$(cat "$T/importB.hello")" "Hello, world!"
check "second store: --verify --check-contents is clean" \
    same "$(cat "$T/importB.verify.rc")" 0

# `nix copy' (AddMultipleToStore) into a third store.  The client reads
# the source objects from this namespace's store directory, so only the
# receiving daemon runs in a private mount namespace.
mkdir -p "$T/storeC" "$T/varC"
unshare -m sh -c "mount --bind '$T/storeC' '$STORE' && exec '$FRX_DAEMON' \
    --store-dir '$STORE' --state-dir '$T/varC' --socket '$T/sockC'" \
    >"$T/daemonC.log" 2>&1 &
daemonC_pid=$!
wait_for -S "$T/sockC"
NIXCMD="nix --extra-experimental-features nix-command"
run copy $NIXCMD copy --to "unix://$T/sockC" "$OUT"
check "nix copy --to a second daemon: exit 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/copy.err"
run copydrv $NIXCMD copy --derivation --to "unix://$T/sockC" "$DRV"
check "nix copy --derivation: exit 0" [ "$rc" -eq 0 ]
check "the copies are in the third store directory" \
    [ -e "$T/storeC/$(basename "$OUT")" -a -e "$T/storeC/$(basename "$DRV")" ]
run copyhash env NIX_REMOTE="unix://$T/sockC" nix-store -q --hash "$OUT"
check "third store: same NAR hash" same "$(out copyhash)" "$(nar_b32 "$OUT")"
tm python3 "$WIRECLIENT" --socket "$T/sockC" nar-from-path "$OUT" >"$T/c.nar"
check "third store: its NarFromPath equals nix-store --dump" \
    cmp -s "$T/c.nar" "$T/dump.nar"
run copyouts python3 "$WIRECLIENT" --socket "$T/sockC" \
    derivation-outputs "$DRV"
check "third store: the copied .drv knows its output" \
    same "$(out copyouts)" "$OUT"
run copy2 $NIXCMD copy --to "unix://$T/sockC" "$OUT"
check "nix copy again: nothing to do, exit 0" [ "$rc" -eq 0 ]
kill "$daemonC_pid"
wait "$daemonC_pid"
daemonC_pid=

# ---------------------------------------------------------------------
# 5. --verify --check-contents finds a file altered behind our back

echo "precious contents" >"$T/work/victim.txt"
run add nix-store --add "$T/work/victim.txt"
VICTIM=$(out add)
run verify1 nix-store --verify --check-contents
check "--verify --check-contents on an intact store: exit 0" [ "$rc" -eq 0 ]
chmod u+w "$VICTIM"
echo "tampered" >"$VICTIM"
chmod u-w "$VICTIM"
run verify2 nix-store --verify --check-contents
check "--verify --check-contents after tampering: non-zero exit" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "the message names the altered path" \
    contains verify2.err "path '$VICTIM' was modified"
run verifypath2 nix-store --verify-path "$VICTIM"
check "--verify-path of the altered path: non-zero exit" [ "$rc" -ne 0 ]

# ---------------------------------------------------------------------
# An untrusted user (uid 65534) adds and builds through the same socket.

U=$T/nobody
mkdir -p "$U"
echo "added by nobody" >"$U/mine.txt"
cat >"$U/tiny.nix" <<'EOF'
derivation {
  name = "tiny-by-nobody";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo tiny >$out" ];
}
EOF
chown -R 65534:65534 "$U"
as_nobody() {	# name cmd...
	name=$1
	shift
	(cd "$U" && timeout "$TMO" setpriv --reuid=65534 --regid=65534 \
	    --clear-groups env -i PATH=/usr/bin:/bin HOME="$U" \
	    NIX_REMOTE="$NIX_REMOTE" NIX_STORE_DIR="$STORE" \
	    NIX_STATE_DIR="$U/state" NIX_LOG_DIR="$NIX_LOG_DIR" \
	    NIX_CONF_DIR="$NIX_CONF_DIR" "$@") \
	    >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
}
as_nobody u_addfixed nix-store --add-fixed sha256 mine.txt
check "untrusted --add-fixed: exit 0, Nix's path" \
    sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$T/u_addfixed.out')\" = \
        \"\$(timeout $TMO nix-store --print-fixed-path sha256 \
        \$(sha256sum '$U/mine.txt' | cut -d' ' -f1) mine.txt)\" ]"
as_nobody u_add nix-store --add mine.txt
check "untrusted --add: exit 0" [ "$rc" -eq 0 ]
run u_info python3 "$WIRECLIENT" path-info "$(out u_add)"
check "untrusted --add: the object is valid, not marked 'ultimate'" \
    contains u_info.out "^ultimate=0\$"
as_nobody u_build nix-build tiny.nix
check "untrusted nix-build: exit 0, output built" \
    sh -c "[ $rc -eq 0 ] && [ \"\$(cat \"\$(cat '$T/u_build.out')\")\" = tiny ]"

# ---------------------------------------------------------------------
# 6. Refusals: a clear error, no hang

run gc nix-store --gc
check "nix-store --gc: refused with a non-zero exit, no hang" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "nix-store --gc: the error says why" \
    contains gc.err "garbage collection is not implemented"
check "nothing was deleted by the refused --gc" [ -e "$OUT/bin/hello" ]
run delete nix-store --delete "$VICTIM"
check "nix-store --delete: refused, no hang" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ -e '$VICTIM' ]"
run optimise nix-store --optimise
check "nix-store --optimise: refused with a message, no hang" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
        grep -q 'OptimiseStore) is not supported by frx-daemon' '$T/optimise.err'"
run check nix-build --check hello.nix
check "nix-build --check: refused with a message, no hang" \
    sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
        grep -q 'build mode 2' '$T/check.err'"
run after nix-store -q --hash "$OUT"
check "the daemon still serves clients after the refusals" [ "$rc" -eq 0 ]

cd "$top" || exit 1
echo "1..$n"
[ "$failed" -eq 0 ]
