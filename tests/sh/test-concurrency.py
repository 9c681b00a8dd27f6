#!/usr/bin/env python3
"""test-concurrency.py: concurrency, the build-user pool, locks, limits,
logs and crash recovery of frx-daemon (issue 5).

Starts a private daemon (its own store under /var/tmp, its own socket,
build users from uid 35201 so that other daemons on the machine cannot
disturb the process checks) and drives it with the raw protocol client
of tests/proto/wireclient.py, which makes real derivations with
/bin/sh builders.  Prints TAP lines ("ok N - ...").  Needs root.

Environment: B (build directory, default build), FRX_DAEMON, FRX.
"""

import bz2
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "proto"))
import wireclient as wc  # noqa: E402

B = os.environ.get("B", "build")
DAEMON = os.environ.get("FRX_DAEMON", os.path.join(TOP, B, "frx-daemon"))
FRX = os.environ.get("FRX", os.path.join(TOP, B, "frx"))
UID_BASE = 35201
NUSERS = 2
SYSTEM = os.uname().machine + "-linux"
PATHS = "export PATH=/usr/bin:/bin; "

n = 0
failed = 0


def check(desc, cond, detail=""):
    global n, failed
    n += 1
    if cond:
        print("ok %d - %s" % (n, desc))
    else:
        failed += 1
        print("not ok %d - %s" % (n, desc))
        for line in str(detail).splitlines()[-15:]:
            print("#   " + line)
    sys.stdout.flush()


class Daemon:
    """A private frx-daemon in a process group of its own."""

    def __init__(self, top, *extra):
        self.top = top
        self.store = os.path.join(top, "store")
        self.state = os.path.join(top, "var")
        self.sock = os.path.join(top, "sock")
        self.logname = os.path.join(top, "daemon.log")
        self.proc = None
        self.start(*extra)

    def start(self, *extra):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        log = open(self.logname, "a")
        self.proc = subprocess.Popen(
            [DAEMON, "--store-dir", self.store, "--state-dir", self.state,
             "--socket", self.sock, "--max-jobs", str(NUSERS),
             "--cores", "3", "--build-users-base", str(UID_BASE)] +
            list(extra), stdout=log, stderr=log, start_new_session=True)
        log.close()
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError("daemon did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def log(self):
        with open(self.logname, errors="replace") as f:
            return f.read()

    def conn(self, options=True, **kw):
        c = wc.Conn(self.sock, timeout=120)
        if options:
            set_options(c, **kw)
        return c


def set_options(c, keep_failed=0, max_jobs=NUSERS, max_silent=0,
                cores=0, pairs=None):
    """SetOptions with the fields this test cares about."""
    c.w_u64(wc.OP["SetOptions"])
    for v in (keep_failed, 0, 0, 3, max_jobs, max_silent, 1, 0, 0, 0,
              cores, 0):
        c.w_u64(v)
    pairs = list((pairs or {}).items())
    c.w_u64(len(pairs))
    for k, v in pairs:
        c.w_str(k)
        c.w_str(v)
    c.process_stderr()


class Drvs:
    """Derivations with /bin/sh builders, added through a connection."""

    def __init__(self, d):
        self.d = d
        self.known = {}

    def load(self, path):
        return self.known[path]

    def make(self, c, name, script, inputs=()):
        drv = wc.Derivation(name, SYSTEM, "/bin/sh",
                            ["-c", PATHS + script])
        for inp in inputs:
            drv.input_drvs[inp] = {"out"}
        drv.fill_outputs(self.d.store, self.load)
        path = c.add_text_to_store(name + ".drv", drv.aterm(),
                                   drv.references())
        self.known[path] = drv
        return path, drv.outputs["out"][0]


# What a client thread's result says until its build returns: a thread
# that dies (a timeout, say) must not pass for one that succeeded.
NO_ANSWER = "the client got no answer"


def build_record(d, p):
    """frx's build record of derivation p (op 0x4672), or the error."""
    c = d.conn()
    try:
        c.w_u64(0x4672)
        c.w_str(p)
        c.process_stderr()
        return c.r_str()
    except (wc.DaemonError, EOFError) as e:
        return str(e)
    finally:
        c.close()


def build(c, items):
    """BuildPaths; None on success, else the error text."""
    try:
        c.build_paths(items)
        return None
    except wc.DaemonError as e:
        return e.message


def times_of(out):
    """The "start end" the timed builder wrote into its output."""
    with open(out) as f:
        a, b = f.read().split()[:2]
    return float(a), float(b)


def max_overlap(spans):
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans],
                    key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def timed(tag, secs):
    """A builder that sleeps and writes its start and end times."""
    return ("s=$(date +%%s.%%N); sleep %s; e=$(date +%%s.%%N); "
            "echo \"$s $e $(id -u) %s\" > $out" % (secs, tag))


def uid_processes():
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="],
                         capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l.split() and
            UID_BASE <= int(l.split()[0]) < UID_BASE + 100]


def wait_no_uid_processes(timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        left = uid_processes()
        if not left:
            return []
        time.sleep(0.1)
    return uid_processes()


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if path in l]


# ---------------------------------------------------------------------

