#!/bin/sh
# bench/nar.sh: a large unpacked source tree (Debian's coreutils 9.1
# source, `apt-get source --download-only coreutils`):
#
#   - NAR hashing with reference scanning, as after a build (frx-bench
#     nar-hash: lib/refs.c, 100 candidate paths), against
#     `openssl dgst -sha256` of the same bytes (the tree's NAR in a file);
#     both with the files in the page cache, the best of 5;
#   - adding the tree to the store (`frx store add-fixed --recursive`:
#     the client sends its NAR, frx-daemon unpacks, canonicalises and
#     hashes it) against `cp -a` of the tree, and against `nix-store
#     --add` through nix-daemon; the median of 5, each round a new tree
#     (one file differs) so that every add does all the work.
. "$(dirname "$0")/lib.sh"

bench_init
SRC_CACHE=${FRX_SRC_CACHE:-/var/cache/frx-sources}
ROUNDS=5
[ "$BENCH_SCALE" = 0 ] && ROUNDS=2

tarball=$(ls "$SRC_CACHE"/coreutils_*.orig.tar.* 2>/dev/null | head -1)
if [ -z "$tarball" ]; then
	say "fetching Debian's coreutils source into $SRC_CACHE"
	mkdir -p "$SRC_CACHE"
	(cd "$SRC_CACHE" && apt-get source --download-only coreutils \
	    >/dev/null 2>&1) || die "apt-get source coreutils failed \
(is deb-src enabled? scripts/setup-debian.sh enables it)"
	tarball=$(ls "$SRC_CACHE"/coreutils_*.orig.tar.* | head -1)
fi
TREE=$BENCH_DIR/tree
mkdir -p "$TREE"
tar xf "$tarball" -C "$TREE" || die "cannot unpack $tarball"
TREE=$(echo "$TREE"/*)
tar cf - -C "$TREE" . >/dev/null	# into the page cache

best() { sort -g | head -1; }

"$BENCH_BIN" nar-dump "$TREE" >"$BENCH_DIR/tree.nar" || die "nar-dump"
bytes=$(stat -c %s "$BENCH_DIR/tree.nar")
: >"$BENCH_DIR/t-frx"
: >"$BENCH_DIR/t-ssl"
i=0
while [ $i -lt 5 ]; do
	"$BENCH_BIN" nar-hash "$TREE" 100 | awk '{ print $2 }' \
	    >>"$BENCH_DIR/t-frx" || die "nar-hash"
	t0=$(now)
	openssl dgst -sha256 "$BENCH_DIR/tree.nar" >/dev/null ||
	    die "openssl"
	t1=$(now)
	calc 'b - a' "$t0" "$t1" >>"$BENCH_DIR/t-ssl"
	echo >>"$BENCH_DIR/t-ssl"
	i=$((i + 1))
done
tf=$(best <"$BENCH_DIR/t-frx")
ts=$(grep . "$BENCH_DIR/t-ssl" | best)
mf=$(calc 'a / b / 1048576' "$bytes" "$tf")
ms=$(calc 'a / b / 1048576' "$bytes" "$ts")
result "NAR hash + reference scan of coreutils' source, \
$(calc 'a / 1048576' "$bytes") MiB (MiB/s)" "$mf" "$ms" "openssl-sha256" \
    "$(calc 'a / b' "$mf" "$ms")"

# ---- adding the tree to the store ----
bench_start_frx
bench_start_nix
frx_env
FRX=$BENCH_TOP/$B/frx
: >"$BENCH_DIR/t-add"
: >"$BENCH_DIR/t-cp"
: >"$BENCH_DIR/t-nixadd"
i=0
while [ $i -lt $ROUNDS ]; do
	echo "round $i $(date +%s%N)" >"$TREE/frx-bench-salt"
	t0=$(now)
	"$FRX" store add-fixed --recursive sha256 "$TREE" >/dev/null \
	    2>"$BENCH_DIR/err" || die "frx add: $(tail -2 "$BENCH_DIR/err")"
	t1=$(now)
	cp -a "$TREE" "$BENCH_DIR/copy$i" || die "cp -a"
	t2=$(now)
	echo "round $i nix $(date +%s%N)" >"$TREE/frx-bench-salt"
	nix_nix_env
	t3=$(now)
	nix-store --add "$TREE" >/dev/null 2>"$BENCH_DIR/err" ||
	    die "nix-store --add: $(tail -2 "$BENCH_DIR/err")"
	t4=$(now)
	calc 'b - a' "$t0" "$t1" >>"$BENCH_DIR/t-add"; echo >>"$BENCH_DIR/t-add"
	calc 'b - a' "$t1" "$t2" >>"$BENCH_DIR/t-cp"; echo >>"$BENCH_DIR/t-cp"
	calc 'b - a' "$t3" "$t4" >>"$BENCH_DIR/t-nixadd"
	echo >>"$BENCH_DIR/t-nixadd"
	# The copies stay until the end: deleting thousands of files slows
	# the next round's allocations on some file systems.
	i=$((i + 1))
done
ta=$(grep . "$BENCH_DIR/t-add" | median)
tc=$(grep . "$BENCH_DIR/t-cp" | median)
tn=$(grep . "$BENCH_DIR/t-nixadd" | median)
result "add coreutils' source tree to the store (s, median of $ROUNDS)" \
    "$ta" "$tc" "cp -a" "$(calc 'b / a' "$ta" "$tc")" \
    "frx takes $(calc 'a / b' "$ta" "$tc")x the time of cp -a"
result "add coreutils' source tree to the store (s, median of $ROUNDS)" \
    "$ta" "$tn" "nix-daemon" "$(calc 'b / a' "$ta" "$tn")"
