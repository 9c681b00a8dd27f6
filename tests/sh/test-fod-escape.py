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
