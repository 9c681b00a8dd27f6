#!/usr/bin/env python3
"""wireclient.py: a small worker-protocol client for testing frx-daemon.

Python 3 standard library only.  It speaks the protocol of PROTOCOL.md
sections 1-5 in either dialect: the Nix one (client version 0x122, what
Nix 2.8 sends) or the Guix one (client version 0x163/0x164: no version
string after the handshake, errors as message + status, old AddToStore
layout).  It also carries what a test needs to make valid store objects
by hand: the NAR writer and reader, Nix base32, store-path computation
and derivations (ATerm, hashDerivationModulo, output paths), PROTOCOL.md
sections 8-12.

Used as a library by tests/sh/test-proto.py and as a command by the shell
tests:

    wireclient.py --socket S nar-from-path PATH   # the NAR on stdout
    wireclient.py --socket S path-info PATH       # key=value lines
    wireclient.py --socket S export PATH          # as nix-store --export
    wireclient.py --socket S valid-derivers PATH  # one path a line
    wireclient.py --socket S references PATH      # (also referrers,
                                                  # derivation-outputs)
    wireclient.py selftest VECTORS_DIR            # hashing vs. vectors

The socket defaults to $FRX_DAEMON_SOCKET.  Exit status 0, or 1 with the
daemon's error on stderr, 2 for bad usage.
"""

import hashlib
import os
import socket
import stat
import struct
import sys

WORKER_MAGIC_1 = 0x6E697863
WORKER_MAGIC_2 = 0x6478696F
NIX_VERSION = 0x122
GUIX_VERSION = 0x164

STDERR_NEXT = 0x6F6C6D67
STDERR_READ = 0x64617461
STDERR_WRITE = 0x64617416
STDERR_LAST = 0x616C7473
STDERR_ERROR = 0x63787470
STDERR_START_ACTIVITY = 0x53545254
STDERR_STOP_ACTIVITY = 0x53544F50
STDERR_RESULT = 0x52534C54

OP = {
    "IsValidPath": 1,
    "HasSubstitutes": 3,
    "QueryPathHash": 4,
    "QueryReferences": 5,
    "QueryReferrers": 6,
    "AddToStore": 7,
    "AddTextToStore": 8,
    "BuildPaths": 9,
    "EnsurePath": 10,
    "AddTempRoot": 11,
    "QueryDeriver": 18,
    "SetOptions": 19,
    "CollectGarbage": 20,
    "QueryDerivationOutputs": 22,
    "QueryPathInfo": 26,
    "QueryDerivationOutputNames": 28,
    "QueryValidPaths": 31,
    "QueryValidDerivers": 33,
    "VerifyStore": 35,
    "NarFromPath": 38,
    "AddToStoreNar": 39,
    "QueryMissing": 40,
    "QueryDerivationOutputMap": 41,
    "AddMultipleToStore": 44,
}


class ProtocolError(Exception):
    """The daemon sent something this client cannot parse."""


class DaemonError(Exception):
    """STDERR_ERROR: the daemon refused or failed the operation."""

    def __init__(self, message, status=1, traces=()):
        Exception.__init__(self, message)
        self.message = message
        self.status = status
        self.traces = list(traces)


def _b(s):
    return s.encode() if isinstance(s, str) else bytes(s)


def _pad(n):
    return (8 - n % 8) % 8


def ser_u64(v):
    return struct.pack("<Q", v)


def ser_str(s):
    s = _b(s)
    return ser_u64(len(s)) + s + b"\0" * _pad(len(s))


def ser_strings(items):
    return ser_u64(len(items)) + b"".join(ser_str(x) for x in items)


# ---------------------------------------------------------------------
# NAR (PROTOCOL.md section 8)

def nar_serialise(path):
    """The NAR of a file, symlink or directory tree, as bytes."""
    out = [ser_str("nix-archive-1")]
    _nar_node(path, out)
    return b"".join(out)


