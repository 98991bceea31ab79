"""Where a profiled proxy's CPU goes, by part: `perf script -F ip,sym,dso | breakdown.py`.

Each sample is charged to the frame it was taken in. Kernel samples are split by the
system call they are under; under `writev`, by what the kernel was doing: switching to
another task on the way out (the woken reader preempted us), waking the reader
(`sock_def_readable`), or TCP/IP on loopback. User-space samples go to the crate of their
symbol, gathered into the parts of the request's path. Needs a binary with frame
pointers (`run.sh --profile` builds one) for the kernel split to see the user caller.
"""

import collections
import re
import sys

PARTS = {
    "hyper": "HTTP: hyper, h2, http, httparse, bytes",
    "h2": "HTTP: hyper, h2, http, httparse, bytes",
    "http": "HTTP: hyper, h2, http, httparse, bytes",
    "httparse": "HTTP: hyper, h2, http, httparse, bytes",
    "bytes": "HTTP: hyper, h2, http, httparse, bytes",
    "want": "HTTP: hyper, h2, http, httparse, bytes",
    "hyper_util": "HTTP: hyper, h2, http, httparse, bytes",
    "http_body": "HTTP: hyper, h2, http, httparse, bytes",
    "http_body_util": "HTTP: hyper, h2, http, httparse, bytes",
    "tokio": "runtime: tokio (tasks, I/O readiness, timers)",
    "tokio_util": "runtime: tokio (tasks, I/O readiness, timers)",
    "scopegate": "scopegate: route, token, claims, identity, metrics",
    "moka": "cache: moka (+ its crossbeam queues), sha2",
    "crossbeam_channel": "cache: moka (+ its crossbeam queues), sha2",
    "crossbeam_epoch": "cache: moka (+ its crossbeam queues), sha2",
    "sha2": "cache: moka (+ its crossbeam queues), sha2",
    "mimalloc": "allocator: mimalloc",
}


def crate(sym):
    s = sym.lstrip("<")
    if s.startswith(("mi_", "_mi")):
        return "mimalloc"
    m = re.match(r"([A-Za-z0-9_]+)::", s)
    return m.group(1) if m else "other"


def part(frames):
    sym, dso = frames[0]
    if "kernel" in dso:
        syms = [s for s, d in frames if "kernel" in d]
        user = next((s for s, d in frames if "kernel" not in d), "interrupt")
        call = re.sub(r"^__(GI|libc)_+|@.*$", "", user)
        if call == "writev":
            if any(s in ("__schedule", "schedule") for s in syms):
                return "kernel: writev, switched away on return (the woken reader runs)"
            if "sock_def_readable" in syms:
                return "kernel: writev, waking the reader"
            return "kernel: writev, TCP/IP over loopback"
        if call in ("recv", "recvfrom", "epoll_wait"):
            return f"kernel: {call}"
        return "kernel: other"
    if "libc" in dso:
        return "libc: memcpy, memcmp" if "mem" in sym else "libc: syscall stubs"
    if "vdso" in dso:
        return "clock: vdso clock_gettime"
    if "scopegate" not in dso:
        return f"user: {dso.rsplit('/', 1)[-1]}"
    c = crate(sym)
    return PARTS.get(c, "other Rust (core, alloc, std, ...)")


def main():
    counts = collections.Counter()
    total = 0
    frames = []

    def flush():
        nonlocal total
        if frames:
            total += 1
            counts[part(frames)] += 1

    for line in sys.stdin:
        line = line.strip()
        if not line:
            flush()
            frames = []
            continue
        m = re.match(r"[0-9a-f]+ (.*) \((.*)\)$", line)
        if m:
            frames.append((m.group(1), m.group(2)))
    flush()
    if total == 0:
        sys.exit("no samples (was perf given the proxy's pid?)")
    print(f"where the CPU went ({total} samples):")
    for name, n in sorted(counts.items(), key=lambda kv: (not kv[0].startswith("kernel"), -kv[1])):
        print(f"{100 * n / total:6.1f}%  {name}")


if __name__ == "__main__":
    main()
