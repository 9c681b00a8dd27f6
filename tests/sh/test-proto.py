#!/usr/bin/env python3
"""test-proto.py: frx-daemon against a raw worker-protocol client.

Starts a private daemon on a temporary store under /var/tmp and talks to
it with tests/proto/wireclient.py:

* refusals: a path outside the store, a malformed or mislabelled NAR in
  AddToStoreNar, a .drv whose outputs do not match its hash, garbage
  collection, an unknown opcode (the connection closes, the daemon keeps
  serving others), an untrusted client without a content address;
* the Guix dialect exactly as guix/store.scm speaks it (client version
  0x164, reserve-space 1, no version string, 12-integer SetOptions with
  Guix's pairs, AddTextToStore, the old AddToStore layout, BuildPaths of
  bare .drv paths, the Guix QueryPathInfo layout and error format,
  QueryReferences, QueryValidDerivers, QueryDerivationOutputs);
* a few Nix-dialect checks (NarFromPath, a bare .drv in BuildPaths is an
  opaque path).

Needs root.  Prints "ok N - ..." / "not ok N - ..." lines and exits
non-zero if anything failed.  Environment: B (build directory, default
build), FRX_VECTORS (PROTOCOL.md's vectors, optional), KEEP=1.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "proto"))

import wireclient as wc  # noqa: E402
from wireclient import Conn, DaemonError, Derivation  # noqa: E402

SYSTEM = "x86_64-linux" if os.uname().machine == "x86_64" else \
    "%s-linux" % os.uname().machine


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, desc, cond, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if diag:
                for line in str(diag).splitlines():
                    print("# " + line)
        sys.stdout.flush()
        return cond

    def error(self, desc, fn, *needles):
        """fn() must raise DaemonError whose message has every needle."""
        try:
            fn()
        except DaemonError as e:
            missing = [x for x in needles if x not in e.message]
            return self.check(desc, not missing,
                              "message: %s\nmissing: %s" % (e.message,
                                                            missing))
        except Exception as e:  # a hang or a protocol error
            return self.check(desc, False, "%s: %s" % (type(e).__name__, e))
        return self.check(desc, False, "no error")


class Env:
    """A private daemon on a temporary store."""

    def __init__(self):
        b = os.environ.get("B", "build")
        self.daemon_bin = os.path.join(TOP, b, "frx-daemon")
        self.tmp = tempfile.mkdtemp(prefix="frx-proto.", dir="/var/tmp")
        os.chmod(self.tmp, 0o755)
        self.store = os.path.join(self.tmp, "store")
        self.state = os.path.join(self.tmp, "var")
        self.sock = os.path.join(self.tmp, "sock")
        self.log = os.path.join(self.tmp, "daemon.log")
        self.proc = None

    def start(self):
        logf = open(self.log, "w")
        # A short silence limit: the limit tests rely on it, and no other
        # build here is quiet for that long.
        self.proc = subprocess.Popen(
            [self.daemon_bin, "--store-dir", self.store, "--state-dir",
             self.state, "--socket", self.sock, "--max-silent-time", "3"],
            stdout=logf, stderr=logf)
        for _ in range(100):
            if os.path.exists(self.sock):
                return True
            time.sleep(0.1)
        return False

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.environ.get("KEEP"):
            print("# kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def conn(self, guix=False):
        if guix:
            c = Conn(self.sock, version=wc.GUIX_VERSION, reserve_space=1)
            c.set_options(pairs=GUIX_PAIRS, verbosity=0)
        else:
            c = Conn(self.sock)
            c.set_options()
        return c


# What guix/store.scm's set-build-options sends with its defaults.
GUIX_PAIRS = {
    "print-extended-build-trace": "1",
    "build-timeout": "3600",
    "build-max-silent-time": "3600",
    "build-max-jobs": "1",
    "build-cores": "1",
    "substitute-urls": "",
    "build-repeat": "0",
    "user-name": "root",
    "terminal-columns": "80",
    "locale": "C",
}


def no_tmp_left(env):
    return not [x for x in os.listdir(env.store) if x.startswith(".frx-tmp")]


def nar_path(store, name, nar, refs=()):
    digest = hashlib.sha256(nar).digest()
    return wc.fixed_path(store, name, True, "sha256", digest)


# ---------------------------------------------------------------------
# Refusals (the Nix dialect)

def test_outside_store(t, env):
    c = env.conn()
    t.error("QueryPathInfo of a path outside the store: error naming it",
            lambda: c.query_path_info("/etc/passwd"), "/etc/passwd",
            "not in the store")
    t.check("... and the connection is still usable",
            c.is_valid_path(env.store + "/" + "0" * 32 + "-x") is False)
    t.error("IsValidPath of a path outside the store: error",
            lambda: c.is_valid_path("/etc/passwd"), "/etc/passwd")
    t.error("NarFromPath of /etc/passwd: error, nothing sent",
            lambda: c.nar_from_path("/etc/passwd"), "/etc/passwd")
    t.error("a store path with '..' is refused",
            lambda: c.query_path_info(env.store + "/../etc/passwd"),
            "../etc/passwd")
    t.error("a sub-path of a store object is refused",
            lambda: c.nar_from_path(env.store + "/" + "0" * 32 +
                                    "-x/etc"), "-x/etc")
    t.check("the connection survives all of these",
            c.is_valid_path(env.store + "/" + "0" * 32 + "-x") is False)
    c.close()


def test_bad_nar(t, env):
    c = env.conn()
    nar = wc.nar_of_bytes(b"good contents\n")
    path = nar_path(env.store, "upload", nar)
    t.error("AddToStoreNar of a malformed NAR: error",
            lambda: c.add_to_store_nar(path, b"\x01" * 8 + b"junk" * 20,
                                       nar_size=88),
            path, "malformed NAR")
    t.check("... the path is not valid", not c.is_valid_path(path))
    t.check("... nothing is left in the store", not os.path.exists(path)
            and no_tmp_left(env))
    truncated = nar[:-16]
    t.error("AddToStoreNar of a truncated NAR: error",
            lambda: c.add_to_store_nar(path, truncated,
                                       nar_hash=hashlib.sha256(nar)
                                       .hexdigest(), nar_size=len(nar)),
            path)
    t.check("... the path is not valid", not c.is_valid_path(path))
    t.error("AddToStoreNar with a wrong NAR hash: error naming both",
            lambda: c.add_to_store_nar(path, nar, nar_hash="00" * 32),
            path, "does not match", "sha256:" + "0" * 52)
    t.error("AddToStoreNar with a wrong NAR size: error",
            lambda: c.add_to_store_nar(path, nar, nar_size=len(nar) + 8),
            path, "does not match")
    t.check("... the path is still not valid, the store is clean",
            not c.is_valid_path(path) and no_tmp_left(env))
    c.add_to_store_nar(path, nar, ca=wc.ca_fixed(
        True, "sha256", hashlib.sha256(nar).digest()))
    t.check("a correct upload on the same connection then succeeds",
            c.is_valid_path(path) and c.nar_from_path(path) == nar)
    t.error("AddToStore (1.25 layout) of a malformed NAR: error",
            lambda: c.add_to_store("junk", "fixed:r:sha256",
                                   wc.ser_str("nix-archive-1") +
                                   wc.ser_str("(") + wc.ser_str("type") +
                                   wc.ser_str("fifo")),
            "junk", "malformed NAR")
    t.check("the connection survives the bad uploads",
            c.is_valid_path(path))
    c.close()


def test_add_multiple(t, env):
    c = env.conn()

    def item(name, data, refs=()):
        nar = wc.nar_of_bytes(data)
        if refs:
            path = wc.text_path(env.store, name, data, refs)
            ca = "text:sha256:" + wc.b32encode(hashlib.sha256(data)
                                               .digest())
        else:
            path = nar_path(env.store, name, nar)
            ca = wc.ca_fixed(True, "sha256", hashlib.sha256(nar).digest())
        return path, nar, list(refs), ca

    a = item("multi-a", b"first\n")
    b = item("multi-b", ("see " + a[0]).encode(), [a[0]])
    try:
        c.add_multiple_to_store([a, b])
        err = None
    except DaemonError as e:
        err = e.message
    t.check("AddMultipleToStore (op 44) of two paths, one referring to "
            "the other", err is None and c.is_valid_path(a[0]) and
            c.is_valid_path(b[0]), err)
    t.check("... with their NARs and references",
            c.nar_from_path(b[0]) == b[1] and
            c.query_path_info(b[0])["references"] == [a[0]])
    bad = item("multi-bad", b"bad\n")
    good = item("multi-after", b"after\n")
    t.error("AddMultipleToStore with a malformed NAR in the middle: error",
            lambda: c.add_multiple_to_store(
                [(bad[0], b"\x05" + bad[1][1:], [], bad[3]), good]),
            bad[0], "malformed NAR")
    t.check("... neither that path nor the ones after it are valid",
            not c.is_valid_path(bad[0]) and not c.is_valid_path(good[0]))
    t.check("... the stream was skipped: the connection goes on",
            c.is_valid_path(a[0]) and no_tmp_left(env))
    lie = item("multi-lie", b"claimed\n")
    t.error("AddMultipleToStore with a content address that lies: error",
            lambda: c.add_multiple_to_store(
                [(lie[0], wc.nar_of_bytes(b"other\n"), [], lie[3])]),
            lie[0], "does not match")
    orphan = item("multi-orphan", ("see " + env.store + "/" + "2" * 32 +
                                   "-gone").encode(),
                  [env.store + "/" + "2" * 32 + "-gone"])
    t.error("AddMultipleToStore with a reference that is not valid: error",
            lambda: c.add_multiple_to_store([orphan]), orphan[0],
            "is not valid")
    c.close()


def drv_with_output(env, name, out):
    d = Derivation(name, SYSTEM, "/bin/sh", ["-c", "echo hi >$out"])
    d.fill_outputs(env.store)
    good = d.outputs["out"][0]
    d.outputs["out"] = (out, "", "")
    d.env["out"] = out
    return d, good


def test_bad_drv(t, env, valid_path):
    c = env.conn()
    wrong = env.store + "/" + "1" * 32 + "-wrongout"
    d, good = drv_with_output(env, "wrongout", wrong)
    dp = d.store_path(env.store)
    t.error("AddToStore of a .drv whose output does not match its hash: "
            "error naming the output",
            lambda: c.add_to_store("wrongout.drv", "text:sha256",
                                   d.aterm().encode(), d.references()),
            "output out", wrong, good)
    t.error("the same through AddTextToStore (op 8)",
            lambda: c.add_text_to_store("wrongout.drv", d.aterm(),
                                        d.references()),
            "output out", wrong)
    t.error("the same through AddToStoreNar",
            lambda: c.add_to_store_nar(dp, wc.nar_of_bytes(
                d.aterm().encode())), "output out", wrong)
    t.check("... the .drv is not valid", not c.is_valid_path(dp))
    t.error("BuildPaths of it: error", lambda: c.build_paths([dp + "!out"]),
            dp)
    t.check("... and its claimed output is not valid",
            not c.is_valid_path(wrong))
    d2, _ = drv_with_output(env, "thief", valid_path)
    t.error("a .drv claiming an existing valid path as output is refused",
            lambda: c.add_to_store("thief.drv", "text:sha256",
                                   d2.aterm().encode(), d2.references()),
            "output out", valid_path)
    d3 = Derivation("envlie", SYSTEM, "/bin/sh", ["-c", ":"])
    d3.fill_outputs(env.store)
    d3.env["out"] = wrong
    t.error("a .drv whose $out disagrees with its output is refused",
            lambda: c.add_text_to_store("envlie.drv", d3.aterm(), []),
            "out")
    c.close()


def test_limits(t, env):
    c = env.conn()
    d = Derivation("quiet-root", SYSTEM, "/bin/sh",
                   ["-c", "PATH=/usr/bin:/bin; sleep 30"])
    d.fill_outputs(env.store)
    drv = c.add_text_to_store("quiet-root.drv", d.aterm())
    start = time.time()
    t.error("a Nix client's default max-silent-time 0 keeps the daemon's "
            "--max-silent-time", lambda: c.build_paths([drv + "!out"]),
            drv, "3 seconds without output")
    t.check("... the build was stopped in time", time.time() - start < 20)
    c.close()


def test_refused_ops(t, env):
    c = env.conn()
    t.error("CollectGarbage: refused with a message",
            lambda: c.collect_garbage(), "garbage collection")
    t.check("... the connection goes on", c.is_valid_path(
        env.store + "/" + "0" * 32 + "-x") is False)
    other = env.conn()
    c.w_u64(99)
    t.error("unknown opcode 99: error 'invalid operation 99'",
            lambda: c.process_stderr(), "invalid operation 99")
    t.check("... then the daemon closes that connection", c.at_eof())
    t.check("... and keeps serving the others", other.is_valid_path(
        env.store + "/" + "0" * 32 + "-x") is False)
    c.close()
    c = env.conn()
    c.w_u64(1 << 40)
    t.error("an opcode above 2^32: error", lambda: c.process_stderr(),
            "invalid operation")
    t.check("... connection closed", c.at_eof())
    c.close()
    c3 = env.conn()
    t.check("a new connection after the bad ones works",
            c3.is_valid_path(env.store + "/" + "0" * 32 + "-x") is False)
    c3.close()
    other.close()


# Run as uid 65534: AddToStoreNar without and with content addresses.
UNTRUSTED = r"""
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import wireclient as wc
store, sock = sys.argv[2], sys.argv[3]
c = wc.Conn(sock)
c.set_options()