def _nar_node(path, out):
    st = os.lstat(path)
    out.append(ser_str("("))
    out.append(ser_str("type"))
    if stat.S_ISLNK(st.st_mode):
        out += [ser_str("symlink"), ser_str("target"),
                ser_str(os.fsencode(os.readlink(path)))]
    elif stat.S_ISREG(st.st_mode):
        out.append(ser_str("regular"))
        if st.st_mode & stat.S_IXUSR:
            out += [ser_str("executable"), ser_str("")]
        with open(path, "rb") as f:
            out += [ser_str("contents"), ser_str(f.read())]
    elif stat.S_ISDIR(st.st_mode):
        out.append(ser_str("directory"))
        for name in sorted(os.listdir(os.fsencode(path))):
            out += [ser_str("entry"), ser_str("("), ser_str("name"),
                    ser_str(name), ser_str("node")]
            _nar_node(os.path.join(os.fsencode(path), name), out)
            out.append(ser_str(")"))
    else:
        raise ValueError("%s: cannot archive this file type" % path)
    out.append(ser_str(")"))


def nar_of_bytes(data, executable=False):
    """The NAR of a single regular file with these contents."""
    parts = [ser_str("nix-archive-1"), ser_str("("), ser_str("type"),
             ser_str("regular")]
    if executable:
        parts += [ser_str("executable"), ser_str("")]
    parts += [ser_str("contents"), ser_str(data), ser_str(")")]
    return b"".join(parts)


class _NarReader:
    """Reads exactly one NAR from a read(n) function, keeping the bytes."""

    def __init__(self, read):
        self.read = read
        self.raw = []

    def u64(self):
        b = self.read(8)
        self.raw.append(b)
        return struct.unpack("<Q", b)[0]

    def string(self, limit=1 << 32):
        n = self.u64()
        if n > limit:
            raise ProtocolError("NAR: string of %d bytes" % n)
        b = self.read(n + _pad(n))
        self.raw.append(b)
        if b[n:] != b"\0" * _pad(n):
            raise ProtocolError("NAR: non-zero padding")
        return b[:n]

    def expect(self, tok):
        got = self.string(64)
        if got != _b(tok):
            raise ProtocolError("NAR: expected %r, got %r" % (tok, got))

    def node(self):
        self.expect("(")
        self.expect("type")
        kind = self.string(64)
        if kind == b"regular":
            tok = self.string(64)
            if tok == b"executable":
                self.expect("")
                tok = self.string(64)
            if tok != b"contents":
                raise ProtocolError("NAR: expected contents")
            self.string()
            self.expect(")")
        elif kind == b"symlink":
            self.expect("target")
            self.string(4096)
            self.expect(")")
        elif kind == b"directory":
            while True:
                tok = self.string(64)
                if tok == b")":
                    break
                if tok != b"entry":
                    raise ProtocolError("NAR: expected entry")
                self.expect("(")
                self.expect("name")
                self.string(4096)
                self.expect("node")
                self.node()
                self.expect(")")
        else:
            raise ProtocolError("NAR: unknown type %r" % kind)

    def archive(self):
        self.expect("nix-archive-1")
        self.node()
        return b"".join(self.raw)


# ---------------------------------------------------------------------
# Hashes and store paths (PROTOCOL.md sections 9 and 10)

B32 = "0123456789abcdfghijklmnpqrsvwxyz"