def test_graph(d, drvs):
    c = d.conn()
    a, aout = drvs.make(c, "chain-a", timed("a", "0.5"))
    b, bout = drvs.make(c, "chain-b", "cat %s > $out; %s" %
                        (aout, timed("b", "0.2").replace("> $out",
                                                         ">> $out")),
                        inputs=[a])
    ind = [drvs.make(c, "ind-%d" % i, timed(i, 1)) for i in range(4)]
    t0 = time.time()
    err = build(c, [b + "!out"] + [p + "!out" for p, _ in ind])
    took = time.time() - t0
    check("a graph of 6 derivations builds", err is None, err)
    if err is not None:
        return
    with open(bout) as f:
        lines = f.read().split("\n")
    a_end = float(lines[0].split()[1])
    b_start = float(lines[1].split()[0])
    check("an input is built before the derivation that needs it",
          a_end <= b_start, "%s vs %s" % (a_end, b_start))
    spans = [times_of(o) for _, o in ind]
    check("independent builds run in parallel, never more than "
          "--max-jobs (%d) at once" % NUSERS,
          max_overlap(spans) == NUSERS, spans)
    check("4 one-second builds on 2 jobs take about 2 seconds, not 4 "
          "(%.1f s)" % took, took < 3.6, took)
    uids = sorted({open(o).read().split()[2] for _, o in ind})
    check("parallel builds run as different build users (%s)" %
          " ".join(uids), len(uids) == NUSERS and
          all(UID_BASE <= int(u) < UID_BASE + NUSERS for u in uids), uids)
    p, out = drvs.make(c, "cores", "echo $NIX_BUILD_CORES > $out")
    c2 = d.conn(options=False)
    err = build(c2, [p + "!out"])
    check("NIX_BUILD_CORES is --cores (3)", err is None and
          open(out).read().strip() == "3", err)
    c2.close()
    p, out = drvs.make(c, "cores2", "echo $NIX_BUILD_CORES > $out")
    c3 = d.conn(cores=5)
    err = build(c3, [p + "!out"])
    check("a client's buildCores wins (5)", err is None and
          open(out).read().strip() == "5", err)
    c3.close()
    c.close()


def test_same_drv(d, drvs):
    c = d.conn()
    p, out = drvs.make(c, "shared", timed("shared", 1.5))
    c.close()
    results = [NO_ANSWER, NO_ANSWER]

    def client(i):
        cc = d.conn()
        results[i] = build(cc, [p + "!out"])
        cc.close()

    ts = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
        time.sleep(0.2)
    for t in ts:
        t.join()
    check("two clients asking for one derivation both succeed",
          results == [None, None], results)
    check("... and both see its output", os.path.exists(out))
    builds = d.log().count("building %s as uid" % p)
    check("... which was built once (%d)" % builds, builds == 1, builds)


def test_pool(d, drvs):
    c = d.conn()
    jobs = [drvs.make(c, "pool-%d" % i, timed("p%d" % i, 1))
            for i in range(5)]
    c.close()
    results = [NO_ANSWER] * len(jobs)

    def client(i):
        cc = d.conn(max_jobs=1)
        results[i] = build(cc, [jobs[i][0] + "!out"])
        cc.close()

    ts = [threading.Thread(target=client, args=(i,))
          for i in range(len(jobs))]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.time() - t0
    check("5 clients, 5 builds, %d build users: all succeed" % NUSERS,
          results == [None] * len(jobs), results)
    spans = [times_of(o) for _, o in jobs if os.path.exists(o)]
    check("the builds queued for the users: at most %d at once" % NUSERS,
          len(spans) == 5 and max_overlap(spans) <= NUSERS, spans)
    check("... and the queue drained in about 3 s (%.1f s)" % took,
          took < 5.0, took)
    uids = {open(o).read().split()[2] for _, o in jobs if os.path.exists(o)}
    check("only the pool's uids were used (%s)" % " ".join(sorted(uids)),
          uids <= {str(UID_BASE + i) for i in range(NUSERS)}, uids)


def test_user_back_early(top):
    """One build user: the next build starts while the last one's output
    (300 MB) is still being staged and hashed, because the user goes
    back to the pool once the builder is gone (Linux)."""
    third = os.path.join(top, "third")
    os.makedirs(third)
    os.chmod(third, 0o755)
    d3 = Daemon(third, "--max-jobs", "1")
    try:
        drvs3 = Drvs(d3)
        c = d3.conn()
        a, _ = drvs3.make(c, "big-output",
                          "head -c 300000000 /dev/zero > $out")
        b, _ = drvs3.make(c, "after-big", "touch $out")
        c.close()
        c = d3.conn(max_jobs=1)
        err = build(c, [a + "!out", b + "!out"])
        c.close()
        log = d3.log()
        started_b = log.find("building %s as uid" % b)
        built_a = log.find("%s: built" % a)
        check("one user, two builds: both succeed", err is None, err)
        check("... the second started before the first's output was "
              "registered", 0 <= started_b < built_a,
              (started_b, built_a))
    finally:
        d3.stop()


