#!/bin/sh
# Set up a Debian 12 machine for frx: build dependencies, Debian's source
# of GNU Hello 2.10 (the real input of the tests and of the main job),
# then build and install frx.  Run as root from the repository root.
set -eu

HELLO_SHA256=31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b
SRC_CACHE=${FRX_SRC_CACHE:-/var/cache/frx-sources}

export DEBIAN_FRONTEND=noninteractive

need_pkgs="build-essential pkg-config libsqlite3-dev libssl-dev \
libcurl4-openssl-dev guile-3.0-dev libcmocka-dev python3 dpkg-dev \
ca-certificates nix-bin libseccomp-dev libbz2-dev strace musl-tools"

enable_deb_src() {
	f=/etc/apt/sources.list.d/frx-deb-src.sources
	grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list \
	    /etc/apt/sources.list.d/ && return 0
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	cat >"$f" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

fetch_hello() {
	tarball=$SRC_CACHE/hello_2.10.orig.tar.gz
	if [ -f "$tarball" ] &&
	    echo "$HELLO_SHA256  $tarball" | sha256sum -c --status; then
		return 0
	fi
	mkdir -p "$SRC_CACHE"
	(cd "$SRC_CACHE" && apt-get source --download-only hello=2.10-3 \
	    >/dev/null 2>&1 || apt-get source --download-only hello)
	echo "$HELLO_SHA256  $tarball" | sha256sum -c --status || {
		echo "setup: $tarball: not GNU Hello 2.10 (SHA256 mismatch)" >&2
		exit 1
	}
}

enable_deb_src
apt-get update -qq
apt-get install -y -qq $need_pkgs >/dev/null
fetch_hello
make -j"$(nproc)"
make install PREFIX=/usr/local
echo "setup: frx installed in /usr/local; GNU Hello source in $SRC_CACHE"