def attempt(tag, path, nar, ca=""):
    try:
        c.add_to_store_nar(path, nar, ca=ca)
        print("%s: accepted, valid=%s" % (tag, c.is_valid_path(path)))
    except wc.DaemonError as e:
        print("%s: refused: %s" % (tag, e.message))


nar = wc.nar_of_bytes(b"from an untrusted user\n")
digest = hashlib.sha256(nar).digest()
path = wc.fixed_path(store, "untrusted", True, "sha256", digest)
attempt("no-ca", path, nar)
evil = wc.nar_of_bytes(b"not what the address says\n")
attempt("poison-recursive", path, evil, wc.ca_fixed(True, "sha256", digest))
flat = hashlib.sha256(b"real tarball\n").digest()
attempt("poison-flat", wc.fixed_path(store, "src.tar.gz", False, "sha256",
                                     flat), evil,
        wc.ca_fixed(False, "sha256", flat))
text = hashlib.sha256(b"real text").digest()
attempt("poison-text", wc.text_path(store, "t.txt", "real text"), evil,
        "text:sha256:" + wc.b32encode(text))
attempt("ca", path, nar, wc.ca_fixed(True, "sha256", digest))
exe = hashlib.sha256(b"#!/bin/sh\n").digest()
attempt("text-exec", wc.text_path(store, "x.sh", "#!/bin/sh\n"),
        wc.nar_of_bytes(b"#!/bin/sh\n", executable=True),
        "text:sha256:" + wc.b32encode(exe))