def test_two_daemons(d, drvs, top):
    """A second daemon (other store, other state directory) with the
    same build-user range: the users are locked host-wide, so the two
    never run a build as the same uid at once."""
    second = os.path.join(top, "second")
    os.makedirs(second)
    os.chmod(second, 0o755)
    d2 = Daemon(second)
    try:
        drvs2 = Drvs(d2)
        mine = [None, None]
        results = [NO_ANSWER, NO_ANSWER]
        c = d.conn()
        mine[0] = drvs.make(c, "two-daemons", timed("a", 1.5))
        c.close()
        c = d2.conn()
        mine[1] = drvs2.make(c, "two-daemons", timed("b", 1.5))
        c.close()

        def client(i, dm):
            cc = dm.conn(max_jobs=1)
            results[i] = build(cc, [mine[i][0] + "!out"])
            cc.close()

        ts = [threading.Thread(target=client, args=(i, dm))
              for i, dm in enumerate((d, d2))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check("two daemons on one host, one uid range: both builds "
              "succeed", results == [None, None], results)
        if results != [None, None]:
            return
        spans = [times_of(o) for _, o in mine]
        uids = [open(o).read().split()[2] for _, o in mine]
        check("... they overlapped in time", max_overlap(spans) == 2, spans)
        check("... as different build users (%s)" % " ".join(uids),
              uids[0] != uids[1], uids)
    finally:
        d2.stop()


def test_fetch_limits(d, drvs, top):
    """The built-in fetcher is held to the time limit from outside: a
    file:// URL naming a FIFO blocks in open(2), where libcurl's own
    limits never fire."""
    fifo = os.path.join(top, "fifo")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    c = d.conn(pairs={"timeout": "1"})
    drv = wc.Derivation("stuck.tar.gz", "builtin", "builtin:fetchurl")
    drv.env["url"] = "file://" + fifo
    drv.outputs["out"] = ("", "sha256", "0" * 64)
    drv.fill_outputs(d.store)
    p = c.add_text_to_store("stuck.tar.gz.drv", drv.aterm(),
                            drv.references())
    t0 = time.time()
    err = build(c, [p + "!out"])
    took = time.time() - t0
    check("a download that blocks is killed at its time limit "
          "(%.1f s)" % took, err is not None and took < 15, err)
    check("... and the error says so", err is not None and
          "timed out" in err and fifo in err, err)
    left = wait_no_uid_processes()
    check("... and no fetcher process is left", not left, left)
    check("... and nothing is valid", not c.is_valid_path(
        drv.outputs["out"][0]))
    c.close()


def test_client_not_reading(d, drvs):
    """A client that stops reading while its build floods the log: the
    time limit still kills the build."""
    c = d.conn(pairs={"timeout": "2"})
    p, out = drvs.make(c, "flood", "yes 'a line of a log nobody reads'")
    c.w_u64(wc.OP["BuildPaths"])
    c.w_strings([p + "!out"])
    c.w_u64(0)
    c.flush()
    time.sleep(8)
    left = uid_processes()
    check("a flooding build whose client does not read is killed at "
          "its time limit", not left, left)
    err = None
    try:
        c.process_stderr()
        c.r_u64()
    except wc.DaemonError as e:
        err = e.message
    except (EOFError, OSError) as e:
        err = repr(e)
    check("... and the client, reading at last, gets the error",
          err is not None and "timed out" in err, err)
    c.close()


def test_limits(d, drvs):
    c = d.conn(pairs={"timeout": "1"})
    p, out = drvs.make(c, "too-long", "sleep 60 & sleep 60; touch $out")
    t0 = time.time()
    err = build(c, [p + "!out"])
    took = time.time() - t0
    check("a build over its timeout (per request, 1 s) fails in time "
          "(%.1f s)" % took, err is not None and took < 5, err)
    check("... and the error names the limit",
          err is not None and "timed out after 1 seconds (timeout)" in err,
          err)
    left = wait_no_uid_processes()
    check("... and the whole sandbox is gone (background sleep too)",
          not left, left)
    c.close()
    c = d.conn(max_silent=1)
    p, out = drvs.make(c, "silent", "echo started; sleep 60; touch $out")
    t0 = time.time()
    err = build(c, [p + "!out"])
    took = time.time() - t0
    check("a build silent for longer than max-silent-time (1 s) fails "
          "(%.1f s)" % took, err is not None and took < 5, err)
    check("... and the error names the limit", err is not None and
          "without output (max-silent-time)" in err, err)
    check("... its output is not valid", not c.is_valid_path(out))
    c.close()
    rec = build_record(d, p)
    check("the build record says silent-timeout",
          rec is not None and "status=silent-timeout" in rec, rec)
    limit = 100000
    c = d.conn(pairs={"max-build-log-size": str(limit)})
    p, out = drvs.make(c, "chatterbox", "yes 'a line nobody needs' | "
                       "head -c 50000000; echo done > $out")
    t0 = time.time()
    err = build(c, [p + "!out"])
    took = time.time() - t0
    check("a build whose log passes max-log-size (per request) fails "
          "(%.1f s)" % took, err is not None and took < 20, err)
    check("... and the error names the limit", err is not None and
          "its log passed %d bytes (max-log-size)" % limit in err, err)
    check("... its output is not valid", not c.is_valid_path(out))
    base = os.path.basename(p)
    logfile = os.path.join(d.state, "log", "drvs", base[:2],
                           base[2:] + ".bz2")
    kept = None
    if os.path.exists(logfile):
        with bz2.open(logfile, "rb") as f:
            kept = len(f.read())
    check("... its log keeps the first %d bytes and no more" % limit,
          kept == limit, kept)
    left = wait_no_uid_processes()
    check("... and the whole sandbox is gone", not left, left)
    c.close()
    rec = build_record(d, p)
    check("the build record says log-limit",
          rec is not None and "status=log-limit" in rec, rec)


def sandbox_roots(d):
    """The sandbox roots of daemon d, as its own mount namespace (where
    they may be a private tmpfs) shows them."""
    try:
        return os.listdir("/proc/%d/root%s/roots" % (d.proc.pid, d.state))
    except OSError:
        return []


def one_slot_pair(d, drvs, first, second):
    """Build two (name, script) derivations in one request with one job
    slot, so that the second is prepared while the first runs; the
    second's path and output, and the request's error."""
    c = d.conn()
    a, _ = drvs.make(c, *first)
    b, out_b = drvs.make(c, *second)
    c.close()
    c = d.conn(max_jobs=1)
    err = build(c, [a + "!out", b + "!out"])
    c.close()
    return b, out_b, err


def test_prepared(d, drvs):
    """With one job slot, the next build's sandbox is set up while the
    current builder runs; its builder starts only when the first is
    gone.  A client that hangs up takes a prepared build down too."""
    c = d.conn()
    a, out_a = drvs.make(c, "prep-a", timed("a", 1.5))
    b, out_b = drvs.make(c, "prep-b", timed("b", 0.3))
    c.close()
    result = []

    def client():
        cc = d.conn(max_jobs=1)
        result.append(build(cc, [a + "!out", b + "!out"]))
        cc.close()

    t = threading.Thread(target=client)
    t.start()
    roots = uids = 0
    while t.is_alive():
        roots = max(roots, len(sandbox_roots(d)))
        uids = max(uids, len(set(l.split()[0] for l in uid_processes())))
        time.sleep(0.05)
    t.join()
    check("one job slot, two builds: both succeed", result == [None],
          result)
    spans = sorted(times_of(o) for o in (out_a, out_b)
                   if os.path.exists(o))
    check("... one builder at a time", len(spans) == 2 and
          max_overlap(spans) == 1, spans)
    check("... the second sandbox was set up while the first ran "
          "(%d roots at once, builders of %d uid)" % (roots, uids),
          roots == 2 and uids == 1, (roots, uids))
    # Hang up while the second waits, prepared.
    c = d.conn()
    a, _ = drvs.make(c, "prep-long", "sleep 60; touch $out")
    b, _ = drvs.make(c, "prep-next", "touch $out")
    c.close()
    c = d.conn(max_jobs=1)
    c.w_u64(wc.OP["BuildPaths"])
    c.w_strings([a + "!out", b + "!out"])
    c.w_u64(0)
    c.flush()
    end = time.time() + 10
    while time.time() < end and len(sandbox_roots(d)) < 2:
        time.sleep(0.05)
    check("a build runs and the next one waits, prepared",
          len(sandbox_roots(d)) == 2, sandbox_roots(d))
    c.sock.close()
    left = wait_no_uid_processes(timeout=5)
    end = time.time() + 5
    while time.time() < end and sandbox_roots(d):
        time.sleep(0.05)
    check("a client that hangs up cancels both: no builder is left",
          not left, left)
    check("... and no sandbox root either", not sandbox_roots(d),
          sandbox_roots(d))
    check("... the prepared one never started",
          "building %s as uid" % b not in d.log())
    # A failure without keep-going: the prepared build never starts.
    b, out_b, err = one_slot_pair(d, drvs, ("prep-fails",
                                            "sleep 0.5; exit 3"),
                                  ("prep-after-failure", "touch $out"))
    check("a build fails while the next is prepared: the request fails",
          err is not None and "exit code 3" in err, err)
    check("... and, keep-going off, the prepared build never started",
          "building %s as uid" % b not in d.log() and
          not os.path.exists(out_b))
    base = os.path.basename(b)
    check("... and left no build log",
          not os.path.exists(os.path.join(d.state, "log", "drvs",
                                          base[:2], base[2:] + ".bz2")))
    # A session that runs nothing prepares nothing: while both users
    # are busy, another client's waiting build holds no sandbox.
    c = d.conn()
    busy = [drvs.make(c, "prep-busy-%d" % i, "sleep 60; touch $out")[0]
            for i in range(NUSERS)]
    waiting, _ = drvs.make(c, "prep-waiting", "touch $out")
    c.close()
    holder = d.conn(max_jobs=NUSERS)
    holder.w_u64(wc.OP["BuildPaths"])
    holder.w_strings([p + "!out" for p in busy])
    holder.w_u64(0)
    holder.flush()
    end = time.time() + 10
    while time.time() < end and len(sandbox_roots(d)) < NUSERS:
        time.sleep(0.05)
    other = d.conn(max_jobs=1)
    other.w_u64(wc.OP["BuildPaths"])
    other.w_strings([waiting + "!out"])
    other.w_u64(0)
    other.flush()
    time.sleep(1.0)
    roots = sandbox_roots(d)
    check("a client waiting for a user holds no sandbox (%d roots, %d "
          "builds)" % (len(roots), NUSERS), len(roots) == NUSERS, roots)
    other.sock.close()
    holder.sock.close()
    wait_no_uid_processes(timeout=5)
    end = time.time() + 5
    while time.time() < end and sandbox_roots(d):
        time.sleep(0.05)
    # A prepared builder runs at the daemon's priority, not the
    # preparation's (nice and scheduling policy, fields 19 and 41).
    b, out_b, err = one_slot_pair(d, drvs, ("prep-first", timed("f", 0.5)),
                                  ("prep-nice", "cut -d' ' -f19,41 "
                                   "/proc/self/stat > $out"))
    prio = open(out_b).read().strip() if os.path.exists(out_b) else None
    check("a prepared builder runs at nice 0 and in the normal class "
          "(%s)" % prio, err is None and prio == "0 0", (err, prio))


def test_disconnect(d, drvs):
    c = d.conn()
    p, out = drvs.make(c, "abandoned", "sleep 60 & echo x; sleep 60; "
                       "touch $out")
    c.w_u64(wc.OP["BuildPaths"])
    c.w_strings([p + "!out"])
    c.w_u64(0)
    c.flush()
    time.sleep(1.0)
    running = uid_processes()
    c.sock.close()
    left = wait_no_uid_processes(timeout=5)
    check("a build is running before its client hangs up", running,
          running)
    check("a client that hangs up cancels its build (no process left)",
          not left, left)
    check("... the daemon says so",
          "%s: cancelled: its client went away" % p in d.log())
    c = d.conn()
    check("... and the output is not valid", not c.is_valid_path(out))
    # Someone else waits: the build goes on and the other gets it.
    p, out = drvs.make(c, "still-wanted", timed("w", 2))
    c.close()
    a = d.conn()
    a.w_u64(wc.OP["BuildPaths"])
    a.w_strings([p + "!out"])
    a.w_u64(0)
    a.flush()
    time.sleep(0.5)
    result = []

    def waiter():
        b = d.conn()
        result.append(build(b, [p + "!out"]))
        b.close()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    a.sock.close()
    t.join()
    check("a build another client waits for survives the hang-up",
          result == [None] and os.path.exists(out), result)
    builds = d.log().count("building %s as uid" % p)
    check("... and ran once (%d)" % builds, builds == 1, builds)


def test_logs(d, drvs):
    c = d.conn()
    p, out = drvs.make(c, "chatty", "for i in 1 2 3; do echo line $i; "
                       "done; echo to-stderr >&2; echo done > $out")
    err = build(c, [p + "!out"])
    check("a build that prints succeeds", err is None, err)
    check("its log lines reach the client",
          "line 2" in c.log and "to-stderr" in c.log, c.log[-5:])
    base = os.path.basename(p)
    logfile = os.path.join(d.state, "log", "drvs", base[:2],
                           base[2:] + ".bz2")
    text = None
    if os.path.exists(logfile):
        with bz2.open(logfile, "rt") as f:
            text = f.read()
    check("the log is kept, bzip2-compressed, where Nix reads it",
          text == "line 1\nline 2\nline 3\nto-stderr\n", text)
    env = dict(os.environ, FRX_STORE_DIR=d.store, FRX_STATE_DIR=d.state,
               FRX_DAEMON_SOCKET=d.sock)
    if os.access(FRX, os.X_OK):
        for arg in (p, out):
            r = subprocess.run([FRX, "log", arg], env=env,
                               capture_output=True, text=True)
            check("frx log %s prints it" % ("DRV" if arg == p else "OUT"),
                  r.returncode == 0 and r.stdout == text,
                  r.stdout + r.stderr)
        r = subprocess.run([FRX, "log", d.store + "/" + "0" * 32 +
                            "-none.drv"], env=env, capture_output=True,
                           text=True)
        check("frx log of a derivation without a log fails and says so",
              r.returncode == 1 and "no build log" in r.stderr, r.stderr)
    # A silent build never starts the compressor: its log is the empty
    # stream, byte for byte what libbz2 writes for no input.
    p, out = drvs.make(c, "silent", "echo quiet > $out")
    err = build(c, [p + "!out"])
    base = os.path.basename(p)
    logfile = os.path.join(d.state, "log", "drvs", base[:2],
                           base[2:] + ".bz2")
    data = None
    if os.path.exists(logfile):
        with open(logfile, "rb") as f:
            data = f.read()
    check("a silent build's log is an empty bzip2 stream",
          err is None and data is not None and
          bz2.decompress(data) == b"" and data == bz2.compress(b"", 1),
          (err, data))
    if os.access(FRX, os.X_OK):
        r = subprocess.run([FRX, "log", p], env=env, capture_output=True,
                           text=True)
        check("frx log of a silent build prints nothing and succeeds",
              r.returncode == 0 and r.stdout == "", r.stdout + r.stderr)
    c.close()
    c = d.conn(keep_failed=1)
    p, out = drvs.make(c, "fails", "echo keep-me > kept.txt; exit 3")
    err = build(c, [p + "!out"])
    kept = [l for l in c.log if "keeping build directory" in l]
    where = kept[0].split("'")[1] if kept else ""
    check("--keep-failed keeps the build directory and says where",
          err is not None and where and
          os.path.exists(os.path.join(where, "kept.txt")), c.log[-3:])
    c.close()


def test_crash(d, drvs, top):
    c = d.conn()
    p, out = drvs.make(c, "interrupted", "echo before; sleep 2; "
                       "echo after; echo ok > $out")
    c.w_u64(wc.OP["BuildPaths"])
    c.w_strings([p + "!out"])
    c.w_u64(0)
    c.flush()
    time.sleep(1.0)
    running = uid_processes()
    d.stop(signal.SIGKILL)
    c.sock.close()
    check("a build is running when the daemon is killed (SIGKILL)",
          running, running)
    left = wait_no_uid_processes(timeout=5)
    check("... its processes die with the daemon", not left, left)
    # Leftovers a crash can leave: a temporary object in the store and
    # a journal naming an object that never got registered.
    junk = os.path.join(d.store, ".frx-tmp-999999-run1-0")
    os.makedirs(junk)
    fake = os.path.join(d.store, "a" * 32 + "-half-registered")
    with open(fake, "w") as f:
        f.write("x")
    with open(os.path.join(d.state, "pending", "999999"), "w") as f:
        f.write(fake + "\n\n")
    d.start("--timeout", "4", "--build-group", str(UID_BASE + 50))
    check("the restarted daemon removed the temporary object",
          not os.path.exists(junk))
    check("... and the journalled, unregistered object",
          not os.path.exists(fake))
    c = d.conn()
    t0 = time.time()
    err = build(c, [p + "!out"])
    took = time.time() - t0
    check("the interrupted derivation builds again: no stale lock "
          "(%.1f s)" % took, err is None and took < 10, err)
    check("... and its log is the new build's",
          "before" in c.log and "after" in c.log, c.log[-3:])
    left = [e for e in os.listdir(d.store) if e.startswith(".frx-tmp-")]
    check("no temporary object is left in the store", not left, left)
    g, gout = drvs.make(c, "group", "id -g > $out; id -G >> $out")
    err = build(c, [g + "!out"])
    check("--build-group gives the build that gid (%d)" % (UID_BASE + 50),
          err is None and open(gout).read().split() ==
          [str(UID_BASE + 50)] * 2, err or open(gout).read())
    t, tout = drvs.make(c, "daemon-timeout", "sleep 30; touch $out")
    err = build(c, [t + "!out"])
    check("the daemon's --timeout (4 s) kills a build that runs longer",
          err is not None and "timed out after 4 seconds" in err, err)
    c.close()


def proc_stat(pid):
    """(comm, state, ppid, start) of a process, or None if it is gone;
    start is field 22, in clock ticks since boot."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    rest = st[st.rindex(")") + 2:].split()
    return (st[st.index("(") + 1:st.rindex(")")], rest[0], int(rest[1]),
            int(rest[19]))


def children_named(ppid, name):
    found = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            st = proc_stat(int(e))
            if st and st[0] == name and st[2] == ppid:
                found.append(int(e))
    return found


def test_netns_stock(top):
    """The maker of network namespaces is the listener's child and dies
    with it, even when the listener alone is killed."""
    os.makedirs(os.path.join(top, "stock"))
    d = Daemon(os.path.join(top, "stock"))
    try:
        mode = os.stat(os.path.join(d.state, "builds")).st_mode & 0o777
        check("the build directories' parent is root's alone (0700): no "
              "one reaches a socket a builder leaves in its /tmp",
              mode == 0o700, oct(mode))
        stock = children_named(d.proc.pid, "frx-netns-stock")
        check("the daemon keeps a maker of network namespaces",
              len(stock) == 1, stock)
        spare = children_named(d.proc.pid, "frx-daemon")
        spare += [x for s_ in spare for x in children_named(s_,
                                                           "frx-launcher")]
        check("... and a spare session with its launcher", len(spare) == 2,
              spare)
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait()
        alive = stock + spare
        for _ in range(100):
            alive = [p for p in stock + spare if not gone(p)]
            if not alive:
                break
            time.sleep(0.05)
        check("... which die with the listener (SIGKILL to it alone)",
              not alive, alive)
        # The spare used to live on in accept(2), holding the lock.
        try:
            d.start()
            restarted = True
        except RuntimeError:
            restarted = False
        check("a daemon starts again on the same state directory",
              restarted, d.log()[-600:])
    finally:
        d.stop(signal.SIGKILL)


def fd_targets(pid):
    """Where the descriptors of process pid point."""
    out = []
    base = "/proc/%d/fd" % pid
    for e in os.listdir(base):
        try:
            out.append(os.readlink(os.path.join(base, e)))
        except OSError:
            pass
    return out


def running_runner(d, c, drvs, name):
    """Start a 2-second build on c; its runner and session once seen."""
    p, out = drvs.make(c, name, timed(name, 2))
    c.w_u64(wc.OP["BuildPaths"])
    c.w_strings([p + "!out"])
    c.w_u64(0)
    c.flush()
    for _ in range(100):
        for pid in [int(e) for e in os.listdir("/proc") if e.isdigit()]:
            st = proc_stat(pid)
            par = st and proc_stat(st[2])
            if st and st[0] == "frx-runner" and par and \
                    par[0] == "frx-daemon" and par[2] == d.proc.pid:
                return pid, st[2], out
        time.sleep(0.05)
    return None, None, out


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def gone(pid):
    st = proc_stat(pid)
    return st is None or st[1] == "Z"


def test_launcher(d, drvs):
    """Runners are forked by the session's launcher: children of the
    session all the same, without its database, locks or client."""
    c = d.conn()
    runner, session, out = running_runner(d, c, drvs, "launched")
    check("a runner is a child of its session", runner is not None)
    if runner is None:
        c.close()
        return
    launchers = children_named(session, "frx-launcher")
    check("... which has one launcher", len(launchers) == 1, launchers)
    mine = fd_targets(runner)
    theirs = fd_targets(session)
    db = os.path.join(d.state, "db")
    check("the session holds the database open (so that the next check "
          "means something)", any(t.startswith(db) for t in theirs), theirs)
    check("... and its runner does not, nor the path locks (it opens "
          "only its own user's record)",
          not any(t.startswith(db) or "/locks/" in t or
                  ("userpool" in t and not t.endswith("/%d" % UID_BASE) and
                   not t.endswith("/%d" % (UID_BASE + 1)))
                  for t in mine), mine)
    check("... nor the client's connection",
          len([t for t in mine if t.startswith("socket:")]) <=
          len([t for t in fd_targets(d.proc.pid) if t.startswith("socket:")]),
          mine)
    # Its sandbox's init shares its memory: what the builder could read
    # as /proc/1/cmdline before init execs frx-reaper.
    ours = proc_cmdline(d.proc.pid)
    theirs = proc_cmdline(runner)
    check("the daemon's command line names it and its state (so that the "
          "next check means something)", b"frx-daemon" in ours and
          d.state.encode() in ours, ours)
    check("... and its runner's is blanked to 'frx-runner'",
          theirs.rstrip(b"\0") == b"frx-runner", theirs)
    # Its sandbox's init wrote the user's record itself, before the
    # builder started (the runner no longer does, when init could).
    named = []
    for uid in range(UID_BASE, UID_BASE + NUSERS):
        try:
            with open("/run/frx/userpool/%d" % uid) as f:
                pid, start = [int(x) for x in f.read().split()[:2]]
        except (OSError, ValueError):
            continue
        st = proc_stat(pid)
        if st and st[2] == runner:
            named.append((uid, pid, st[0], start, st[3]))
    check("the build user's record names the build's PID 1, the "
          "runner's child frx-reaper, with its start", len(named) == 1 and
          named[0][2] == "frx-reaper" and named[0][3] == named[0][4],
          named)
    check("... written by that process before its builder started: the "
          "runner never opened the user pool",
          not any("userpool" in t for t in mine), mine)
    c.process_stderr()
    c.r_u64()
    check("... and the build it runs succeeds", os.path.exists(out))
    c.close()
    for _ in range(100):
        if all(gone(x) for x in launchers + [session]):
            break
        time.sleep(0.05)
    check("a launcher ends with its session",
          all(gone(x) for x in launchers + [session]), launchers)
    # Without its launcher a session forks its runners itself.
    c = d.conn()
    runner, session, out = running_runner(d, c, drvs, "launched2")
    launchers = children_named(session, "frx-launcher") if session else []
    for pid in launchers:
        os.kill(pid, signal.SIGKILL)
    c.process_stderr()
    c.r_u64()
    p, out = drvs.make(c, "unlaunched", "echo ok > $out")
    err = build(c, [p + "!out"])
    check("a session whose launcher was killed still builds",
          launchers and err is None and os.path.exists(out),
          (launchers, err))
    check("... and says why it forks its runners itself",
          "the runner launcher is gone" in d.log(), d.log()[-2000:])
    c.close()


def session_launcher(d, c, drvs, name):
    """The launcher of c's session, seen during a build on c; None (c
    closed, the test failed) if there is not exactly one."""
    runner, session, _ = running_runner(d, c, drvs, name)
    launchers = children_named(session, "frx-launcher") if session else []
    c.process_stderr()
    c.r_u64()
    if len(launchers) != 1:
        check("the session has one launcher", False, launchers)
        c.close()
        return None
    return launchers[0]


def test_launcher_dies_answering(d, drvs):
    """A launcher killed after its fork, before it answers: the session
    never learns the runner's pid, so that runner must not build (it
    used to, beside a second runner the session forked)."""
    if shutil.which("strace") is None:
        check("strace is installed (scripts/setup-debian.sh)", False)
        return
    c = d.conn()
    p, out = drvs.make(c, "orphaned", "echo x > $out")
    launcher = session_launcher(d, c, drvs, "orphan-pre")
    if launcher is None:
        return
    launchers = [launcher]
    # Killed as it enters write(2) of its answer, after clone(2).
    st = subprocess.Popen(["strace", "-o", "/dev/null", "-p",
                           str(launchers[0]), "-e", "trace=write",
                           "-e", "inject=write:signal=KILL"],
                          stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    err = build(c, [p + "!out"])
    st.wait()
    time.sleep(0.5)
    check("the build fails and says why", err is not None and
          "launcher died while starting it" in err, err)
    check("... no runner built it", "building %s as uid" % p not in d.log(),
          d.log()[-1500:])
    check("... and no process of a build user is left",
          not wait_no_uid_processes(), uid_processes())
    err = build(c, [p + "!out"])
    check("the same build then succeeds, forked by the session",
          err is None and os.path.exists(out) and
          d.log().count("building %s as uid" % p) == 1, err)
    c.close()


def kill_runner(c, runner):
    """SIGKILL the runner of c's build; the error c then gets, or None."""
    os.kill(runner, signal.SIGKILL)
    try:
        c.process_stderr()
        return None
    except wc.DaemonError as e:
        return e.message


