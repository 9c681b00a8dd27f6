#!/bin/sh
# test-cli-eval.sh: `frx eval' without a daemon.  Evaluates the shipped
# GNU Hello and a few broken package files; checks paths, determinism and
# the error messages (file, line, exit status 2).
#
# Environment: FRX (the frx binary, default build/frx), FRX_DATADIR
# (default scheme/ of this tree).

top=$(cd "$(dirname "$0")/../.." && pwd)
FRX=${FRX:-$top/${B:-build}/frx}
FRX_DATADIR=${FRX_DATADIR:-$top/scheme}
FRX_STORE_DIR=/frx/store
export FRX_DATADIR FRX_STORE_DIR

. "$top/tests/lib.sh"
skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}
if [ ! -x "$FRX" ]; then
	echo "1..0 # SKIP $FRX not built"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/frx-cli-eval.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1

hex=31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b

cat > hello.scm <<'EOF'
(use-modules (frx packages) (frx packages hello))
hello
EOF
cat > hello-2.11.scm <<'EOF'
(use-modules (frx packages) (frx packages hello))
(package
  (inherit hello)
  (version "2.11"))
EOF
cat > loopback.scm <<'EOF'
(use-modules (frx packages) (frx packages hello))
(package
  (inherit hello)
  (source (origin
            (inherit (package-source hello))
            (uri "http://127.0.0.1:8080/hello-2.10.tar.gz"))))
EOF
cat > unknown.scm <<'EOF'
(use-modules (frx packages) (frx packages hello))

(package
  (inherit hello)
  (foo "bar"))
