# bench/lib.sh: what the benchmarks share.  Sourced by bench/*.sh.
#
# Each benchmark gets a scratch directory (BENCH_DIR, default a new
# /var/tmp/frx-bench.XXXXXX: not under /tmp, which the sandbox replaces),
# a private frx-daemon (store, state and socket in BENCH_DIR/frx) and,
# when it compares with Nix, a throw-away nix-daemon 2.8 (BENCH_DIR/nix),
# both with the sandbox on.  Everything is stopped and removed on exit.
#
# Settings (environment):
#   B             build directory of frx (default build; made if needed)
#   BENCH_DIR     scratch directory (removed afterwards unless it existed)
#   BENCH_RESULTS file that receives the summary lines (bench/run sets it)
#   BENCH_SCALE   1 (default); 0 for a quick run with smaller counts
#   BENCH_FS      dir (default): BENCH_DIR on the host's file system as
#                 it is; loop: a fresh ext4 (with journal) in an image
#                 file, mounted on BENCH_DIR for this script only
#   FRX_JOBS      --max-jobs of frx-daemon (default 2)

set -u
BENCH_TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$BENCH_TOP" || exit 1
B=${B:-build}
BENCH_SCALE=${BENCH_SCALE:-1}
FRX_JOBS=${FRX_JOBS:-2}
BENCH_BIN=$BENCH_TOP/$B/frx-bench
FRXD_PID=
NIXD_PID=
BENCH_OWN_DIR=
BENCH_IMAGE=
BENCH_TMPFS=

say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

bench_need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (the daemons build as \
build users)"
}

bench_build() {
	make -s -j2 -f bench/Makefile B="$B" bench >/dev/null ||
	    die "cannot build frx (make -f bench/Makefile B=$B bench)"
}