def test_runner_killed_leftovers(d, drvs):
    """A runner killed by SIGKILL cannot tear down: the session removes
    the root and build directory it left in the daemon's tmpfs.  And
    the build dies with it, even though its builder cleared its own
    parent-death signal (it outlived its runner while it was PID 1)."""
    roots = "/proc/%d/root%s" % (d.proc.pid, os.path.join(d.state, "roots"))
    c = d.conn()
    p, out = drvs.make(c, "killed-runner",
                       "exec setpriv --pdeathsig clear /bin/sh -c '"
                       "head -c 8000000 /dev/zero > /tmp/big; sleep 30; "
                       "touch $out'")
    c.w_u64(wc.OP["BuildPaths"])
    c.w_strings([p + "!out"])
    c.w_u64(0)
    c.flush()
    runner = None
    for _ in range(100):
        left = os.listdir(roots)
        big = [e for e in left
               if os.path.exists(os.path.join(roots, e, "build", "big"))]
        if big:
            break
        time.sleep(0.05)
    for pid in [int(e) for e in os.listdir("/proc") if e.isdigit()]:
        st = proc_stat(pid)
        par = st and proc_stat(st[2])
        if st and st[0] == "frx-runner" and par and par[0] == "frx-daemon":
            runner = pid
    check("a build's /tmp is in the daemon's tmpfs (%s)" % big, big and
          runner, (left, runner))
    if not big or not runner:
        c.close()
        return
    err = kill_runner(c, runner)
    check("the build fails: its runner was killed", err is not None and
          "killed by signal 9" in err, err)
    check("... and what it left in memory is gone",
          not os.path.exists(os.path.join(roots, big[0])),
          os.listdir(roots))
    check("... nor does any process of the build live on",
          not wait_no_uid_processes(), uid_processes())
    c.close()