EOF
cat > unbalanced.scm <<'EOF'
(use-modules (frx packages) (frx packages hello))
;; the package below is never closed
(package
  (inherit hello)
  (version "2.11")
EOF
cat > base32.scm <<'EOF'
(use-modules (frx packages))
(package
  (name "hello")
  (version "2.10")
  (source (origin
            (method url-fetch)
            (uri "https://ftpmirror.gnu.org/gnu/hello/hello-2.10.tar.gz")
            (sha256
             (base32 "0ssi1wpaf7plaswqqjwigppsg5fyh99vdlb9kzl7c9lng89ndq1i"))))
  (build-system gnu-build-system)
  (arguments (list #:configure-flags '("--enable-foo" "--disable-bar")
                   #:tests? #f)))
EOF

# makeStorePath (PROTOCOL.md 9.3), written separately from lib/store.c.
cat > storepath.py <<'EOF'
import hashlib

def store_path(storedir, typ, hexhash, name):
    fp = "%s:sha256:%s:%s:%s" % (typ, hexhash, storedir, name)
    h = hashlib.sha256(fp.encode()).digest()
    f = bytearray(20)
    for i, b in enumerate(h):
        f[i % 20] ^= b
    chars = "0123456789abcdfghijklmnpqrsvwxyz"
    out = ""
    for n in range(31, -1, -1):
        i, j = n * 5 // 8, n * 5 % 8
        c = (f[i] >> j) | ((f[i + 1] << (8 - j)) if i < 19 else 0)
        out += chars[c & 0x1f]
    return "%s/%s-%s" % (storedir, out, name)

def sha(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()
EOF

# Nix's flat fixed-output path (10.1).
nix_fixed_path() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
from storepath import store_path, sha
storedir, name, hexhash = sys.argv[1:4]
print(store_path(storedir, "output:out",
                 sha("fixed:out:sha256:%s:" % hexhash), name))
EOF
}

# The build drv's output path (12.1-12.3) and the three text paths (10.3),
# recomputed from what `frx eval' printed.
cross_check_drv() {
	python3 - "$1" "$2" "$3" "$4" <<'EOF'
import sys
from storepath import store_path, sha
bld = open(sys.argv[1]).read().strip()
src = open(sys.argv[2]).read().strip()
p = dict(l.split("=", 1) for l in open(sys.argv[3]).read().split())
script = open(sys.argv[4], "rb").read()
sd = "/frx/store"
hexhash = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b"
hm_src = sha("fixed:out:sha256:%s:%s" % (hexhash, p["source_store_path"]))
masked = bld.replace('"%s"' % p["out_path"], '""')
masked = masked.replace(p["source_drv_path"], hm_src)
refs = ":".join(sorted([p["source_drv_path"], p["builder_path"]]))
ok = [
    store_path(sd, "output:out", sha(masked), "hello-2.10") == p["out_path"],
    store_path(sd, "text:" + refs, sha(bld), "hello-2.10.drv")
    == p["drv_path"],
    store_path(sd, "text", sha(src), "hello-2.10.tar.gz.drv")
    == p["source_drv_path"],
    store_path(sd, "text", sha(script), "gnu-build.sh") == p["builder_path"],
]
sys.exit(0 if all(ok) else 1)
EOF
}

"$FRX" eval -f hello.scm > drv1 2> err1
check "eval hello exits 0" [ $? -eq 0 ]
"$FRX" eval -f hello.scm > drv2 2>> err1
check "eval is deterministic" cmp -s drv1 drv2
check "the drv names hello-2.10" grep -q '("name","hello-2.10")' drv1

"$FRX" eval -f hello.scm --paths > paths 2>> err1
src=$(sed -n 's/^source_store_path=//p' paths)
check "source path is a hello-2.10.tar.gz store path" \
    sh -c "echo '$src' | grep -Eq '^/frx/store/[0-9a-z]{32}-hello-2.10.tar.gz$'"
check "the drv's src is the source path" grep -q "(\"src\",\"$src\")" drv1

if command -v python3 > /dev/null 2>&1; then
	vec=$(nix_fixed_path /frx/store hello.txt \
	    a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447)
	check "path helper matches the nix-store --add-fixed vector" \
	    [ "$vec" = /frx/store/1nkq7k14wlmwnm3fwzylwfi5aca445rf-hello.txt ]
	want=$(nix_fixed_path /frx/store hello-2.10.tar.gz $hex)
	check "source path is Nix's flat sha256 path ($want)" \
	    [ "$src" = "$want" ]
else
	skip "python3 not found: path helper"
	skip "python3 not found: source path cross-check"
fi

"$FRX" eval -f hello.scm --source > srcdrv 2>> err1
if command -v python3 > /dev/null 2>&1; then
	check "drv, output and builder paths agree with a separate computation" \
	    cross_check_drv drv1 srcdrv paths \
	    "$FRX_DATADIR/frx/build/gnu-build.sh"
else
	skip "python3 not found: drv path cross-check"
fi
check "source drv is a builtin:download fixed output" \
    grep -q "^Derive(\[(\"out\",\"$src\",\"sha256\",\"$hex\")\],\[\],\[\],\"builtin\",\"builtin:download\",\[\]," srcdrv
check "source drv lists both URLs" \
    grep -q '("url","https://ftpmirror.gnu.org/gnu/hello/hello-2.10.tar.gz http://deb.debian.org/debian/pool/main/h/hello/hello_2.10.orig.tar.gz")' srcdrv
check "no stderr from good evaluations" [ ! -s err1 ]

"$FRX" eval -f hello-2.11.scm > drv3 2>&1
check "inherit with another version evaluates" [ $? -eq 0 ]
check "inherit with another version gives another drv" \
    sh -c '! cmp -s drv1 drv3'
check "the inherited drv names hello-2.11" grep -q '("name","hello-2.11")' drv3
check "the inherited drv keeps the source" grep -q "(\"src\",\"$src\")" drv3

"$FRX" eval -f loopback.scm --paths > paths2 2>&1
check "a changed uri keeps the source output path" \
    grep -qx "source_store_path=$src" paths2
check "a changed uri changes the source drv" \
    sh -c '[ "$(grep source_drv_path paths)" != "$(grep source_drv_path paths2)" ]'

"$FRX" eval -f base32.scm > drv4 2> err4
check "base32 hash and arguments evaluate" [ $? -eq 0 ]
check "base32 hash gives the same source path" grep -q "(\"src\",\"$src\")" drv4
check "configure flags are joined by newlines" \
    grep -q '("configureFlags","--enable-foo\\n--disable-bar")' drv4
check "#:tests? #f empties doCheck" grep -q '("doCheck","")' drv4

"$FRX" eval -f unknown.scm > out5 2> err5
st=$?
check "unknown field exits 2 (got $st)" [ $st -eq 2 ]
check "unknown field names file, line and field" \
    grep -q 'unknown\.scm:5:.*unknown field.*foo' err5

"$FRX" eval -f unbalanced.scm > out6 2> err6
st=$?
check "syntax error exits 2 (got $st)" [ $st -eq 2 ]
check "syntax error names the file and line of the open form" \
    grep -q 'unbalanced\.scm:3:' err6

"$FRX" eval -f does-not-exist.scm > out7 2> err7
st=$?
check "missing file exits 2 (got $st)" [ $st -eq 2 ]
check "missing file is named" grep -q 'does-not-exist\.scm' err7

echo "1..$n"
[ $failed -eq 0 ]
