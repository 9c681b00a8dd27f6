# The builder of hello.nix: GNU's usual steps, run by /bin/sh -e in the
# frx-daemon sandbox as a build user.
PATH=/usr/bin:/bin
export PATH
tar xzf "$src"
cd hello-2.10
./configure --prefix="$out"
make
make check
make install