def test_launcher_stopped(d, drvs):
    """A launcher that hangs (SIGSTOP) does not hang its session."""
    c = d.conn()
    launcher = session_launcher(d, c, drvs, "stop-pre")
    if launcher is None:
        return
    launchers = [launcher]
    os.kill(launchers[0], signal.SIGSTOP)
    p, out = drvs.make(c, "launcher-stopped", "echo x > $out")
    t0 = time.time()
    err = build(c, [p + "!out"])
    took = time.time() - t0
    check("a build whose launcher is stopped fails in time (%.1f s) and "
          "says why" % took, err is not None and took < 30 and
          "launcher did not answer in time" in err, err)
    check("... the launcher is gone", gone(launchers[0]), launchers)
    err = build(c, [p + "!out"])
    check("... and the build then succeeds", err is None and
          os.path.exists(out), err)
    c.close()


def test_runner_killed_kept_dir(d, drvs):
    """A killed runner of a build that may be kept leaves no build
    directory on disk (it was neither kept nor removed)."""
    builds = os.path.join(d.state, "builds")
    before = set(os.listdir(builds))
    c = d.conn(keep_failed=1)
    runner, session, _ = running_runner(d, c, drvs, "kept-killed")
    if runner is None:
        check("a runner to kill", False)
        c.close()
        return
    for _ in range(100):
        new = set(os.listdir(builds)) - before
        if new:
            break
        time.sleep(0.05)
    err = kill_runner(c, runner)
    after = set(os.listdir(builds)) - before
    check("a killed runner's build directory on disk (%s) is removed" %
          sorted(new), err is not None and new and not after,
          (err, sorted(after)))
    c.close()


