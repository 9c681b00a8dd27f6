# gnu-build.sh: frx's GNU build system, run as `/bin/sh -e gnu-build.sh'
# by the build user inside the sandbox (cwd and TMPDIR are the build
# directory).  The derivation passes: src, out, name, configureFlags and
# makeFlags (one flag a line), doCheck ("1" or ""), testTarget.
#
# Each phase is announced as "phase: NAME"; a failing command ends the
# build with a message naming the phase.

phase=start
fail() {
	echo "frx-build: phase $phase failed: $*" >&2
	exit 1
}
run_phase() {
	phase=$1
	echo "phase: $phase"
}

echo "frx-build: uid=$(id -u) gid=$(id -g) hostname=$(uname -n)"

CONFIG_SHELL=/bin/sh
SHELL=/bin/sh
export CONFIG_SHELL SHELL

# From here on, unquoted expansions split on newlines only (the flag
# lists) and never glob.
IFS='
'
set -f

run_phase unpack
[ -n "$src" ] || fail "no source (\$src is empty)"
mkdir frx-unpack || fail "mkdir frx-unpack"
cd frx-unpack || fail "cd frx-unpack"
tar xf "$src" || fail "tar xf $src"
set +f
set -- *
set -f
if [ $# -eq 1 ] && [ -d "$1" ]; then
	cd "$1" || fail "cd $1"
fi
echo "source directory: $(pwd)"

run_phase configure
[ -x ./configure ] || fail "no ./configure script"
./configure --prefix="$out" $configureFlags || fail "./configure"

run_phase build
make -j"${NIX_BUILD_CORES:-1}" $makeFlags || fail "make"

if [ -n "$doCheck" ]; then
	run_phase check
	make ${testTarget:-check} $makeFlags || fail "make ${testTarget:-check}"
else
	echo "phase: check (skipped, doCheck is empty)"
fi

run_phase install
make install $makeFlags || fail "make install"

# Provenance: the output names the source tarball it was built from, so
# it keeps a reference to it.
run_phase provenance
mkdir -p "$out/share/frx/$name" || fail "mkdir $out/share/frx/$name"
printf '%s\n' "$src" > "$out/share/frx/$name/source" ||
	fail "write $out/share/frx/$name/source"

echo "frx-build: done: $out"