own = wc.nar_of_bytes(b"with a deriver\n")
owndig = hashlib.sha256(own).digest()
ownpath = wc.fixed_path(store, "derived", True, "sha256", owndig)
try:
    c.add_to_store_nar(ownpath, own, ca=wc.ca_fixed(True, "sha256", owndig),
                       deriver=store + "/" + "1" * 32 + "-victim.drv")
    print("deriver: %r" % c.query_path_info(ownpath).get("deriver"))
except wc.DaemonError as e:
    print("deriver: refused: " + e.message)

# The daemon runs with --max-silent-time 3; ask for more.
c2 = wc.Conn(sock)
c2.set_options(pairs={"max-silent-time": "1000"}, max_silent=1000)
d = wc.Derivation("quiet-nobody", sys.argv[4], "/bin/sh",
                  ["-c", "PATH=/usr/bin:/bin; sleep 30"])
d.fill_outputs(store)
drv = c2.add_text_to_store("quiet-nobody.drv", d.aterm())
try:
    c2.build_paths([drv + "!out"])
    print("silent: built")
except wc.DaemonError as e:
    print("silent: failed: " + e.message)
"""


def test_untrusted(t, env):
    libdir = os.path.join(env.tmp, "lib")
    os.makedirs(libdir, exist_ok=True)
    shutil.copy(os.path.join(TOP, "tests", "proto", "wireclient.py"),
                libdir)
    os.chmod(libdir, 0o755)
    # The interpreter must be usable by uid 65534 (not one under /root).
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    try:
        r = subprocess.run([python, "-c", UNTRUSTED, libdir,
                            env.store, env.sock, SYSTEM], user=65534,
                           group=65534, capture_output=True, text=True,
                           timeout=60)
        out = r.stdout + r.stderr
    except Exception as e:
        out = "%s: %s" % (type(e).__name__, e)
    t.check("untrusted client: AddToStoreNar without content address is "
            "refused", "no-ca: refused: " in out and "not trusted" in out,
            out)
    for kind in ("recursive", "flat", "text"):
        t.check("untrusted client: content that does not match its %s "
                "content address is refused" % kind,
                "poison-%s: refused: " % kind in out and
                "does not match its content address" in out, out)
    t.check("untrusted client: a correct content address is accepted",
            "ca: accepted, valid=True" in out, out)
    t.check("untrusted client: an executable under a text content "
            "address is refused", "text-exec: refused: " in out and
            "regular, non-executable file" in out, out)
    t.check("untrusted client: the deriver it names is not recorded",
            "deriver: ''" in out or "deriver: None" in out, out)
    t.check("untrusted client: cannot raise the daemon's "
            "--max-silent-time", "silent: failed: " in out and
            "3 seconds without output" in out, out)
    c = env.conn()
    data = b"real contents\n"
    digest = hashlib.sha256(data).digest()
    path = wc.fixed_path(env.store, "trusted-lie", False, "sha256", digest)
    t.error("trusted client: a content address that lies is refused too",
            lambda: c.add_to_store_nar(path, wc.nar_of_bytes(b"lie\n"),
                                       ca=wc.ca_fixed(False, "sha256",
                                                      digest)),
            path, "does not match its content address")
    t.check("... nothing was registered", not c.is_valid_path(path))
    c.close()


# ---------------------------------------------------------------------
# The Guix dialect

def guix_handshake(t, env):
    c = Conn(env.sock, version=wc.GUIX_VERSION, reserve_space=1)
    t.check("Guix handshake (0x164, reserve-space 1): daemon says 0x122, "
            "sends no version string", c.daemon_version == 0x122 and
            c.daemon_software is None)
    c.set_options(pairs=GUIX_PAIRS, verbosity=0)
    t.check("Guix SetOptions (12 integers + Guix's pairs) accepted",
            True)
    old = Conn(env.sock, version=0x163, reserve_space=1, cpu_affinity=0)
    old.set_options(pairs=GUIX_PAIRS, verbosity=0)
    t.check("an older Guix (0x163) asking for CPU affinity: same dialect",
            old.daemon_software is None and
            old.is_valid_path(env.store + "/" + "0" * 32 + "-x") is False)
    old.close()
    return c


def guix_sources(t, env, c):
    script = ("PATH=/usr/bin:/bin\n"
              "mkdir -p \"$out/share\"\n"
              "cat \"$src/msg\" >\"$out/share/msg\"\n"
              "id -u >\"$out/share/uid\"\n"
              "echo \"built by the Guix dialect\"\n")
    builder = c.add_text_to_store("guix-builder.sh", script)
    t.check("AddTextToStore (op 8) of a builder script: the text path",
            builder == wc.text_path(env.store, "guix-builder.sh", script),
            builder)
    srcdir = os.path.join(env.tmp, "guix-src")
    os.makedirs(os.path.join(srcdir, "sub"), exist_ok=True)
    with open(os.path.join(srcdir, "msg"), "w") as f:
        f.write("hello from the Guix dialect\n")
    with open(os.path.join(srcdir, "sub", "run"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(srcdir, "sub", "run"), 0o755)
    os.symlink("../msg", os.path.join(srcdir, "sub", "link"))
    nar = wc.nar_serialise(srcdir)
    src = c.add_to_store_old("guix-src", nar, recursive=True)
    t.check("AddToStore old layout (recursive, unframed NAR): the source "
            "path", src == nar_path(env.store, "guix-src", nar), src)
    t.check("... and the daemon's NAR of it is the one sent",
            c.nar_from_path(src) == nar)
    data = b"flat file contents\n"
    flat = c.add_to_store_old("flat.txt", wc.nar_of_bytes(data),
                              recursive=False)
    want = wc.fixed_path(env.store, "flat.txt", False, "sha256",
                         hashlib.sha256(data).digest())
    t.check("AddToStore old layout (flat sha256): the fixed path",
            flat == want, flat)
    with open(flat, "rb") as f:
        t.check("... holding the file's contents", f.read() == data)
    # The NAR of an executable file, flat: only its contents count (Nix
    # drops the flag), so the object is 0444 and its NAR is the plain one.
    edata = b"#!/bin/sh\nflat but executable\n"
    eflat = c.add_to_store_old("eflat.sh", wc.nar_of_bytes(edata, True),
                               recursive=False)
    t.check("AddToStore old layout (flat) of an executable file: the "
            "fixed path of its contents",
            eflat == wc.fixed_path(env.store, "eflat.sh", False, "sha256",
                                   hashlib.sha256(edata).digest()), eflat)
    t.check("... a 0444 file, whose NAR is that of plain contents",
            os.stat(eflat).st_mode & 0o7777 == 0o444 and
            c.nar_from_path(eflat) == wc.nar_of_bytes(edata),
            oct(os.stat(eflat).st_mode))
    info = c.query_path_info(eflat)
    t.check("... and registered with that NAR's hash",
            info is not None and hashlib.sha256(
                wc.nar_of_bytes(edata)).hexdigest() in info["hash"], info)
    t.error("AddToStore old layout, flat import of a directory: error",
            lambda: c.add_to_store_old("notflat", nar, recursive=False),
            "notflat", "regular file")
    return builder, src


def guix_drvs(env, builder, src):
    a = Derivation("guix-a", SYSTEM, "/bin/sh", [builder], {"src": src})
    a.input_srcs = {builder, src}
    a.fill_outputs(env.store)
    apath = a.store_path(env.store)
    b = Derivation("guix-b", SYSTEM, "/bin/sh",
                   ["-c", "PATH=/usr/bin:/bin; mkdir $out; "
                    "cp $a/share/msg $out/msg; echo second stage"],
                   {"a": a.outputs["out"][0]})
    b.input_drvs = {apath: {"out"}}
    b.fill_outputs(env.store, {apath: a}.__getitem__)
    return a, apath, b, b.store_path(env.store)


def guix_build(t, env, c, a, apath, b, bpath):
    got = c.add_text_to_store("guix-a.drv", a.aterm(), a.references())
    t.check("AddTextToStore of a .drv: the derivation path", got == apath,
            got)
    got = c.add_text_to_store("guix-b.drv", b.aterm(), b.references())
    t.check("AddTextToStore of a .drv with an input derivation", got ==
            bpath, got)
    aout, bout = a.outputs["out"][0], b.outputs["out"][0]
    c.log = []
    try:
        r = c.build_paths([bpath], 0)
    except Exception as e:
        r = "%s: %s" % (type(e).__name__, e)
    t.check("BuildPaths (op 9) of a bare .drv, mode 0: reply 1", r == 1, r)
    t.check("... both derivations built (bare .drv = all outputs)",
            c.is_valid_path(aout) and c.is_valid_path(bout))
    log = "".join(c.log)
    t.check("... build output arrived as STDERR_NEXT lines",
            "built by the Guix dialect" in log and "second stage" in log,
            log)
    t.check("... no activity messages were sent to the Guix client",
            not c.activities and not c.results)
    with open(os.path.join(bout, "msg")) as f:
        t.check("... the output has the source's contents",
                f.read() == "hello from the Guix dialect\n")
    with open(os.path.join(aout, "share", "uid")) as f:
        uid = f.read().strip()
    t.check("... the builder ran as uid 35001", uid == "35001", uid)
    t.check("... the daemon log says so", "building %s as uid 35001" %
            apath in env.log_text())
    return aout, bout


def guix_queries(t, env, c, builder, src, apath, aout, bpath, bout):
    info = c.query_path_info(aout)
    nar = wc.nar_serialise(aout)
    t.check("QueryPathInfo, Guix layout: deriver",
            info["deriver"] == apath, info)
    t.check("... NAR hash (hex) and size",
            info["hash"] == hashlib.sha256(nar).hexdigest() and
            info["nar_size"] == len(nar), info)
    t.check("... references and registration time",
            info["references"] == [] and
            abs(info["registration_time"] - time.time()) < 3600, info)
    t.check("... the reply ended where the Guix layout ends",
            c.is_valid_path(aout))
    missing = env.store + "/" + "0" * 32 + "-missing"
    try:
        c.query_path_info(missing)
        t.check("QueryPathInfo of an invalid path: Guix-format error",
                False, "no error")
    except DaemonError as e:
        t.check("QueryPathInfo of an invalid path: Guix-format error "
                "(message, status 1)", missing in e.message and
                e.status == 1, "%s / %s" % (e.message, e.status))
    except Exception as e:
        t.check("QueryPathInfo of an invalid path: Guix-format error",
                False, "%s: %s" % (type(e).__name__, e))
    t.check("... and the connection recovers", c.is_valid_path(aout))
    t.error("Guix valid-path? of a non-store name: error",
            lambda: c.is_valid_path("foo"), "foo")
    t.check("... and the connection recovers (Guix's 'valid-path? "
            "recovery')", c.is_valid_path(aout))
    t.check("QueryReferences (op 5) of a .drv: its sources",
            c.query_references(apath) == sorted([builder, src]))
    t.check("QueryReferences of a dependent .drv includes the input .drv",
            apath in c.query_references(bpath))
    t.check("QueryReferences of an output",
            c.query_references(bout) == [], c.query_references(bout))
    t.check("QueryReferrers of the builder script lists the .drv",
            apath in c.query_referrers(builder))
    t.check("QueryValidDerivers (op 33) of an output: its .drv",
            c.query_valid_derivers(aout) == [apath],
            c.query_valid_derivers(aout))
    t.check("QueryDerivationOutputs (op 22) of a .drv: its output",
            c.query_derivation_outputs(bpath) == [bout],
            c.query_derivation_outputs(bpath))


def guix_export(t, env, c, aout, apath):
    data = c.export_path(aout)
    nar = wc.nar_serialise(aout)
    trailer = (wc.ser_u64(0x4558494E) + wc.ser_str(aout) +
               wc.ser_strings([]) + wc.ser_str(apath) + wc.ser_u64(0))
    t.check("ExportPath (op 16, unsigned): the NAR and the export trailer",
            data == nar + trailer, "%d bytes" % len(data))
    t.error("ExportPath signed: refused (frx has no signing key)",
            lambda: c.export_path(aout, sign=1), "signing key")
    c.w_u64(24)
    c.process_stderr()
    t.check("QueryFailedPaths (op 24): none (frx caches no failures)",
            c.r_strings() == [])
    c.w_u64(25)
    c.w_strings([aout])
    c.process_stderr()
    t.check("ClearFailedPaths (op 25): accepted", c.r_u64() == 1)


def guix_failure(t, env, c):
    d = Derivation("guix-fails", SYSTEM, "/bin/sh",
                   ["-c", "echo going down; exit 7"])
    d.fill_outputs(env.store)
    dp = c.add_text_to_store("guix-fails.drv", d.aterm(), [])
    try:
        c.build_paths([dp], 0)
        t.check("a failing build: Guix-format error", False, "no error")
    except DaemonError as e:
        t.check("a failing build: Guix-format error naming the .drv and "
                "the exit code", dp in e.message and
                "exit code 7" in e.message and e.status != 0, e.message)
    except Exception as e:
        t.check("a failing build: Guix-format error", False,
                "%s: %s" % (type(e).__name__, e))
    t.check("... the output is not valid",
            not c.is_valid_path(d.outputs["out"][0]))


def test_guix(t, env):
    c = guix_handshake(t, env)
    builder, src = guix_sources(t, env, c)
    a, apath, b, bpath = guix_drvs(env, builder, src)
    aout, bout = guix_build(t, env, c, a, apath, b, bpath)
    guix_queries(t, env, c, builder, src, apath, aout, bpath, bout)
    guix_export(t, env, c, aout, apath)
    guix_failure(t, env, c)
    c.close()
    return aout


# ---------------------------------------------------------------------
# The Nix dialect

def test_nix(t, env):
    c = Conn(env.sock)
    t.check("Nix handshake: daemon 0x122 with a version string",
            c.daemon_version == 0x122 and bool(c.daemon_software))
    c.set_options()
    data = b"some text\n"
    path, info = c.add_to_store("note.txt", "fixed:sha256", data)
    t.check("AddToStore (1.25 layout, flat): Nix's path and ca",
            path == wc.fixed_path(env.store, "note.txt", False, "sha256",
                                  hashlib.sha256(data).digest()) and
            info["ca"] == wc.ca_fixed(False, "sha256",
                                      hashlib.sha256(data).digest()),
            (path, info))
    t.check("NarFromPath of it is the NAR of the file",
            c.nar_from_path(path) == wc.nar_of_bytes(data))
    # A flat upload goes to its file as it comes: 64 MiB through a
    # session that stays far below that (its peak RSS, from /proc).
    big = os.urandom(1 << 20) * 64
    bpath, binfo = c.add_to_store("big.bin", "fixed:sha256", big)
    t.check("AddToStore of a 64 MiB flat file: Nix's path",
            bpath == wc.fixed_path(env.store, "big.bin", False, "sha256",
                                   hashlib.sha256(big).digest()), bpath)
    with open(bpath, "rb") as f:
        t.check("... with its bytes", f.read() == big)
    peaks = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/status" % pid) as f:
                st = f.read()
        except OSError:
            continue
        if "\nPPid:\t%d\n" % env.proc.pid in st and \
                st.startswith("Name:\tfrx-daemon"):
            peaks.append(int(st.split("VmHWM:")[1].split()[0]))
    t.check("... through a session that never held it (peak RSS %s kB)"
            % peaks, peaks and max(peaks) < 32 * 1024, peaks)
    # A .drv is read whole to be parsed: one larger than a protocol
    # string (64 MiB) is refused before that.
    big += b"x" * (1 << 20)
    t.error("AddToStore of a 65 MiB .drv is refused",
            lambda: c.add_to_store("big.drv", "text:sha256", big),
            "big.drv", "of at most 67108864 bytes")
    del big
    d = Derivation("opaque", SYSTEM, "/bin/sh", ["-c", "echo x >$out"])
    d.fill_outputs(env.store)
    dp, _ = c.add_to_store("opaque.drv", "text:sha256", d.aterm().encode())
    t.check("AddToStore of a .drv (text:sha256): the derivation path",
            dp == d.store_path(env.store), dp)
    r = c.build_paths([dp])
    t.check("Nix dialect: a bare .drv in BuildPaths is an opaque path "
            "(nothing built)", r == 1 and
            not c.is_valid_path(d.outputs["out"][0]))
    c.build_paths([dp + "!out"])
    t.check("... while <drv>!out builds it",
            c.is_valid_path(d.outputs["out"][0]))
    t.check("activities are not needed: build output as log lines",
            any("building" in x for x in c.log), c.log)
    c.close()


def main():
    t = Tap()
    if os.geteuid() != 0:
        t.check("test-proto needs root (builds run as uid 35001+)", False)
        return 1
    env = Env()
    if not os.access(env.daemon_bin, os.X_OK):
        t.check("%s is built" % env.daemon_bin, False)
        return 1
    vectors = os.environ.get("FRX_VECTORS",
                             os.path.join(TOP, "..", "shared", "vectors"))
    try:
        if not env.start():
            t.check("frx-daemon starts", False, env.log_text())
            return 1
        if os.path.isdir(os.path.join(vectors, "drv")):
            import contextlib
            import io
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                r = wc._selftest(vectors)
            t.check("wireclient's hashing agrees with PROTOCOL.md's "
                    "vectors", r == 0, buf.getvalue())
        test_nix(t, env)
        aout = test_guix(t, env)
        test_outside_store(t, env)
        test_bad_nar(t, env)
        test_add_multiple(t, env)
        test_bad_drv(t, env, aout)
        test_refused_ops(t, env)
        test_limits(t, env)
        test_untrusted(t, env)
        t.check("the daemon is still running", env.proc.poll() is None)
    except Exception as e:
        import traceback
        t.check("no unexpected exception", False,
                "%s: %s\n%s" % (type(e).__name__, e,
                                traceback.format_exc()))
    finally:
        if t.failed:
            print("# daemon log:")
            for line in env.log_text().splitlines()[-30:]:
                print("# " + line)
        env.stop()
    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