def test_build_dir_place(d, drvs):
    """A build's /tmp is in the daemon's tmpfs beside its root, unless
    the build may be kept after a failure: then it is on disk."""
    host = subprocess.run(["stat", "-f", "-c", "%T", d.state],
                          capture_output=True, text=True).stdout.strip()
    seen = {}
    for keep in (0, 1):
        c = d.conn(keep_failed=keep)
        p, out = drvs.make(c, "tmp-place-%d" % keep,
                           "stat -f -c %%T /tmp > $out; echo %d >> $out" %
                           keep)
        err = build(c, [p + "!out"])
        c.close()
        seen[keep] = open(out).read().split()[0] if err is None else err
    check("a build's /tmp is in memory (%s)" % seen[0], seen[0] == "tmpfs",
          seen)
    check("... and on disk (%s, as %s) when the build may be kept" %
          (seen[1], host), seen[1] == host and host != "tmpfs", seen)


def guarded(test, *args):
    """Run one test; an error it did not expect is its failure."""
    try:
        test(*args)
    except (wc.DaemonError, wc.ProtocolError, EOFError, OSError,
            RuntimeError) as e:
        check("%s ran to its end" % test.__name__, False, repr(e))


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root")
        return 0
    if not os.access(DAEMON, os.X_OK):
        print("1..0 # SKIP %s not built" % DAEMON)
        return 0
    # Not under /tmp: inside the sandbox /tmp is the build directory.
    top = tempfile.mkdtemp(prefix="frx-conc.", dir="/var/tmp")
    os.chmod(top, 0o755)
    d = Daemon(top)
    drvs = Drvs(d)
    try:
        for t in (test_graph, test_same_drv, test_pool, test_prepared,
                  test_limits, test_disconnect, test_logs,
                  test_client_not_reading, test_launcher,
                  test_launcher_dies_answering, test_runner_killed_leftovers,
                  test_launcher_stopped, test_runner_killed_kept_dir,
                  test_build_dir_place):
            guarded(t, d, drvs)
        guarded(test_fetch_limits, d, drvs, top)
        guarded(test_two_daemons, d, drvs, top)
        guarded(test_user_back_early, top)
        guarded(test_netns_stock, top)
        guarded(test_crash, d, drvs, top)
    finally:
        d.stop()
        check("the daemon stopped", d.proc is None)
        left = wait_no_uid_processes()
        check("no process of the build users is left", not left, left)
        check("no mount of the test is left", not mounts_under(top),
              mounts_under(top))
        if failed:
            print("# daemon log (last lines):")
            for line in d.log().splitlines()[-25:]:
                print("#   " + line)
        subprocess.run(["chmod", "-R", "u+w", top],
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(top, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