def b32encode(digest):
    n = len(digest)
    out = []
    for k in range((8 * n - 1) // 5, -1, -1):
        b = 5 * k
        i, j = b // 8, b % 8
        v = digest[i] >> j
        if i + 1 < n:
            v |= digest[i + 1] << (8 - j)
        out.append(B32[v & 31])
    return "".join(out)


def fold(digest, size=20):
    out = bytearray(size)
    for i, c in enumerate(digest):
        out[i % size] ^= c
    return bytes(out)


def make_store_path(kind, inner_hex, storedir, name):
    fp = "%s:sha256:%s:%s:%s" % (kind, inner_hex, storedir, name)
    digest = hashlib.sha256(fp.encode()).digest()
    return "%s/%s-%s" % (storedir, b32encode(fold(digest)), name)


def text_path(storedir, name, contents, refs=()):
    kind = "text" + "".join(":" + r for r in sorted(refs))
    h = hashlib.sha256(_b(contents)).hexdigest()
    return make_store_path(kind, h, storedir, name)


def fixed_path(storedir, name, recursive, algo, digest):
    """A fixed-output / source path for a content hash (bytes)."""
    if recursive and algo == "sha256":
        return make_store_path("source", digest.hex(), storedir, name)
    inner = "fixed:out:%s%s:%s:" % ("r:" if recursive else "", algo,
                                     digest.hex())
    h = hashlib.sha256(inner.encode()).hexdigest()
    return make_store_path("output:out", h, storedir, name)


def ca_fixed(recursive, algo, digest):
    return "fixed:%s%s:%s" % ("r:" if recursive else "", algo,
                              b32encode(digest))


# ---------------------------------------------------------------------
# Derivations (PROTOCOL.md sections 11 and 12)

def _esc(s):
    return '"' + (s.replace("\\", "\\\\").replace('"', '\\"')
                  .replace("\n", "\\n").replace("\r", "\\r")
                  .replace("\t", "\\t")) + '"'


def _q(s):
    return '"' + s + '"'


class Derivation:
    """A derivation as data; outputs maps name -> (path, algo, hash)."""

    def __init__(self, name, platform, builder, args=(), env=None):
        self.outputs = {}
        self.input_drvs = {}
        self.input_srcs = set()
        self.platform = platform
        self.builder = builder
        self.args = list(args)
        self.env = dict(env or {})
        self.env.setdefault("name", name)
        self.env.setdefault("builder", builder)
        self.env.setdefault("system", platform)

    @property
    def name(self):
        return self.env["name"]

    def aterm(self, mask=False, inputs=None):
        """ATerm text; inputs replaces the input-drv map (modulo hash)."""
        outs = []
        for o in sorted(self.outputs):
            path, algo, h = self.outputs[o]
            outs.append("(%s,%s,%s,%s)" % (_q(o), _q("" if mask else path),
                                           _q(algo), _q(h)))
        ins = inputs if inputs is not None else self.input_drvs
        drvs = ["(%s,[%s])" % (_q(p), ",".join(_q(x) for x in sorted(o)))
                for p, o in sorted(ins.items())]
        env = []
        for k in sorted(self.env):
            v = self.env[k]
            if mask and k in self.outputs:
                v = ""
            env.append("(%s,%s)" % (_esc(k), _esc(v)))
        return "Derive([%s],[%s],[%s],%s,%s,[%s],[%s])" % (
            ",".join(outs), ",".join(drvs),
            ",".join(_q(s) for s in sorted(self.input_srcs)),
            _q(self.platform), _esc(self.builder),
            ",".join(_esc(a) for a in self.args), ",".join(env))

    def is_fixed(self):
        return (list(self.outputs) == ["out"] and
                self.outputs["out"][2] != "")

    def hash_modulo(self, storedir, loader, mask):
        """hashDerivationModulo; loader(drvpath) -> Derivation."""
        if self.is_fixed():
            path, algo, h = self.outputs["out"]
            text = "fixed:out:%s:%s:%s" % (algo, h, path)
            return hashlib.sha256(text.encode()).hexdigest()
        inputs = {}
        for p, outs in self.input_drvs.items():
            hm = loader(p).hash_modulo(storedir, loader, False)
            inputs.setdefault(hm, set()).update(outs)
        text = self.aterm(mask=mask, inputs=inputs)
        return hashlib.sha256(text.encode()).hexdigest()

    def fill_outputs(self, storedir, loader=None, names=("out",)):
        """Compute the output paths as the evaluator does."""
        if self.is_fixed():
            _, algo, h = self.outputs["out"]
            rec = algo.startswith("r:")
            path = fixed_path(storedir, self.name, rec,
                              algo[2:] if rec else algo, bytes.fromhex(h))
            self.outputs["out"] = (path, algo, h)
            self.env["out"] = path
            return
        for o in names:
            self.outputs.setdefault(o, ("", "", ""))
            self.env[o] = ""
        hm = self.hash_modulo(storedir, loader, True)
        for o in names:
            oname = self.name if o == "out" else self.name + "-" + o
            path = make_store_path("output:" + o, hm, storedir, oname)
            self.outputs[o] = (path, "", "")
            self.env[o] = path

    def references(self):
        return sorted(set(self.input_srcs) | set(self.input_drvs))

    def store_path(self, storedir):
        return text_path(storedir, self.name + ".drv", self.aterm(),
                         self.references())


def parse_aterm(text):
    """Parse a .drv file's text into a Derivation."""
    pos = [0]

    def lit(s):
        if not text.startswith(s, pos[0]):
            raise ValueError("drv: expected %r at %d" % (s, pos[0]))
        pos[0] += len(s)

    def string():
        lit('"')
        out = []
        while text[pos[0]] != '"':
            c = text[pos[0]]
            if c == "\\":
                pos[0] += 1
                c = {"n": "\n", "r": "\r", "t": "\t"}.get(text[pos[0]],
                                                          text[pos[0]])
            out.append(c)
            pos[0] += 1
        pos[0] += 1
        return "".join(out)

    def lst(item):
        lit("[")
        out = []
        while text[pos[0]] != "]":
            if out:
                lit(",")
            out.append(item())
        lit("]")
        return out

    def output():
        lit("(")
        o = string()
        lit(",")
        p = string()
        lit(",")
        a = string()
        lit(",")
        h = string()
        lit(")")
        return o, (p, a, h)

    def input_drv():
        lit("(")
        p = string()
        lit(",")
        o = lst(string)
        lit(")")
        return p, set(o)

    def pair():
        lit("(")
        k = string()
        lit(",")
        v = string()
        lit(")")
        return k, v

    lit("Derive(")
    outs = lst(output)
    lit(",")
    ins = lst(input_drv)
    lit(",")
    srcs = lst(string)
    lit(",")
    platform = string()
    lit(",")
    builder = string()
    lit(",")
    args = lst(string)
    lit(",")
    env = dict(lst(pair))
    lit(")")
    if pos[0] != len(text):
        raise ValueError("drv: trailing bytes")
    d = Derivation(env.get("name", ""), platform, builder, args, env)
    d.outputs = dict(outs)
    d.input_drvs = dict(ins)
    d.input_srcs = set(srcs)
    return d


# ---------------------------------------------------------------------
# The connection

class Conn:
    """One connection to a daemon.  version 0x163/0x164 = Guix dialect."""

    def __init__(self, socket_path, version=NIX_VERSION, reserve_space=0,
                 timeout=120, handshake=True, cpu_affinity=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        self.client_version = version
        self.guix = (version & 0xFF) >= 0x60
        self.reserve_space = reserve_space
        self.cpu_affinity = cpu_affinity
        self.daemon_version = None
        self.daemon_software = None
        self.wbuf = []
        self.rbuf = b""
        self.log = []
        self.activities = []
        self.results = []
        if handshake:
            self.handshake()

    # -- primitives --------------------------------------------------
    def put(self, data):
        self.wbuf.append(data)

    def flush(self):
        data = b"".join(self.wbuf)
        self.wbuf = []
        if data:
            self.sock.sendall(data)

    def read(self, n):
        while len(self.rbuf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.rbuf)))
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.rbuf += chunk
        out, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return out

    def at_eof(self, wait=5.0):
        """True if the daemon closed the connection (nothing pending)."""
        if self.rbuf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(old)

    def w_u64(self, v):
        self.put(ser_u64(v))

    def w_str(self, s):
        self.put(ser_str(s))

    def w_strings(self, items):
        self.put(ser_strings(items))

    def w_framed(self, data, frame=32768):
        for i in range(0, len(data), frame):
            chunk = data[i:i + frame]
            self.put(ser_u64(len(chunk)) + chunk)
        self.put(ser_u64(0))

    def r_u64(self):
        return struct.unpack("<Q", self.read(8))[0]

    def r_bytes(self, limit=1 << 30):
        n = self.r_u64()
        if n > limit:
            raise ProtocolError("string of %d bytes" % n)
        b = self.read(n + _pad(n))
        if b[n:] != b"\0" * _pad(n):
            raise ProtocolError("non-zero padding")
        return b[:n]

    def r_str(self):
        return self.r_bytes().decode("utf-8", "replace")

    def r_strings(self):
        return [self.r_str() for _ in range(self.r_u64())]

    def minor(self):
        """The negotiated minor version (shared gates)."""
        return min(self.client_version, self.daemon_version) & 0xFF

    # -- the log channel -------------------------------------------
    def _fields(self):
        out = []
        for _ in range(self.r_u64()):
            t = self.r_u64()
            if t == 0:
                out.append(self.r_u64())
            elif t == 1:
                out.append(self.r_str())
            else:
                raise ProtocolError("activity field type %d" % t)
        return out

    def _error(self):
        # Guix clients read message + status; Nix >= 1.26 the structure.
        if self.guix or self.minor() < 26:
            msg = self.r_str()
            status = (self.r_u64()
                      if (self.daemon_version & 0xFF) >= 8 else 1)
            return DaemonError(msg, status)
        typ = self.r_str()
        if typ != "Error":
            raise ProtocolError("error type %r" % typ)
        self.r_u64()                     # level
        self.r_str()                     # obsolete name
        msg = self.r_str()
        if self.r_u64() != 0:
            raise ProtocolError("error with a position")
        traces = []
        for _ in range(self.r_u64()):
            if self.r_u64() != 0:
                raise ProtocolError("trace with a position")
            traces.append(self.r_str())
        return DaemonError(msg, 1, traces)

    def process_stderr(self, source=None, sink=None):
        """Read log messages up to STDERR_LAST; raise on STDERR_ERROR."""
        self.flush()
        while True:
            tag = self.r_u64()
            if tag == STDERR_LAST:
                return
            if tag == STDERR_ERROR:
                raise self._error()
            if tag == STDERR_NEXT:
                self.log.append(self.r_str())
            elif tag == STDERR_READ:
                n = self.r_u64()
                self.w_str(source.read(n) if source else b"")
                self.flush()
            elif tag == STDERR_WRITE:
                data = self.r_bytes()
                if sink is not None:
                    sink.write(data)
            elif tag == STDERR_START_ACTIVITY and not self.guix:
                act = (self.r_u64(), self.r_u64(), self.r_u64(),
                       self.r_str(), self._fields(), self.r_u64())
                self.activities.append(act)
            elif tag == STDERR_STOP_ACTIVITY and not self.guix:
                self.r_u64()
            elif tag == STDERR_RESULT and not self.guix:
                self.results.append((self.r_u64(), self.r_u64(),
                                     self._fields()))
            else:
                raise ProtocolError("unknown stderr tag 0x%x" % tag)

    # -- handshake and options -------------------------------------
    def handshake(self):
        self.w_u64(WORKER_MAGIC_1)
        self.flush()
        if self.r_u64() != WORKER_MAGIC_2:
            raise ProtocolError("bad magic from the daemon")
        self.daemon_version = self.r_u64()
        if self.daemon_version >> 8 != 1:
            raise ProtocolError("daemon major version %x" %
                                self.daemon_version)
        self.w_u64(self.client_version)
        dminor = self.daemon_version & 0xFF
        if dminor >= 14:
            self.w_u64(0 if self.cpu_affinity is None else 1)
            if self.cpu_affinity is not None:
                self.w_u64(self.cpu_affinity)
        if dminor >= 11:
            self.w_u64(self.reserve_space)
        self.flush()
        if not self.guix and self.minor() >= 33:
            self.daemon_software = self.r_str()
        self.process_stderr()

    def set_options(self, pairs=None, verbosity=3, build_verbosity=0,
                    max_silent=0):
        """SetOptions in the 12-integer layout (Nix, and Guix when the
        daemon is below 0x61)."""
        self.w_u64(OP["SetOptions"])
        for v in (0, 0, 0, verbosity, 1, max_silent, 1, build_verbosity, 0,
                  1 if self.guix else 0, os.cpu_count() or 1, 1):
            self.w_u64(v)
        pairs = list((pairs or {}).items())
        self.w_u64(len(pairs))
        for k, v in pairs:
            self.w_str(k)
            self.w_str(v)
        self.process_stderr()

    # -- operations --------------------------------------------------
    def op(self, name, *strings):
        """Send an opcode and string arguments; wait for the terminator."""
        self.w_u64(OP[name] if isinstance(name, str) else name)
        for s in strings:
            self.w_str(s)
        self.process_stderr()

    def is_valid_path(self, path):
        self.op("IsValidPath", path)
        return self.r_u64() != 0

    def query_path_info(self, path):
        """A dict, or None for an invalid path (Nix >= 1.17 layout)."""
        self.op("QueryPathInfo", path)
        if not self.guix and self.minor() >= 17 and self.r_u64() == 0:
            return None
        info = {"deriver": self.r_str(), "hash": self.r_str(),
                "references": self.r_strings(),
                "registration_time": self.r_u64(),
                "nar_size": self.r_u64()}
        if not self.guix and self.minor() >= 16:
            info["ultimate"] = self.r_u64()
            info["signatures"] = self.r_strings()
            info["ca"] = self.r_str()
        return info

    def path_set_query(self, name, path):
        self.op(name, path)
        return self.r_strings()

    def query_references(self, path):
        return self.path_set_query("QueryReferences", path)

    def query_referrers(self, path):
        return self.path_set_query("QueryReferrers", path)

    def query_valid_derivers(self, path):
        return self.path_set_query("QueryValidDerivers", path)

    def query_derivation_outputs(self, path):
        return self.path_set_query("QueryDerivationOutputs", path)

    def add_text_to_store(self, name, text, refs=()):
        self.w_u64(OP["AddTextToStore"])
        self.w_str(name)
        self.w_str(text)
        self.w_strings(sorted(refs))
        self.process_stderr()
        return self.r_str()

    def add_to_store_old(self, name, nar, recursive=True, algo="sha256"):
        """The pre-1.25 / Guix layout: the NAR travels unframed."""
        self.w_u64(OP["AddToStore"])
        self.w_str(name)
        self.w_u64(1)                    # "fixed": always 1 from Guix
        self.w_u64(1 if recursive else 0)
        self.w_str(algo)
        self.put(nar)
        self.process_stderr()
        return self.r_str()

    def add_to_store(self, name, method, payload, refs=()):
        """The >= 1.25 layout: framed payload, path + info back."""
        self.w_u64(OP["AddToStore"])
        self.w_str(name)
        self.w_str(method)
        self.w_strings(sorted(refs))
        self.w_u64(0)                    # repair
        self.w_framed(payload)
        self.process_stderr()
        path = self.r_str()
        info = {"deriver": self.r_str(), "hash": self.r_str(),
                "references": self.r_strings(),
                "registration_time": self.r_u64(),
                "nar_size": self.r_u64(), "ultimate": self.r_u64(),
                "signatures": self.r_strings(), "ca": self.r_str()}
        return path, info

    def add_to_store_nar(self, path, nar, nar_hash=None, nar_size=None,
                         refs=(), deriver="", ca=""):
        self.w_u64(OP["AddToStoreNar"])
        self.w_str(path)
        self.w_str(deriver)
        self.w_str(nar_hash or hashlib.sha256(nar).hexdigest())
        self.w_strings(sorted(refs))
        self.w_u64(0)                    # registration time
        self.w_u64(len(nar) if nar_size is None else nar_size)
        self.w_u64(0)                    # ultimate
        self.w_strings([])               # signatures
        self.w_str(ca)
        self.w_u64(0)                    # repair
        self.w_u64(0)                    # don't check signatures
        self.w_framed(nar)
        self.process_stderr()

    def add_multiple_to_store(self, items):
        """items: (path, nar, refs, ca) tuples, dependencies first."""
        body = [ser_u64(len(items))]
        for path, nar, refs, ca in items:
            body += [ser_str(path), ser_str(""),
                     ser_str(hashlib.sha256(nar).hexdigest()),
                     ser_strings(sorted(refs)), ser_u64(0),
                     ser_u64(len(nar)), ser_u64(0), ser_strings([]),
                     ser_str(ca), nar]
        self.w_u64(OP["AddMultipleToStore"])
        self.w_u64(0)                    # repair
        self.w_u64(0)                    # don't check signatures
        self.w_framed(b"".join(body))
        self.process_stderr()

    def build_paths(self, items, mode=0):
        self.w_u64(OP["BuildPaths"])
        self.w_strings(items)
        self.w_u64(mode)
        self.process_stderr()
        return self.r_u64()

    def collect_garbage(self, action=1, paths=()):
        self.w_u64(OP["CollectGarbage"])
        self.w_u64(action)
        self.w_strings(sorted(paths))
        self.w_u64(0)
        self.w_u64((1 << 64) - 1)
        for _ in range(3):
            self.w_u64(0)
        self.process_stderr()
        return self.r_strings(), self.r_u64(), self.r_u64()

    def export_path(self, path, sign=0):
        """ExportPath: NAR + export trailer, as STDERR_WRITE data."""
        import io
        sink = io.BytesIO()
        self.w_u64(16)
        self.w_str(path)
        self.w_u64(sign)
        self.process_stderr(sink=sink)
        if self.r_u64() != 1:
            raise ProtocolError("ExportPath: unexpected reply")
        return sink.getvalue()

    def nar_from_path(self, path):
        self.op("NarFromPath", path)
        return _NarReader(self.read).archive()

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------
# Command line

