# n independent trivial derivations: /bin/sh writing a small file to
# $out.  salt makes every run's derivations new.
{ n ? 200, salt ? "a" }:
builtins.genList (i: derivation {
  name = "t${toString i}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo ${salt}-${toString i} > $out" ];
  preferLocalBuild = true;
}) n
