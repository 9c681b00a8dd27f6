#!/usr/bin/env python3
"""test-fod-escape.py: what a fixed-output builder hands out of its
sandbox cannot change the store or the next build.

A fixed-output build shares the host's network, so it can reach an
abstract Unix socket on the host and pass descriptors over it.  Here the
builder sends a read-write descriptor of its output and one of its build
directory to a listener of the test; after the build the listener writes
through both.  The store object must keep the content whose hash was
checked, and the next build of the same build user must find its /tmp
empty.  The daemon keeps its roots on disk, where an output could
otherwise be renamed into the store with the builder's inode.

Prints TAP lines.  Needs root and python3.  Environment: B.
"""

import array
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "proto"))
import wireclient as wc  # noqa: E402

B = os.environ.get("B", "build")
DAEMON = os.path.join(TOP, B, "frx-daemon")
UID_BASE = 35301
SYSTEM = os.uname().machine + "-linux"
CONTENT = b"the content whose hash the derivation fixes\n" * 1000

n = 0
failed = 0


def check(desc, cond, detail=""):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, desc))
    if not cond:
        failed += 1
        for line in str(detail).splitlines()[-10:]:
            print("#   " + line)
    sys.stdout.flush()


BUILDER = r"""
import array, os, socket, sys
out = os.environ["out"]
with open(out, "wb") as f:
    f.write(CONTENT)
os.chmod("/tmp", 0o777)
fds = [os.open(out, os.O_RDWR), os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
s.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    array.array("i", fds))])
s.recv(1)
print("handed out my output and my build directory")
"""


# A recursive output with a directory anybody may write to, and a build
# directory that is the same; both are handed out.
BUILDER2 = r"""
import array, os, socket, sys
out = os.environ["out"]
os.mkdir(out)
with open(out + "/file", "wb") as f:
    f.write(b"kept\n")
os.mkdir(out + "/w")
os.chmod(out + "/w", 0o777)
os.mkdir("/tmp/evil")
os.chmod("/tmp/evil", 0o777)
fds = [os.open(out + "/w", os.O_RDONLY | os.O_DIRECTORY),
       os.open("/tmp/evil", os.O_RDONLY | os.O_DIRECTORY)]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
s.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    array.array("i", fds))])
s.recv(1)
"""


def accomplice(fds, stop, report):
    """Fork a process of nobody's that adds FIFOs and directories
    through the descriptors as fast as it can until stop exists;
    it writes how many it made and how many were refused to report."""
    pid = os.fork()
    if pid:
        return pid
    made = refused = 0
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        end, i = time.time() + 60, 0
        while time.time() < end and not os.path.exists(stop):
            for fd, fifo in ((fds[0], True), (fds[1], False)):
                try:
                    if fifo:
                        os.mkfifo("f%d" % i, dir_fd=fd)
                    else:
                        os.mkdir("d%d" % i, dir_fd=fd)
                    made += 1
                except OSError:
                    refused += 1
            i += 1
    finally:
        os.write(report, b"%d %d" % (made, refused))
        os._exit(0)