def _selftest(vectors):
    """Check the hashing code against PROTOCOL.md's vectors."""
    d = os.path.join(vectors, "drv", "frx-store")
    drvs = {}

    def loader(path):
        return drvs[path]

    failures = 0
    for name in ("simple", "multi", "fixed", "chain"):
        with open(os.path.join(d, name + ".drv")) as f:
            text = f.read()
        drv = parse_aterm(text)
        if drv.aterm() != text:
            print("%s.drv: ATerm round trip differs" % name)
            failures += 1
        path = drv.store_path("/frx/store")
        drvs[path] = drv
        copy = parse_aterm(text)
        copy.fill_outputs("/frx/store", loader, sorted(drv.outputs))
        if copy.outputs != drv.outputs:
            print("%s.drv: output paths differ" % name)
            failures += 1
    want = "/frx/store/p9h3wyzclpf0n64hh374kg7gsp2qm637-chain.drv"
    if want not in drvs:
        print("chain.drv: store path differs")
        failures += 1
    nar = nar_serialise(os.path.join(vectors, "inputs", "hello.txt"))
    with open(os.path.join(vectors, "nar", "hello.txt.nar"), "rb") as f:
        if f.read() != nar:
            print("hello.txt: NAR differs")
            failures += 1
    print("selftest: %s" % ("failed" if failures else "ok"))
    return 1 if failures else 0


