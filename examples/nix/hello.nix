# GNU Hello 2.10 as a plain Nix derivation, for the Nix 2.8 client
# pointed at frx-daemon (see the README).  The source is a fixed-output
# derivation: seed it with
#   nix-store --add-fixed sha256 hello-2.10.tar.gz
# (or frx download), or serve the tarball on loopback port 8000.
let
  src = derivation {
    name = "hello-2.10.tar.gz";
    system = "builtin";
    builder = "builtin:fetchurl";
    url = "http://127.0.0.1:8000/hello-2.10.tar.gz";
    outputHash = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
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