class Listener:
    """Receives the builder's descriptors on an abstract socket."""

    def __init__(self, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind("\0" + name)
        self.sock.listen(1)
        self.sock.settimeout(60)
        self.fds = []
        self.conn = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            self.conn, _ = self.sock.accept()
            fds = array.array("i")
            _, anc, _, _ = self.conn.recvmsg(1, socket.CMSG_LEN(
                2 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - len(data) % 4])
            self.fds = list(fds)
            self.conn.send(b"k")
        except OSError:
            pass


def held_out(c, store, state, top):
    """A fixed-output build hands out a directory of its output and one
    of its build directory, writable by anybody, and a process of
    nobody's keeps adding to them: the build still ends, the walk of
    its output sees no FIFO, and its build directory is removed (the
    daemon takes each directory before it reads it; a FIFO swapped in
    once hung a runner, and the additions once kept the removal from
    ever finishing)."""
    expect = os.path.join(top, "expect")
    os.mkdir(expect)
    with open(os.path.join(expect, "file"), "wb") as f:
        f.write(b"kept\n")
    os.mkdir(os.path.join(expect, "w"))
    digest = hashlib.sha256(wc.nar_serialise(expect)).hexdigest()
    name = "frx-fod-held-%d" % os.getpid()
    lis = Listener(name)
    fod = wc.Derivation("held", SYSTEM, "/usr/bin/python3",
                        ["-c", BUILDER2, name])
    fod.outputs["out"] = ("", "r:sha256", digest)
    fod.fill_outputs(store)
    drv = c.add_text_to_store("held.drv", fod.aterm(), fod.references())
    out = fod.outputs["out"][0]
    stop = os.path.join(top, "stop")
    rd, wr = os.pipe()
    pid = None

    def start():
        nonlocal pid
        lis.thread.join(60)
        if len(lis.fds) == 2:
            pid = accomplice(lis.fds, stop, wr)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    t0 = time.time()
    try:
        c.build_paths([drv + "!out"])
        err = None
    except wc.DaemonError as e:
        err = e.message
    took = time.time() - t0
    starter.join(60)
    time.sleep(0.5)		# the teardown, after the answer
    open(stop, "w").close()
    counts = b""
    if pid:
        os.waitpid(pid, 0)
        counts = os.read(rd, 64)
    os.close(rd)
    os.close(wr)
    made, refused = (int(x) for x in (counts.split() or [b"0", b"0"]))
    check("a fixed-output build whose output and /tmp are written from "
          "outside ends (%.1f s: %s)" % (took, err or "built"),
          took < 60 and pid is not None, err)
    check("... the process outside was refused from some point on (%d "
          "made, %d refused)" % (made, refused), refused > 0)
    fifo = False
    if err is None:
        for root, dirs, files in os.walk(out):
            fifo = fifo or any(not os.path.isfile(os.path.join(root, f))
                               for f in files)
    check("... its output, if registered, holds no FIFO", not fifo)
    tmps = [e for e in os.listdir(store) if e.startswith(".frx-tmp-")]
    builds = os.path.join(state, "builds")
    left = [e for e in os.listdir(builds)] if os.path.isdir(builds) else []
    check("... and nothing of it is left: no temporary object, no "
          "build directory", not tmps and not left, (tmps, left))
    for fd in lis.fds:
        os.close(fd)


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root")
        return 0
    top = tempfile.mkdtemp(prefix="frx-fod.", dir="/var/tmp")
    os.chmod(top, 0o755)
    store, state, sock = (os.path.join(top, x) for x in
                          ("store", "var", "sock"))
    log = open(os.path.join(top, "daemon.log"), "w")
    daemon = subprocess.Popen(
        [DAEMON, "--store-dir", store, "--state-dir", state, "--socket",
         sock, "--max-jobs", "1", "--build-users-base", str(UID_BASE),
         "--build-roots-on-disk"], stdout=log, stderr=log,
        start_new_session=True)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        name = "frx-fod-test-%d" % os.getpid()
        lis = Listener(name)
        c = wc.Conn(sock, timeout=120)
        c.set_options()
        script = BUILDER.replace("CONTENT", repr(CONTENT))
        fod = wc.Derivation("escape.txt", SYSTEM, "/usr/bin/python3",
                            ["-c", script, name])
        fod.outputs["out"] = ("", "sha256",
                              hashlib.sha256(CONTENT).hexdigest())
        fod.fill_outputs(store)
        drv = c.add_text_to_store("escape.txt.drv", fod.aterm(),
                                  fod.references())
        out = fod.outputs["out"][0]
        try:
            c.build_paths([drv + "!out"])
            err = None
        except wc.DaemonError as e:
            err = e.message
        check("the fixed-output build succeeds", err is None, err)
        lis.thread.join(10)
        check("the builder handed two descriptors out of its sandbox",
              len(lis.fds) == 2, lis.fds)
        if err is not None or len(lis.fds) != 2:
            return 1
        outfd, dirfd = lis.fds
        try:
            os.pwrite(outfd, b"POISON", 0)
        except OSError:
            pass
        with open(out, "rb") as f:
            got = f.read()
        check("a write through the builder's descriptor does not reach "
              "the store object", got == CONTENT, got[:40])
        info = c.query_path_info(out)
        check("... whose content still has the fixed hash",
              hashlib.sha256(got).hexdigest() ==
              fod.outputs["out"][2])
        st = os.stat(out)
        check("... and which is root's and read-only",
              st.st_uid == 0 and st.st_mode & 0o7777 == 0o444,
              oct(st.st_mode))
        check("the daemon registered it", info is not None)
        planted = True
        try:
            os.close(os.open("planted", os.O_CREAT | os.O_WRONLY, 0o666,
                             dir_fd=dirfd))
        except OSError:
            planted = False
        check("nothing can be created through a descriptor of the old "
              "build directory", not planted)
        os.close(outfd)
        os.close(dirfd)
        nxt = wc.Derivation("next", SYSTEM, "/bin/sh",
                            ["-c", "/bin/ls -A /tmp > $out; /usr/bin/id -u "
                             ">> $out"])
        nxt.fill_outputs(store)
        drv2 = c.add_text_to_store("next.drv", nxt.aterm(),
                                   nxt.references())
        try:
            c.build_paths([drv2 + "!out"])
            err = None
        except wc.DaemonError as e:
            err = e.message
        check("the next build as the same user succeeds", err is None, err)
        if err is None:
            with open(nxt.outputs["out"][0]) as f:
                lines = f.read().split()
            check("... as the same build user (%s)" % lines[-1:],
                  lines[-1:] == [str(UID_BASE)], lines)
            check("... and finds its /tmp empty", lines[:-1] == [], lines)
        held_out(c, store, state, top)
        c.close()
        return 0
    finally:
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        left = [l for l in open("/proc/self/mountinfo") if top in l]
        check("no mount of the test is left", not left, left)
        if failed:
            print("# daemon log:")
            for line in open(os.path.join(top, "daemon.log")).read(
                    ).splitlines()[-20:]:
                print("#   " + line)
        subprocess.run(["chmod", "-R", "u+w", top],
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(top, ignore_errors=True)
        print("1..%d" % n)


if __name__ == "__main__":
    rc = main()
    sys.exit(1 if failed or rc else 0)