def main(argv):
    sock = os.environ.get("FRX_DAEMON_SOCKET")
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--socket":
        sock, args = args[1], args[2:]
    if len(args) == 2 and args[0] == "selftest":
        return _selftest(args[1])
    sets = {"valid-derivers": "QueryValidDerivers",
            "references": "QueryReferences",
            "referrers": "QueryReferrers",
            "derivation-outputs": "QueryDerivationOutputs"}
    if (len(args) != 2 or not sock or
            args[0] not in ["nar-from-path", "path-info", "export"] +
            list(sets)):
        sys.stderr.write(__doc__)
        return 2
    try:
        c = Conn(sock)
        c.set_options()
        if args[0] == "nar-from-path":
            sys.stdout.buffer.write(c.nar_from_path(args[1]))
        elif args[0] == "export":
            # The `nix-store --export' framing around one path.
            sys.stdout.buffer.write(ser_u64(1) + c.export_path(args[1]) +
                                    ser_u64(0))
        elif args[0] in sets:
            for p in c.path_set_query(sets[args[0]], args[1]):
                print(p)
        else:
            info = c.query_path_info(args[1])
            if info is None:
                sys.stderr.write("wireclient: %s: not valid\n" % args[1])
                return 1
            for k, v in sorted(info.items()):
                if isinstance(v, list):
                    v = " ".join(v)
                print("%s=%s" % (k, v))
    except (DaemonError, ProtocolError, EOFError, OSError) as e:
        sys.stderr.write("wireclient: %s: %s\n" % (args[1], e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
