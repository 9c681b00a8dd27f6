#!/usr/bin/env python3
"""memsample.py PID SECONDS: every 10 ms for SECONDS (or until SIGTERM),
sum the proportional set size (PSS, from /proc/N/smaps_rollup) of PID and
of its descendants that run the same executable (the daemon's sessions,
runners and sandbox helpers, not the builders), and print the peak sum
and the largest VmHWM of one of them, in kB.  PSS counts a page shared by
several processes once in all, so forked helpers do not inflate it."""
import os
import signal
import sys
import time

root = int(sys.argv[1])
end = time.time() + float(sys.argv[2])
stop = False


def on_term(sig, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def field(path, name):
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def tree(root):
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p, "rb") as f:
                st = f.read()
            ppid = int(st[st.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


me = exe(root)
peak_pss = peak_hwm = 0
while not stop and time.time() < end:
    total = 0
    for pid in tree(root):
        if exe(pid) != me:
            continue
        total += field("/proc/%d/smaps_rollup" % pid, b"Pss:")
        peak_hwm = max(peak_hwm, field("/proc/%d/status" % pid, b"VmHWM:"))
    peak_pss = max(peak_pss, total)
    time.sleep(0.01)
print(peak_pss, peak_hwm)