bench_dir() {
	if [ -z "${BENCH_DIR:-}" ]; then
		BENCH_DIR=$(mktemp -d /var/tmp/frx-bench.XXXXXX) ||
		    die "mktemp"
		BENCH_OWN_DIR=1
	fi
	mkdir -p "$BENCH_DIR" && chmod 755 "$BENCH_DIR" ||
	    die "$BENCH_DIR: cannot use"
	case $BENCH_DIR in
	/tmp/*) die "BENCH_DIR must not be under /tmp" ;;
	esac
	[ "${BENCH_FS:-dir}" = loop ] && bench_loop_fs
	return 0
}

# A fresh ext4 for this script: no file system history (allocation
# after heavy deletion) carries over from earlier runs or other users.
bench_loop_fs() {
	BENCH_IMAGE=$(mktemp /var/tmp/frx-bench-fs.XXXXXX) || die "mktemp"
	truncate -s 16G "$BENCH_IMAGE" &&
	    mkfs.ext4 -q -F -E lazy_itable_init=0 "$BENCH_IMAGE" ||
	    die "mkfs.ext4 $BENCH_IMAGE"
	mount -o loop "$BENCH_IMAGE" "$BENCH_DIR" ||
	    die "mount $BENCH_IMAGE on $BENCH_DIR"
	chmod 755 "$BENCH_DIR"
}

# A tmpfs on BENCH_DIR/$1 for this script, unmounted on exit.
bench_tmpfs() {	# name
	BENCH_TMPFS=$BENCH_DIR/$1
	mkdir -p "$BENCH_TMPFS" &&
	    mount -t tmpfs -o mode=0755 frx-bench "$BENCH_TMPFS" ||
	    die "mount a tmpfs on $BENCH_TMPFS"
}

bench_cleanup() {
	bench_stop_frx
	bench_stop_nix
	[ -n "$BENCH_TMPFS" ] && { umount "$BENCH_TMPFS" ||
	    umount -l "$BENCH_TMPFS"; }
	if [ -n "$BENCH_IMAGE" ]; then
		umount "$BENCH_DIR" || umount -l "$BENCH_DIR"
		rm -f "$BENCH_IMAGE"
	fi
	if [ -n "$BENCH_OWN_DIR" ] && [ -d "$BENCH_DIR" ]; then
		chmod -R u+w "$BENCH_DIR" 2>/dev/null
		rm -rf "$BENCH_DIR"
	fi
}

bench_init() {
	bench_need_root
	bench_build
	bench_dir
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	# A reader that went away (`bench/run | head`) must not leave the
	# daemons and a mounted scratch file system behind.
	trap 'exit 129' HUP
	trap 'exit 141' PIPE
}

# Seconds since the epoch, with fractions.
now() { date +%s.%N; }

# awk arithmetic: calc 'EXPR' (variables a b c ... from the arguments).
calc() {
	expr=$1
	shift
	awk -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" -v d="${4:-0}" \
	    "BEGIN { printf \"%.4g\", $expr }"
}

# A summary line: result NAME FRX PEER PEERNAME RATIO [NOTE]
result() {
	line="$1: frx $2, $4 $3, ratio $5"
	[ -n "${6:-}" ] && line="$line ($6)"
	echo "$line"
	[ -n "${BENCH_RESULTS:-}" ] && echo "$line" >>"$BENCH_RESULTS"
	return 0
}

# Wait (at most 5 s) until the machine is quiet: less than 5% of the
# CPUs busy over 0.1 s.  What one daemon's run leaves to the kernel (a
# few hundred network namespaces to clean up, dirty pages) otherwise
# lands in the next daemon's run.
settle() {
	_si=0
	while [ $_si -lt 50 ]; do
		read -r _ _u _n _s _i _w _q _sq _ </proc/stat
		_b0=$((_u + _n + _s + _q + _sq)) _i0=$((_i + _w))
		sleep 0.1
		read -r _ _u _n _s _i _w _q _sq _ </proc/stat
		_b1=$((_u + _n + _s + _q + _sq)) _i1=$((_i + _w))
		[ $((100 * (_b1 - _b0))) -lt \
		    $((5 * (_b1 - _b0 + _i1 - _i0))) ] && return 0
		_si=$((_si + 1))
	done
	return 0
}

# The median of the numbers on stdin.
median() {
	sort -g | awk '{ v[NR] = $1 } END {
	    if (NR % 2) print v[(NR + 1) / 2];
	    else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- frx-daemon ----

FRX_TOP=
bench_start_frx() {	# extra options...
	FRX_TOP=$BENCH_DIR/frx
	mkdir -p "$FRX_TOP"
	"$BENCH_TOP/$B/frx-daemon" --store-dir "$FRX_TOP/store" \
	    --state-dir "$FRX_TOP/var" --socket "$FRX_TOP/sock" \
	    --max-jobs "$FRX_JOBS" "$@" >>"$FRX_TOP/daemon.log" 2>&1 &
	FRXD_PID=$!
	i=0
	while [ ! -S "$FRX_TOP/sock" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$FRX_TOP/sock" ] || die "frx-daemon did not start \
(see $FRX_TOP/daemon.log)"
}

bench_stop_frx() {
	[ -n "$FRXD_PID" ] || return 0
	kill "$FRXD_PID" 2>/dev/null
	wait "$FRXD_PID" 2>/dev/null
	FRXD_PID=
}

# Environment for a Nix client talking to frx-daemon.
frx_nix_env() {
	export NIX_REMOTE="unix://$FRX_TOP/sock" \
	    NIX_STORE_DIR="$FRX_TOP/store" NIX_STATE_DIR="$FRX_TOP/nixstate" \
	    NIX_LOG_DIR="$FRX_TOP/var/log" NIX_CONF_DIR="$BENCH_DIR/nixconf"
	unset NIX_DAEMON_SOCKET_PATH
}

frx_env() {
	export FRX_STORE_DIR="$FRX_TOP/store" FRX_STATE_DIR="$FRX_TOP/var" \
	    FRX_DAEMON_SOCKET="$FRX_TOP/sock" FRX_DATADIR="$BENCH_TOP/scheme"
}

# ---- the throw-away nix-daemon ----

NIX_TOP=
bench_nix_users() {
	command -v nix-daemon >/dev/null ||
	    die "nix-daemon not found (apt-get install nix-bin)"
	getent group nixbld >/dev/null || groupadd --system nixbld ||
	    die "groupadd nixbld"
	for i in 1 2 3 4 5 6 7 8; do
		getent passwd nixbld$i >/dev/null && continue
		useradd --system --no-create-home --home-dir /var/empty \
		    --shell /usr/sbin/nologin -g nixbld -G nixbld \
		    --comment "Nix build user $i" nixbld$i ||
		    die "useradd nixbld$i"
	done
}

bench_nix_conf() {
	mkdir -p "$BENCH_DIR/nixconf"
	cat >"$BENCH_DIR/nixconf/nix.conf" <<EOF
sandbox = true
sandbox-fallback = false
sandbox-paths = /bin /lib /lib64 /usr
substituters =
build-users-group = nixbld
experimental-features = nix-command
EOF
}

bench_start_nix() {
	bench_nix_users
	bench_nix_conf
	NIX_TOP=$BENCH_DIR/nix
	mkdir -p "$NIX_TOP/store" "$NIX_TOP/state" "$NIX_TOP/log"
	# NIX_REMOTE=local: with the socket variable set, a daemon left to
	# "auto" would connect to itself.
	env NIX_REMOTE=local NIX_STORE_DIR="$NIX_TOP/store" \
	    NIX_STATE_DIR="$NIX_TOP/state" NIX_LOG_DIR="$NIX_TOP/log" \
	    NIX_CONF_DIR="$BENCH_DIR/nixconf" \
	    NIX_DAEMON_SOCKET_PATH="$NIX_TOP/sock" \
	    nix-daemon >>"$NIX_TOP/daemon.log" 2>&1 &
	NIXD_PID=$!
	i=0
	while [ ! -S "$NIX_TOP/sock" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$NIX_TOP/sock" ] || die "nix-daemon did not start \
(see $NIX_TOP/daemon.log)"
}

bench_stop_nix() {
	[ -n "$NIXD_PID" ] || return 0
	kill "$NIXD_PID" 2>/dev/null
	wait "$NIXD_PID" 2>/dev/null
	NIXD_PID=
}

nix_nix_env() {
	export NIX_REMOTE=daemon NIX_DAEMON_SOCKET_PATH="$NIX_TOP/sock" \
	    NIX_STORE_DIR="$NIX_TOP/store" NIX_STATE_DIR="$NIX_TOP/state" \
	    NIX_LOG_DIR="$NIX_TOP/log" NIX_CONF_DIR="$BENCH_DIR/nixconf"
}

# The socket and store of a daemon by name (frx or nix).
sock_of() { [ "$1" = frx ] && echo "$FRX_TOP/sock" || echo "$NIX_TOP/sock"; }
store_of() { [ "$1" = frx ] && echo "$FRX_TOP/store" || echo "$NIX_TOP/store"; }
use_daemon() { [ "$1" = frx ] && frx_nix_env || nix_nix_env; }
