#!/usr/bin/env python3
"""Bounded fault-injection soak for scopegate (loopback only, stops by itself).

Starts the real scopegate binary, a mock RFC 7662 authorization server and a mock
upstream (each its own Python process, so it can be killed, frozen and restarted),
drives 200 concurrent clients (HTTP/1.1 and HTTP/2 h2c on shared connections) with
valid, read-only, short-lived, revoked, inactive, expired, missing and malformed
tokens, and meanwhile kills, slows, freezes and restarts the authorization server,
kills, freezes and restarts the upstream, reloads the config with SIGHUP (valid and
invalid files) and purges the cache. At the end it checks invariants and prints
PASS/FAIL for each; the exit status is 1 when any failed, 2 on a setup error.

    python3 -m pip install httpx h2          # client library (h11 comes with it)
    cargo build --release
    python3 benches/soak/soak.py             # ~2 minutes
    python3 benches/soak/soak.py --duration 20 --binary target/release/scopegate

Everything binds 127.0.0.1 port 0; every process it starts is stopped by its PID at
the end, on errors and on Ctrl-C. Nothing here is an interface: options may change.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_ID = "soak-client"
CLIENT_SECRET = "soak-secret-" + "x" * 8
TOKEN_PREFIX = "sgt_"  # every generated token starts with this; nothing else does
TOKEN_RE = re.compile(rb"sgt_[A-Za-z0-9_-]{4,}")
# Mock servers keep idle connections longer than scopegate's pools do (60 s), as NGINX
# or Go servers would, and close them all on SIGWINCH (the soak's quiet points, to see
# scopegate's own fds). A server that closes idle connections first races every reuse.
IDLE_TIMEOUT = 120.0
_IDLE: set = set()  # writers of connections waiting for their next request

# Slack around fault windows (seconds): a fault's effects may start a little early
# (signal delivery) and outlast it (in-flight calls, timeouts, dead pooled connections).
SLACK_BEFORE = 0.3
SLACK_AFTER_AS = 3.0
SLACK_AFTER_UP = 3.0
# scopegate's timeouts: generous, because the mocks are Python processes on a busy machine
# and must not look slow when they are not meant to be (a 504 or 503 outside a fault
# window is a FAIL); the slowed AS answers after SLOW_AS seconds, mostly past the timeout.
INTROSPECTION_TIMEOUT = 2.0
UPSTREAM_TIMEOUT = 5.0
SLOW_AS = (1.0, 3.5)
CLIENT_TIMEOUT = 15.0


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the process that started us dies (no orphans)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------------------
# Mock servers (run as child processes: `soak.py --role as|upstream --dir D [--port P]`)
# --------------------------------------------------------------------------------------


async def _serve_h11(reader, writer, handler) -> None:
    """Minimal HTTP/1.1 keep-alive server loop on one connection, via h11."""
    import h11

    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    try:
        while True:
            req = None
            body = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    idle = req is None and not conn.trailing_data[0]
                    if idle:
                        _IDLE.add(writer)
                    try:
                        data = await asyncio.wait_for(
                            reader.read(65536), IDLE_TIMEOUT if idle else 30.0
                        )
                    except TimeoutError:
                        return
                    finally:
                        _IDLE.discard(writer)
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    req = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    return
            status, ctype, payload = await handler(req, bytes(body))
            headers = [("content-type", ctype), ("content-length", str(len(payload)))]
            writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
            writer.write(conn.send(h11.Data(data=payload)))
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, h11.LocalProtocolError, ConnectionError, OSError):
        return
    finally:
        _IDLE.discard(writer)
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a broken socket
            pass


def _drain_idle() -> None:
    for writer in list(_IDLE):
        writer.close()


async def _run_server(role: str, workdir: str, port: int, handler, on_ready=None) -> None:
    server = None
    deadline = time.time() + 10
    while server is None:
        try:
            server = await asyncio.start_server(
                lambda r, w: _serve_h11(r, w, handler),
                host="127.0.0.1",
                port=port,
                reuse_address=True,
                backlog=1024,
            )
        except OSError:
            if port == 0 or time.time() > deadline:
                raise
            await asyncio.sleep(0.1)  # the same port again after a kill: retry briefly
    bound = server.sockets[0].getsockname()[1]
    if on_ready:
        on_ready()
    ready = os.path.join(workdir, f"{role}.ready")
    with open(ready + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {bound}\n")
    os.replace(ready + ".tmp", ready)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGWINCH, _drain_idle)
    async with server:
        await stop.wait()


def role_as(workdir: str, port: int) -> None:
    """RFC 7662 introspection endpoint. SIGUSR1: slow (answers after SLOW_AS seconds, mostly
    past scopegate's timeout); SIGUSR2: normal; SIGHUP: re-read revocations."""
    import base64

    with open(os.path.join(workdir, "tokens.json")) as f:
        tokens = json.load(f)
    revoked: set[str] = set()
    state = {"slow": False, "calls": 0}
    expected_auth = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    def load_revoked() -> None:
        path = os.path.join(workdir, "revoked.json")
        if os.path.exists(path):
            with open(path) as f:
                revoked.clear()
                revoked.update(json.load(f))

    load_revoked()

    async def handler(req, body: bytes):
        state["calls"] += 1
        if state["slow"]:
            await asyncio.sleep(random.uniform(*SLOW_AS))
        if req.method != b"POST" or req.target != b"/introspect":
            return 404, "text/plain", b"not found\n"
        auth = {k.lower(): v for k, v in req.headers}.get(b"authorization", b"")
        if auth.decode("latin-1") != expected_auth:
            return 401, "application/json", b'{"error":"invalid_client"}'
        form = urllib.parse.parse_qs(body.decode("latin-1"))
        token = (form.get("token") or [""])[0]
        info = tokens.get(token)
        now = int(time.time())
        if info is None or token in revoked:
            answer = {"active": False}
        else:
            exp = now - 100 if info["kind"] == "expired" else info["exp"]
            answer = {
                "active": True,
                "scope": info["scope"],
                "sub": info["sub"],
                "username": "user-" + info["sub"][4:],
                "client_id": "soak-app",
                "token_type": "Bearer",
                "iat": now - 5,
                "exp": exp,
            }
        return 200, "application/json", json.dumps(answer).encode()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, lambda: state.__setitem__("slow", True))
        loop.add_signal_handler(signal.SIGUSR2, lambda: state.__setitem__("slow", False))
        loop.add_signal_handler(signal.SIGHUP, load_revoked)
        await _run_server("as", workdir, port, handler)

    asyncio.run(main())


def role_upstream(workdir: str, port: int) -> None:
    """Echo upstream: records every request it receives (one JSON line, written before
    it answers) and answers 200 with the body's length and SHA-256."""
    log = open(os.path.join(workdir, "upstream-records.jsonl"), "a", buffering=1)
    pid = os.getpid()
    identity = {"x-auth-subject", "x-auth-scope", "x-auth-client-id", "x-auth-username"}

    async def handler(req, body: bytes):
        target = req.target
        path, _, query = target.partition(b"?")
        sub = None
        scope = None
        forged = False
        auth = False
        mark = TOKEN_PREFIX.encode()
        leak = []  # where a token string arrived: "query", "body", "header"
        if mark in query:
            leak.append("query")
        if mark in body:
            leak.append("body")
        for name, value in req.headers:
            lname = name.lower()
            norm = lname.replace(b"_", b"-").decode("latin-1")
            if mark in value and lname != b"authorization" and "header" not in leak:
                leak.append("header")
            if lname == b"authorization":
                auth = True
            if norm in identity and value == b"forged":
                forged = True
            if lname == b"x-auth-subject":
                sub = value.decode("latin-1")
            elif lname == b"x-auth-scope":
                scope = value.decode("latin-1")
        rid = {k.lower(): v for k, v in req.headers}.get(b"x-soak-id", b"").decode()
        record = {
            "t": time.time(),
            "pid": pid,
            "m": req.method.decode(),
            "p": path.decode("latin-1"),
            "sub": sub,
            "scope": scope,
            "rid": rid,
            "n": len(body),
            "leak": leak,
            "auth": auth,
            "forged": forged,
        }
        log.write(json.dumps(record, separators=(",", ":")) + "\n")
        payload = {"ok": True, "len": len(body), "sha": hashlib.sha256(body).hexdigest()}
        return 200, "application/json", json.dumps(payload).encode()

    asyncio.run(_run_server("upstream", workdir, port, handler))


# --------------------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------------------


def now() -> float:
    return time.time()


class Child:
    """One process we started; stopped by its PID only."""

    registry: list[Child] = []

    def __init__(self, name: str, argv: list[str], log_path: str, env=None, pdeathsig=False):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.pdeathsig = pdeathsig
        self.proc: subprocess.Popen | None = None
        self.frozen = False
        Child.registry.append(self)

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            preexec_fn=_die_with_parent if self.pdeathsig else None,
        )
        log.close()
        self.frozen = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL (a crash) and reap."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
        self.frozen = False

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)
        self.frozen = False

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.frozen:
                self.thaw()
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    @classmethod
    def stop_all(cls) -> None:
        for child in cls.registry:
            try:
                child.stop(grace=3.0)
            except (OSError, ProcessLookupError):
                pass


class MockServer:
    """A mock server child that can be killed and restarted on the same port."""

    def __init__(self, role: str, workdir: str):
        self.role = role
        self.workdir = workdir
        self.port = 0
        self.child: Child | None = None
        self.starts = 0

    async def start(self) -> None:
        ready = os.path.join(self.workdir, f"{self.role}.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        argv = [
            sys.executable,
            os.path.abspath(__file__),
            "--role",
            self.role,
            "--dir",
            self.workdir,
            "--port",
            str(self.port),
        ]
        self.child = Child(self.role, argv, os.path.join(self.workdir, f"{self.role}.log"))
        self.child.start()
        deadline = now() + 15
        while not os.path.exists(ready):
            if not self.child.alive():
                raise SetupError(f"mock {self.role} exited at start; see {self.child.log_path}")
            if now() > deadline:
                raise SetupError(f"mock {self.role} not ready after 15 s")
            await asyncio.sleep(0.02)
        with open(ready) as f:
            _, port = f.read().split()
        self.port = int(port)
        self.starts += 1

    def kill(self) -> None:
        if self.child:
            self.child.kill()


class SetupError(Exception):
    pass


class Windows:
    """Fault windows: (start, end, what); end is None while the fault lasts."""

    def __init__(self) -> None:
        self.items: list[list] = []

    def open(self, what: str) -> None:
        self.items.append([now(), None, what])

    def close(self) -> None:
        if self.items and self.items[-1][1] is None:
            self.items[-1][1] = now()

    def finish(self) -> None:
        self.close()

    def overlaps(self, t0: float, t1: float, after: float) -> bool:
        for start, end, _ in self.items:
            end = end if end is not None else float("inf")
            if t0 <= end + after and t1 >= start - SLACK_BEFORE:
                return True
        return False

    def which(self, t: float, after: float) -> str | None:
        for start, end, what in self.items:
            end = end if end is not None else float("inf")
            if start - SLACK_BEFORE <= t <= end + after:
                return what
        return None


class Tokens:
    """Generated tokens: random strings, kinds known only to us and the mock AS."""

    KINDS = {
        # kind: (count, scope)
        "rw": (400, "orders:read orders:write"),
        "ro": (150, "orders:read"),
        "short": (150, "orders:read orders:write"),
        "revoked": (100, "orders:read orders:write"),
        "expired": (100, "orders:read orders:write"),
        "inactive": (200, None),
    }

    def __init__(self, rng: random.Random, exp_from: float, exp_to: float):
        self.value: list[str] = []
        self.kind: list[str] = []
        self.sub: list[str | None] = []
        self.exp: list[int] = []
        self.by_kind: dict[str, list[int]] = collections.defaultdict(list)
        self.by_sub: dict[str, int] = {}
        self.revoked_at: dict[int, float] = {}
        self.purged_at: dict[int, float] = {}
        far = int(now()) + 3600
        for kind, (count, _) in self.KINDS.items():
            for _ in range(count):
                i = len(self.value)
                self.value.append(TOKEN_PREFIX + secrets.token_urlsafe(24))
                self.kind.append(kind)
                sub = None if kind == "inactive" else f"sub-{i:05d}"
                self.sub.append(sub)
                if kind == "short":
                    self.exp.append(int(rng.uniform(exp_from, exp_to)))
                else:
                    self.exp.append(far)
                self.by_kind[kind].append(i)
                if sub:
                    self.by_sub[sub] = i
        revoked = self.by_kind["revoked"]
        self.batches = [revoked[: len(revoked) // 2], revoked[len(revoked) // 2 :]]

    def table(self) -> dict:
        out = {}
        for i, tok in enumerate(self.value):
            if self.kind[i] == "inactive":
                continue
            out[tok] = {
                "kind": self.kind[i],
                "sub": self.sub[i],
                "scope": self.KINDS[self.kind[i]][1],
                "exp": self.exp[i],
            }
        return out


# Request bodies: a few fixed blobs of random bytes, (size, weight). HTTP/2 clients
# stay at or below 32 KiB: httpcore's HTTP/2 client deadlocks when concurrent uploads
# on one connection wait for flow-control window (its _wait_for_outgoing_flow reads
# under a shared lock and misses a WINDOW_UPDATE another stream consumed), which would
# measure the client library instead of scopegate. HTTP/1.1 clients send up to 256 KiB.
BODY_SIZES = [(0, 1), (512, 3), (4096, 3), (32768, 2), (131072, 1), (262144, 1)]
H2_MAX_BODY = 32768


class Load:
    """Client requests and their results."""

    def __init__(self, tokens: Tokens, base: str, seed: int):
        self.tokens = tokens
        self.base = base
        blob = random.Random(seed).randbytes(max(s for s, _ in BODY_SIZES))
        self.bodies = {
            proto: (
                [
                    (blob[:s], hashlib.sha256(blob[:s]).hexdigest())
                    for s, _ in BODY_SIZES
                    if proto == "h1" or s <= H2_MAX_BODY
                ],
                [w for s, w in BODY_SIZES if proto == "h1" or s <= H2_MAX_BODY],
            )
            for proto in ("h1", "h2")
        }
        self.records: list[tuple] = []
        self.body_mismatch = 0
        self.cc_missing = 0
        self.retry_after_missing = 0
        self.running = True

    def pick(self, rng: random.Random, proto: str):
        """(kind, token index or -1, method, path, query, headers, body, sha, source)."""
        kind = rng.choices(
            [
                "rw",
                "ro",
                "short",
                "revoked",
                "inactive",
                "expired",
                "none",
                "malformed",
                "public",
                "noroute",
                "dup",
            ],
            weights=[30, 10, 10, 8, 12, 6, 6, 3, 6, 3, 2],
        )[0]
        method = rng.choices(["GET", "POST", "PUT", "DELETE"], weights=[50, 20, 15, 15])[0]
        path = f"/orders/{rng.randrange(1, 10**6)}"
        headers: dict[str, str] = {}
        query = ""
        tok = -1
        body = b""
        sha = None
        source = "header"
        if method != "GET":
            blobs, weights = self.bodies[proto]
            body, sha = rng.choices(blobs, weights=weights)[0]
            headers["content-type"] = "application/octet-stream"
        if rng.random() < 0.2:
            headers["X-Auth-Subject"] = "forged"
            headers["X_Auth_Subject"] = "forged"
        if kind in self.tokens.by_kind:
            tok = rng.choice(self.tokens.by_kind[kind])
        elif kind in ("noroute", "dup"):
            tok = rng.choice(self.tokens.by_kind["rw"])
        token = self.tokens.value[tok] if tok >= 0 else None
        if kind == "public":
            path = "/health"
            if rng.random() < 0.7:
                method, body, sha = "GET", b"", None
                headers.pop("content-type", None)
            # A token on a public route is not validated, and with forward = false it
            # must not reach the upstream either (nor its access log).
            r = rng.random()
            if r < 0.2:
                headers["authorization"] = (
                    "Bearer " + self.tokens.value[rng.choice(self.tokens.by_kind["rw"])]
                )
            elif r < 0.3:
                query = "access_token=" + self.tokens.value[rng.choice(self.tokens.by_kind["rw"])]
                source = "query"
        elif kind == "noroute":
            if rng.random() < 0.5:
                method, path, body, sha = "GET", f"/nope/{rng.randrange(1000)}", b"", None
                headers.pop("content-type", None)
            else:
                method = "PATCH"
            headers["authorization"] = f"Bearer {token}"
        elif kind == "malformed":
            headers["authorization"] = "Bearer two words"
        elif kind == "dup":
            headers["authorization"] = f"Bearer {token}"
            query = "access_token=" + token
            source = "dup"
        elif kind == "none":
            pass
        else:
            r = rng.random()
            if r < 0.1 and method != "GET":
                source = "form"
                body = urllib.parse.urlencode(
                    {"access_token": token, "note": "n" * rng.randrange(0, 8000)}
                ).encode()
                sha = None
                headers["content-type"] = "application/x-www-form-urlencoded"
            elif r < 0.2:
                source = "query"
                query = "access_token=" + token + "&x=1"
            else:
                headers["authorization"] = f"Bearer {token}"
        return kind, tok, method, path, query, headers, body, sha, source


def error_label(e: BaseException) -> str:
    """`LocalProtocolError<-StreamClosedError: 13`: the exception and the one from below
    httpx and httpcore that caused it (httpx wraps httpcore, which wraps h2)."""
    root = e
    while type(root).__module__.split(".")[0] in ("httpx", "httpcore"):
        below = root.__cause__ or root.__context__
        if below is None:
            break
        root = below
    name = type(e).__name__
    if root is not e and type(root).__name__ != name:
        name += "<-" + type(root).__name__
    return f"{name}: {str(e)[:80]}"


async def client_loop(
    load: Load, cid: str, client, proto: str, deadline: float, rng: random.Random, max_requests: int
) -> None:
    seq = 0
    while load.running and now() < deadline and seq < max_requests:
        seq += 1
        kind, tok, method, path, query, headers, body, sha, source = load.pick(rng, proto)
        rid = f"{cid}.{seq}"
        headers["x-soak-id"] = rid
        url = load.base + path + ("?" + query if query else "")
        status = 0
        err = ""
        t0 = now()
        try:
            rsp = await client.request(method, url, headers=headers, content=body or None)
            status = rsp.status_code
            if status == 200 and path != "/health" and sha is not None:
                try:
                    if rsp.json().get("sha") != sha:
                        load.body_mismatch += 1
                except ValueError:
                    load.body_mismatch += 1
            if source in ("query", "dup") and "private" not in rsp.headers.get("cache-control", ""):
                load.cc_missing += 1
            if status == 503 and "retry-after" not in rsp.headers:
                load.retry_after_missing += 1
        except Exception as e:  # noqa: BLE001 - httpx errors, and h2 ones escaping httpcore
            err = error_label(e)
        t1 = now()
        load.records.append((rid, t0, t1, proto, kind, tok, method, len(body), source, status, err))


async def run_clients(
    load: Load,
    n_clients: int,
    n_h2: int,
    n_h2_conns: int,
    start: float,
    seconds: float,
    prefix: str,
    seed: str,
) -> None:
    import ssl

    import httpx

    timeout = httpx.Timeout(CLIENT_TIMEOUT)
    # One TLS context for all (plain-text loopback; building one per client takes ~0.1 s).
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = []
    n_h1 = n_clients - n_h2
    for i in range(n_h1):
        clients.append(
            httpx.AsyncClient(
                http1=True, http2=False, timeout=timeout, trust_env=False, verify=tls, limits=limits
            )
        )
    h2_clients = []
    for j in range(max(1, n_h2_conns) if n_h2 else 0):
        c = httpx.AsyncClient(
            http1=False, http2=True, timeout=timeout, trust_env=False, verify=tls, limits=limits
        )
        clients.append(c)
        h2_clients.append(c)
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGUSR1, lambda: setattr(load, "running", False)
    )
    if start > now():
        await asyncio.sleep(start - now())
    deadline = now() + seconds
    tasks = []
    for i in range(n_clients):
        client, proto = (
            (clients[i], "h1") if i < n_h1 else (h2_clients[(i - n_h1) % len(h2_clients)], "h2")
        )
        tasks.append(
            client_loop(
                load,
                f"{prefix}{i}",
                client,
                proto,
                deadline,
                random.Random(f"{seed}-{prefix}{i}"),
                1_000_000,
            )
        )
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), seconds + CLIENT_TIMEOUT + 10)
    finally:
        for c in clients:
            try:
                await c.aclose()
            except Exception:  # noqa: BLE001 - closing after faults
                pass


def role_load(args) -> None:
    """One load generator process: its share of the clients, results to a JSON file."""
    with open(os.path.join(args.dir, "tokens-client.json")) as f:
        table = json.load(f)
    tokens = argparse.Namespace(value=table["value"], by_kind=table["by_kind"])
    load = Load(tokens, args.base, args.seed)
    prefix = f"{args.phase[0]}{args.idx}-"
    asyncio.run(
        run_clients(
            load,
            args.clients,
            args.h2_clients,
            args.h2_connections,
            args.start,
            args.seconds,
            prefix,
            f"{args.seed}-{args.phase}",
        )
    )
    out = os.path.join(args.dir, f"load-{args.phase}-{args.idx}.json")
    with open(out + ".tmp", "w") as f:
        json.dump(
            {
                "records": load.records,
                "body_mismatch": load.body_mismatch,
                "cc_missing": load.cc_missing,
                "retry_after_missing": load.retry_after_missing,
            },
            f,
        )
    os.replace(out + ".tmp", out)


def proc_sample(pid: int) -> tuple[int, int]:
    """(RSS bytes, open fds) of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def proc_starttime(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def parse_metrics(text: str) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = collections.defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(
            r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?\s+(\S+)', line
        )
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out[m.group(1)].append((labels, float(m.group(4))))
        except ValueError:
            pass
    return out


def config_text(as_port: int, up_port: int, variant: str, sabotage: str | None = None) -> str:
    """The soak's config; `sabotage` makes it deliberately wrong, to see the checks fail."""
    negative_ttl = "2s" if variant == "A" else "3s"
    extra = ""
    if variant == "B":
        extra = (
            '\n[[route]]\nmethods = ["GET"]\npath = "/reports/{id}"\nscopes = ["reports:read"]\n'
        )
    if variant == "bad-key":
        extra = "\n[upstream.extra]\ntypo = 1\n"
    text = f"""# written by benches/soak/soak.py (variant {variant})
[listen]
addr = "127.0.0.1:0"
workers = 2
header_read_timeout = "10s"
max_connections = 2000
shutdown_grace = "5s"

[admin]
addr = "127.0.0.1:0"

[upstream]
url = "http://127.0.0.1:{up_port}"
timeout = "{UPSTREAM_TIMEOUT:g}s"

[introspection]
endpoint = "http://127.0.0.1:{as_port}/introspect"
client_id = "{CLIENT_ID}"
client_secret_file = "client-secret"
auth_method = "client_secret_basic"
timeout = "{INTROSPECTION_TIMEOUT:g}s"

[introspection.cache]
max_entries = 100000
ttl = "4s"
negative_ttl = "{negative_ttl}"
stale_if_error = "30s"

[token]
sources = ["header", "form", "query"]
max_form_body = "64KiB"
forward = false
realm = "soak"

[identity]
subject = "X-Auth-Subject"
scope = "X-Auth-Scope"
client_id = "X-Auth-Client-Id"
username = "X-Auth-Username"

[[route]]
path = "/health"
public = true

[[route]]
methods = ["GET"]
path = "/orders/{{id}}"
scopes = ["orders:read"]

[[route]]
methods = ["POST", "PUT", "DELETE"]
path = "/orders/**"
scopes_any = ["orders:write", "admin"]
{extra}"""
    if sabotage == "forward-token":
        text = text.replace("forward = false", "forward = true")
    elif sabotage == "public-writes":
        text = text.replace('scopes_any = ["orders:write", "admin"]', "public = true")
    if variant == "bad-syntax":
        text += "\n[[route]\npath = \n"
    return text


class Soak:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed if args.seed is not None else secrets.randbits(32)
        self.rng = random.Random(self.seed)
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="scopegate-soak-")
        os.makedirs(self.workdir, exist_ok=True)
        self.t_begin = now()
        self.as_win = Windows()
        self.up_win = Windows()
        self.events: list[tuple[float, str]] = []
        self.reloads = {"ok": 0, "error": 0}
        self.purges = {"sent": 0, "ok": 0}
        self.readyz: list[tuple[float, int]] = []
        self.healthz_bad = 0
        self.up_gauge: list[tuple[float, float | None]] = []
        self.samples: list[tuple[float, int, int]] = []
        self.proxy: Child | None = None

    def log(self, msg: str) -> None:
        line = f"[{now() - self.t_begin:7.1f}s] {msg}"
        self.events.append((now(), msg))
        print(line, flush=True)

    # ---- setup ---------------------------------------------------------------------

    def write_config(self, variant: str) -> None:
        path = os.path.join(self.workdir, "scopegate.toml")
        with open(path + ".tmp", "w") as f:
            f.write(config_text(self.asrv.port, self.upsrv.port, variant, self.args.sabotage))
        os.replace(path + ".tmp", path)

    def write_revoked(self) -> None:
        path = os.path.join(self.workdir, "revoked.json")
        revoked = [self.tokens.value[i] for i in self.tokens.revoked_at]
        with open(path + ".tmp", "w") as f:
            json.dump(revoked, f)
        os.replace(path + ".tmp", path)

    async def setup(self) -> None:
        a = self.args
        self.warm = max(3.0, 0.10 * a.duration)
        self.steps = self.plan(0.75 * a.duration)
        self.main_len = max(0.75 * a.duration, self.steps[-1][0] + 1.0)
        self.recovery = max(3.0, 0.15 * a.duration)
        load_start = now() + self.warm + 8  # start-up and the quiet pause, roughly
        self.tokens = Tokens(
            self.rng, load_start + 0.05 * self.main_len, load_start + 0.9 * self.main_len
        )
        with open(os.path.join(self.workdir, "tokens.json"), "w") as f:
            json.dump(self.tokens.table(), f)
        with open(os.path.join(self.workdir, "tokens-client.json"), "w") as f:
            json.dump({"value": self.tokens.value, "by_kind": self.tokens.by_kind}, f)
        with open(os.path.join(self.workdir, "client-secret"), "w") as f:
            f.write(CLIENT_SECRET + "\n")
        self.asrv = MockServer("as", self.workdir)
        self.upsrv = MockServer("upstream", self.workdir)
        await self.asrv.start()
        await self.upsrv.start()
        self.log(
            f"mock AS pid {self.asrv.child.pid} on 127.0.0.1:{self.asrv.port}; "
            f"mock upstream pid {self.upsrv.child.pid} on 127.0.0.1:{self.upsrv.port}"
        )
        self.write_config("A")
        cfg = os.path.join(self.workdir, "scopegate.toml")
        check = subprocess.run(
            [a.binary, "check", "--config", cfg],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if check.returncode != 0:
            raise SetupError(f"scopegate check rejected the soak config:\n{check.stderr}")
        self.proxy_log = os.path.join(self.workdir, "scopegate.log")
        env = dict(os.environ)
        env.pop("SCOPEGATE_CONFIG", None)
        env["RUST_LOG"] = "info"
        self.proxy = Child(
            "scopegate",
            [a.binary, "--log-format", "json", "serve", "--config", cfg],
            self.proxy_log,
            env=env,
            pdeathsig=True,
        )
        self.proxy.start()
        addrs: dict[str, str] = {}
        deadline = now() + 15
        while len(addrs) < 2:
            if not self.proxy.alive():
                raise SetupError(f"scopegate exited at start; see {self.proxy_log}")
            if now() > deadline:
                raise SetupError("scopegate did not log its listening addresses in 15 s")
            with open(self.proxy_log, "rb") as f:
                for line in f:
                    try:
                        fields = json.loads(line).get("fields", {})
                    except ValueError:
                        continue
                    if fields.get("message") == "listening":
                        addrs[fields["listener"]] = fields["addr"]
            await asyncio.sleep(0.05)
        self.pid = self.proxy.pid
        self.starttime = proc_starttime(self.pid)
        self.base = f"http://{addrs['proxy']}"
        self.admin = f"http://{addrs['admin']}"
        self.log(f"scopegate pid {self.pid}: proxy {addrs['proxy']}, admin {addrs['admin']}")
        import httpx

        self.admin_client = httpx.AsyncClient(timeout=5.0, trust_env=False)
        deadline = now() + 10
        while True:
            try:
                if (await self.admin_client.get(self.admin + "/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if now() > deadline:
                raise SetupError("scopegate /healthz not 200 after 10 s")
            await asyncio.sleep(0.1)

    # ---- faults ----------------------------------------------------------------------

    async def reload(self, variant: str) -> None:
        self.write_config(variant)
        self.proxy.signal(signal.SIGHUP)
        valid = variant in ("A", "B")
        self.reloads["ok" if valid else "error"] += 1
        self.log(f"SIGHUP with {'valid' if valid else 'invalid'} config ({variant})")
        if not valid:
            await asyncio.sleep(0.5)  # let it read the bad file, then put a good one back
            self.write_config("A")

    async def purge(self, body: dict, quiet: bool = False) -> bool:
        import httpx

        self.purges["sent"] += 1
        try:
            rsp = await self.admin_client.post(self.admin + "/cache/purge", json=body)
            ok = rsp.status_code == 200
            if not ok:
                self.log(f"POST /cache/purge {json.dumps(body)} -> {rsp.status_code}")
        except httpx.HTTPError as e:
            ok = False
            self.log(f"POST /cache/purge {json.dumps(body)} failed: {type(e).__name__} {e}")
        self.purges["ok"] += ok
        if not quiet:
            self.log(f"POST /cache/purge {json.dumps(body)} -> {'200' if ok else 'FAILED'}")
        return ok

    async def revoke(self, batch: int) -> None:
        ids = self.tokens.batches[batch]
        t = now()
        for i in ids:
            self.tokens.revoked_at[i] = t
        self.write_revoked()
        self.asrv.child.signal(signal.SIGHUP)
        self.log(f"revoked {len(ids)} tokens at the AS (batch {batch})")
        await asyncio.sleep(0.3)  # the AS has re-read its list; now evict them

        async def one(n: int, i: int) -> None:
            if n % 2:
                body = {"subject": self.tokens.sub[i]}
            else:
                body = {"token_sha256": hashlib.sha256(self.tokens.value[i].encode()).hexdigest()}
            if await self.purge(body, quiet=True):
                self.tokens.purged_at[i] = now()

        await asyncio.gather(*(one(n, i) for n, i in enumerate(ids)))
        self.log(f"purged {len(ids)} revoked tokens (half by subject, half by token_sha256)")

    async def as_kill(self) -> None:
        self.as_win.open("as-down")
        self.asrv.kill()
        self.log("AS killed (SIGKILL)")

    async def healthy(self, srv: MockServer, what: str, since: float) -> None:
        """Waits until a mock answers a fresh connection within 0.5 s: after a freeze it
        first works through the connections queued meanwhile (on a busy machine that takes
        seconds), and the fault lasts, as seen from outside, until it is done."""
        import httpx

        if srv.role == "as":
            req = dict(
                method="POST",
                url=f"http://127.0.0.1:{srv.port}/introspect",
                content=b"token=probe&token_type_hint=access_token",
                auth=(CLIENT_ID, CLIENT_SECRET),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        else:
            req = dict(
                method="GET",
                url=f"http://127.0.0.1:{srv.port}/health",
                headers={"x-soak-id": "probe"},
            )
        deadline = now() + 60
        while now() < deadline:
            async with httpx.AsyncClient(timeout=0.5, trust_env=False) as c:
                try:
                    if (await c.request(**req)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            await asyncio.sleep(0.1)
        self.log(f"{what}: answering within 0.5 s again, {now() - since:.1f} s after")

    async def as_restart(self) -> None:
        await self.asrv.start()
        self.log(f"AS restarted, pid {self.asrv.child.pid}")
        self.as_win.close()

    async def as_slow(self, on: bool) -> None:
        if on:
            self.as_win.open("as-slow")
            self.asrv.child.signal(signal.SIGUSR1)
            self.log(
                f"AS slowed (answers after {SLOW_AS[0]:g}-{SLOW_AS[1]:g} s, "
                f"timeout {INTROSPECTION_TIMEOUT:g} s)"
            )
        else:
            self.asrv.child.signal(signal.SIGUSR2)
            t = now()
            self.log("AS back to normal speed")
            await self.healthy(self.asrv, "AS", t)
            self.as_win.close()

    async def as_freeze(self, on: bool) -> None:
        if on:
            self.as_win.open("as-frozen")
            self.asrv.child.freeze()
            self.log("AS frozen (SIGSTOP)")
        else:
            self.asrv.child.thaw()
            t = now()
            self.log("AS resumed (SIGCONT)")
            await self.healthy(self.asrv, "AS", t)
            self.as_win.close()

    async def up_kill(self) -> None:
        self.up_win.open("up-down")
        self.upsrv.kill()
        self.log("upstream killed (SIGKILL)")

    async def up_restart(self) -> None:
        await self.upsrv.start()
        self.up_win.close()
        self.log(f"upstream restarted, pid {self.upsrv.child.pid}")

    async def up_freeze(self, on: bool) -> None:
        if on:
            self.up_win.open("up-frozen")
            self.upsrv.child.freeze()
            self.log("upstream frozen (SIGSTOP)")
        else:
            self.upsrv.child.thaw()
            t = now()
            self.log("upstream resumed (SIGCONT)")
            await self.healthy(self.upsrv, "upstream", t)
            self.up_win.close()

    def schedule(self):
        """(fraction of the main phase, minimum seconds after the previous step, action).
        The same shape for every --duration; the minimums keep each fault window long
        enough to show (>= 2.5 s, the upstream freeze past the upstream timeout), so a
        short --duration stretches the main phase to about 30 s."""
        return [
            (0.02, 0.3, lambda: self.revoke(0)),
            (0.08, 1.5, self.as_kill),
            (0.12, 0.5, lambda: self.reload("B")),
            (0.18, 0.8, lambda: self.reload("bad-key")),
            (0.22, 1.2, self.as_restart),
            (0.26, 1.0, lambda: self.purge({})),
            (0.30, 0.5, lambda: self.as_slow(True)),
            (0.36, 1.0, lambda: self.reload("bad-syntax")),
            (0.42, 1.5, lambda: self.as_slow(False)),
            (0.46, 1.0, self.up_kill),
            (0.50, 1.0, lambda: self.reload("A")),
            (0.58, 1.5, self.up_restart),
            (0.62, 1.0, lambda: self.revoke(1)),
            (0.66, 1.5, lambda: self.as_freeze(True)),
            (0.70, 1.0, lambda: self.purge({})),
            (0.74, 1.5, lambda: self.as_freeze(False)),
            (0.78, 1.0, lambda: self.up_freeze(True)),
            (0.86, UPSTREAM_TIMEOUT + 1.5, lambda: self.up_freeze(False)),
            (0.88, 1.0, self.as_kill),
            (0.90, 0.5, self.up_kill),
            (0.92, 0.5, lambda: self.reload("B")),
            (0.94, 1.5, self.up_restart),
            (0.96, 1.0, self.as_restart),
            (0.98, 1.0, lambda: self.reload("A")),
        ]

    def plan(self, main_len: float) -> list[tuple[float, float, object]]:
        """Offsets (seconds from the main phase's start) of every step."""
        out = []
        prev = 0.0
        for frac, gap, action in self.schedule():
            prev = max(frac * main_len, prev + gap)
            out.append((prev, gap, action))
        return out

    async def faults(self, start: float) -> None:
        done = start
        for offset, gap, action in self.steps:
            # On a busy machine a step can end late; the minimum gap still holds.
            delay = max(start + offset, done + gap) - now()
            if delay > 0:
                await asyncio.sleep(delay)
            await action()
            done = now()
        self.t_faults_done = done

    async def restore(self) -> None:
        """After an interrupted schedule: nothing left frozen, killed or slow."""
        for srv in (self.asrv, self.upsrv):
            if srv.child.frozen:
                srv.child.thaw()
            if not srv.child.alive():
                await srv.start()
        self.asrv.child.signal(signal.SIGUSR2)
        self.as_win.close()
        self.up_win.close()

    async def monitor(self) -> None:
        import httpx

        tick = 0
        while True:
            tick += 1
            t = now()
            try:
                r = await self.admin_client.get(self.admin + "/readyz")
                self.readyz.append((t, r.status_code))
                h = await self.admin_client.get(self.admin + "/healthz")
                self.healthz_bad += h.status_code != 200
                if tick % 2 == 0:
                    m = parse_metrics((await self.admin_client.get(self.admin + "/metrics")).text)
                    g = m.get("scopegate_introspection_up")
                    self.up_gauge.append((t, g[0][1] if g else None))
            except httpx.HTTPError:
                self.readyz.append((t, 0))
            try:
                rss, fds = proc_sample(self.pid)
                self.samples.append((t, rss, fds))
            except OSError:
                pass
            await asyncio.sleep(0.5)

    async def quiet_sample(self, label: str) -> tuple[int, int]:
        """RSS and fds with no client connected and the mocks' idle connections closed."""
        await asyncio.sleep(0.5)
        for srv in (self.asrv, self.upsrv):
            srv.child.signal(signal.SIGWINCH)
        await asyncio.sleep(2.0)
        rss, fds = proc_sample(self.pid)
        self.log(f"{label}: RSS {rss / 2**20:.1f} MiB, {fds} open fds")
        return rss, fds

    def start_load(self, phase: str, seconds: float) -> tuple[float, list[Child]]:
        """Starts the load generator processes; they begin together at the returned time."""
        a = self.args
        n_h1 = a.clients - a.h2_clients
        procs = max(1, min(a.load_procs, n_h1)) if n_h1 else 0
        start = now() + 2.5  # time to import httpx and build 200 clients
        children = []
        # (clients, of which HTTP/2, h2c connections) per process. HTTP/2 clients get a
        # process of their own: in one event loop with ~100 busy HTTP/1.1 httpx clients,
        # httpx's HTTP/2 requests stalled until the HTTP/1.1 load stopped (client side:
        # the same server served both fine from separate processes).
        shares = [(n_h1 // procs + (k < n_h1 % procs), 0, 0) for k in range(procs)]
        if a.h2_clients:
            shares.append((a.h2_clients, a.h2_clients, max(1, a.h2_connections)))
        for k, (n, h2, conns) in enumerate(shares):
            argv = [
                sys.executable,
                os.path.abspath(__file__),
                "--role",
                "load",
                "--dir",
                self.workdir,
                "--base",
                self.base,
                "--phase",
                phase,
                "--idx",
                str(k),
                "--clients",
                str(n),
                "--h2-clients",
                str(h2),
                "--h2-connections",
                str(conns),
                "--start",
                repr(start),
                "--seconds",
                repr(seconds),
                "--seed",
                str(self.seed),
            ]
            child = Child(
                f"load-{phase}-{k}", argv, os.path.join(self.workdir, f"load-{phase}-{k}.log")
            )
            child.start()
            children.append(child)
        return start, children

    async def finish_load(
        self, phase: str, start: float, seconds: float, children: list[Child]
    ) -> None:
        deadline = start + seconds + CLIENT_TIMEOUT + 30
        while any(c.alive() for c in children):
            if now() > deadline:
                raise SetupError(
                    f"{phase} load generators still running after {seconds:.0f} s + client timeout"
                )
            await asyncio.sleep(0.2)
        for k, child in enumerate(children):
            out = os.path.join(self.workdir, f"load-{phase}-{k}.json")
            if child.proc.returncode != 0 or not os.path.exists(out):
                raise SetupError(
                    f"load generator {phase}-{k} failed "
                    f"(exit {child.proc.returncode}); see {child.log_path}"
                )
            with open(out) as f:
                data = json.load(f)
            self.load.records.extend(tuple(r) for r in data["records"])
            for key in ("body_mismatch", "cc_missing", "retry_after_missing"):
                setattr(self.load, key, getattr(self.load, key) + data[key])

    # ---- the run ---------------------------------------------------------------------

    async def run(self) -> int:
        a = self.args
        await self.setup()
        self.load = argparse.Namespace(
            records=[], body_mismatch=0, cc_missing=0, retry_after_missing=0
        )
        mon = asyncio.create_task(self.monitor())
        try:
            start, children = self.start_load("warmup", self.warm)
            self.t_warm = start
            self.log(
                f"warm-up: {a.clients} clients ({a.h2_clients} HTTP/2 on "
                f"{a.h2_connections} connections) in {len(children)} processes for "
                f"{self.warm:.0f} s, no faults"
            )
            await self.finish_load("warmup", start, self.warm, children)
            self.warm_sample = await self.quiet_sample("post-warm-up (clients closed)")
            # Bounded: the load stops on SIGUSR1 after the schedule and the recovery, or
            # by itself after twice the planned time.
            cap = 2 * (self.main_len + self.recovery) + 30
            start, children = self.start_load("main", cap)
            self.t_main = start
            self.t_faults_done = start + self.main_len
            self.log(
                f"main: {self.main_len:.0f} s of faults, then {self.recovery:.0f} s of recovery"
            )
            fault_task = asyncio.create_task(self.faults(self.t_main))
            try:
                await asyncio.sleep(max(0.0, start - now()))
                await fault_task
                self.log(f"fault schedule done; recovery for {self.recovery:.0f} s")
                await asyncio.sleep(self.recovery)
                for child in children:
                    child.signal(signal.SIGUSR1)
                await self.finish_load("main", start, cap, children)
            finally:
                if not fault_task.done():
                    fault_task.cancel()
                    self.log("fault schedule stopped before its end")
                try:
                    await fault_task
                except asyncio.CancelledError:
                    await self.restore()
            self.t_end = now()
            self.as_win.finish()
            self.up_win.finish()
            self.end_sample = await self.quiet_sample("end (clients closed)")
        finally:
            mon.cancel()
            try:
                await mon
            except asyncio.CancelledError:
                pass
        self.alive_at_end = self.proxy.alive()
        self.same_pid = self.alive_at_end and proc_starttime(self.pid) == self.starttime
        self.metrics = parse_metrics((await self.admin_client.get(self.admin + "/metrics")).text)
        await self.admin_client.aclose()
        t = now()
        self.exit_code = self.proxy.stop(grace=10.0)
        self.stop_secs = now() - t
        self.log(f"scopegate stopped with SIGTERM: exit {self.exit_code} in {self.stop_secs:.1f} s")
        self.asrv.child.stop()
        self.upsrv.child.stop()
        return self.report()

    # ---- checks and report -----------------------------------------------------------

    def allowed(self, rec) -> set[int]:
        _, t0, t1, _, kind, tok, method, *_ = rec
        toks = self.tokens
        ok = set()
        if kind == "rw":
            ok.add(200)
        elif kind == "ro":
            ok.add(200 if method == "GET" else 403)
        elif kind == "short":
            exp = toks.exp[tok]
            if t0 < exp + 1.0:
                ok.add(200)
            if t1 > exp - 1.0:
                ok.add(401)
        elif kind == "revoked":
            purged = toks.purged_at.get(tok)
            revoked = toks.revoked_at.get(tok)
            if purged is None or t0 < purged + 0.5:
                ok.add(200)
            if revoked is not None and t1 > revoked - 0.2:
                ok.add(401)
        elif kind in ("inactive", "expired", "none", "malformed"):
            ok.add(401)
        elif kind == "public":
            ok.add(200)
        elif kind == "noroute":
            ok.add(403)
        elif kind == "dup":
            ok.add(400)
        if kind in ("rw", "ro", "short", "revoked", "inactive", "expired"):
            if self.as_win.overlaps(t0, t1, SLACK_AFTER_AS):
                ok.add(503)
        if 200 in ok and self.up_win.overlaps(t0, t1, SLACK_AFTER_UP):
            ok.update((502, 504))
        return ok

    def phase_of(self, t: float) -> str:
        if t < self.t_main:
            return "warm-up"
        w = self.up_win.which(t, SLACK_AFTER_UP) or self.as_win.which(t, SLACK_AFTER_AS)
        if w:
            return w
        if t > self.t_faults_done:
            return "recovery"
        return "main (no fault)"

    def forward_allowed(self, t0: float, kind: str, tok: int, method: str) -> bool:
        """Whether a request the client started at t0 may reach the upstream. The client's
        start time bounds scopegate's decision from below (the upstream's own receive
        time may lag behind it: freezes, a busy machine)."""
        t = t0
        toks = self.tokens
        if kind in ("public", "rw"):
            return True
        if kind == "ro":
            return method == "GET"
        if kind == "short":
            return t <= toks.exp[tok]
        if kind == "revoked":
            purged = toks.purged_at.get(tok)
            return purged is None or t <= purged + 0.5
        return False

    def report(self) -> int:
        recs = self.load.records
        toks = self.tokens
        by_rid = {r[0]: r for r in recs}
        results: list[tuple[str, bool, str]] = []

        def add(name: str, ok: bool, detail: str) -> None:
            results.append((name, ok, detail))

        # 1. Nothing forwarded without a valid token.
        up_recs = []
        path = os.path.join(self.workdir, "upstream-records.jsonl")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        u = json.loads(line)
                    except ValueError:
                        continue  # a line cut by SIGKILL
                    if u["rid"] != "probe":  # the soak's own health probes, not via scopegate
                        up_recs.append(u)
        bad_fwd = collections.Counter()
        examples = []
        for u in up_recs:
            rec = by_rid.get(u["rid"])
            why = None
            if rec is None:
                why = "unknown request id"
            else:
                kind, tok, method = rec[4], rec[5], rec[6]
                if u["p"] == "/health":
                    if u["sub"] is not None:
                        why = "public route carried a subject"
                elif u["sub"] is None:
                    why = f"no subject ({kind})"
                elif u["sub"] not in toks.by_sub:
                    why = f"unknown subject ({kind})"
                elif toks.by_sub[u["sub"]] != tok:
                    why = f"subject of another token ({kind})"
                elif not self.forward_allowed(rec[1], kind, tok, method):
                    why = f"token not valid for it ({kind} {method})"
            if why:
                bad_fwd[why] += 1
                if len(examples) < 5:
                    examples.append(f"{u['m']} {u['p']} rid={u['rid']}: {why}")
        n_fwd_bad = sum(bad_fwd.values())
        add(
            "zero requests forwarded without a valid token",
            n_fwd_bad == 0,
            f"{len(up_recs)} requests reached the upstream, {n_fwd_bad} without a valid "
            f"token" + (f" {dict(bad_fwd)}; e.g. {examples}" if n_fwd_bad else ""),
        )
        leak_by = collections.Counter()
        for u in up_recs:
            where = list(u["leak"]) + (["Authorization"] if u["auth"] else [])
            for w in where:
                route = "public" if u["p"] == "/health" else "protected"
                leak_by[f"{w} on {route} routes"] += 1
        leaks = sum(1 for u in up_recs if u["leak"] or u["auth"])
        forged = sum(1 for u in up_recs if u["forged"])
        add(
            "no token and no client-sent identity header reached the upstream",
            leaks == 0 and forged == 0,
            f"{leaks} carried a token or Authorization"
            + (f" ({', '.join(f'{k} {v}' for k, v in sorted(leak_by.items()))})" if leaks else "")
            + f", {forged} a forged X-Auth-* header",
        )

        # 2. Every status one the error table (RFC 6750 §3 + 502/503/504) allows for the
        #    fault state at that time: 503 only while the AS fails, 502/504 only while the
        #    upstream does, each with a little slack.
        statuses = collections.Counter()
        bad_status = collections.Counter()
        bad_examples = []
        errors = [r for r in recs if r[10]]
        answered = [r for r in recs if not r[10]]
        for r in answered:
            statuses[r[9]] += 1
            if r[9] not in self.allowed(r):
                key = (r[4], r[6] if r[4] == "ro" else "", r[9], self.phase_of(r[1]))
                bad_status[key] += 1
                if len(bad_examples) < 5:
                    bad_examples.append(
                        f"{r[3]} {r[6]} {r[4]} -> {r[9]} at +{r[1] - self.t_begin:.1f}s "
                        f"({self.phase_of(r[1])})"
                    )
        n_bad = sum(bad_status.values())
        detail = f"{len(answered)} answers, {n_bad} not allowed at their time"
        if n_bad:
            detail += "; " + ", ".join(
                f"{k[0]}{'/' + k[1] if k[1] else ''}->{k[2]} in {k[3]}: {v}"
                for k, v in bad_status.most_common(8)
            )
            detail += f"; e.g. {bad_examples}"
        add(
            "every status one the error table allows for the fault state at the time",
            n_bad == 0,
            detail,
        )
        cover = collections.Counter()
        for r in answered:
            t0, kind, tok, status = r[1], r[4], r[5], r[9]
            w = self.as_win.which(t0, 0) or ""
            u = self.up_win.which(t0, 0) or ""
            cover["503 in AS faults"] += status == 503 and w != ""
            cover["200 for cached tokens in AS faults"] += (
                status == 200 and w != "" and kind in ("rw", "ro", "short", "revoked")
            )
            cover["502 with upstream down"] += status == 502 and u == "up-down"
            cover["504 with upstream frozen"] += status == 504 and u == "up-frozen"
            cover["401 for revoked after purge"] += (
                kind == "revoked"
                and status == 401
                and t0 > self.tokens.purged_at.get(tok, float("inf"))
            )
            cover["401 for short-lived after exp"] += (
                kind == "short" and status == 401 and t0 > self.tokens.exp[tok] + 1
            )
            cover["200 over HTTP/2 with a body"] += r[3] == "h2" and r[7] > 0 and status == 200
            cover["401 over HTTP/2 with a body"] += r[3] == "h2" and r[7] > 0 and status == 401
        missing = [k for k, v in cover.items() if v == 0]
        add(
            "coverage: every fault and token kind showed its effect",
            not missing,
            ", ".join(f"{k} {v:,}" for k, v in cover.items())
            + (f"; never seen: {missing}" if missing else ""),
        )
        add(
            "503 carries Retry-After; query-token answers carry Cache-Control: private",
            self.load.retry_after_missing == 0 and self.load.cc_missing == 0,
            f"{self.load.retry_after_missing} 503s without Retry-After, "
            f"{self.load.cc_missing} query-token answers without private",
        )
        add(
            "forwarded bodies intact (SHA-256 echoed by the upstream)",
            self.load.body_mismatch == 0,
            f"{self.load.body_mismatch} mismatches",
        )

        # 3. No client-side transport errors outside upstream faults.
        err_phase = collections.Counter()
        err_kind = collections.Counter()
        outside = 0
        # Outside upstream faults: requests and errors by (protocol, with a body).
        req_out = collections.Counter()
        err_out = collections.Counter()
        err_out_fate = collections.Counter()
        for r in recs:
            if self.up_win.overlaps(r[1], r[2], SLACK_AFTER_UP):
                continue
            key = (r[3], r[6] != "GET")  # a body, or at least its END_STREAM, to send
            req_out[key] += 1
            if r[10]:
                outside += 1
                err_out[key] += 1
                err_out_fate["forwarded" if 200 in self.allowed(r) else "refused"] += 1
        for r in errors:
            err_phase[(self.phase_of(r[1]), r[3])] += 1
            err_kind[r[10].split(":")[0]] += 1
        detail = f"{len(errors)} transport errors, {outside} outside upstream faults"
        if outside:
            parts = []
            for key in sorted(req_out):
                e, n = err_out[key], req_out[key]
                rate = f" = 1 in {n / e:,.1f}" if e else ""
                parts.append(
                    f"{key[0]} {'POST/PUT/DELETE/PATCH' if key[1] else 'GET'} {e} of {n:,}{rate}"
                )
            detail += ": " + "; ".join(parts)
            detail += (
                f"; would have been refused {err_out_fate['refused']}, "
                f"forwarded {err_out_fate['forwarded']}"
            )
        add("zero client transport errors outside upstream faults", outside == 0, detail)

        # 4. Same process, clean exit.
        add(
            "same scopegate PID throughout (never exited or restarted)",
            bool(self.same_pid),
            f"pid {self.pid}",
        )
        add(
            "SIGTERM at the end: exit 0 within shutdown_grace",
            self.exit_code == 0 and self.stop_secs < 7,
            f"exit {self.exit_code} after {self.stop_secs:.1f} s",
        )

        # 5. RSS and fds back near the post-warm-up level.
        (rss0, fd0), (rss1, fd1) = self.warm_sample, self.end_sample
        rss_limit = max(rss0 * 1.5, rss0 + 16 * 2**20)
        peak_rss = max((s[1] for s in self.samples), default=0)
        peak_fds = max((s[2] for s in self.samples), default=0)
        add(
            "RSS back near the post-warm-up level (≤ max(1.5×, +16 MiB))",
            rss1 <= rss_limit,
            f"{rss0 / 2**20:.1f} → {rss1 / 2**20:.1f} MiB "
            f"(peak under load {peak_rss / 2**20:.1f} MiB)",
        )
        add(
            "open fds back near the post-warm-up level (≤ +8)",
            fd1 <= fd0 + 8,
            f"{fd0} → {fd1} (peak under load {peak_fds})",
        )

        # 6. Metrics add up to the requests sent.
        m = self.metrics
        by_outcome = collections.Counter()
        for labels, v in m.get("scopegate_requests_total", []):
            by_outcome[labels.get("outcome", "?")] += v
        total = int(sum(by_outcome.values()))
        groups = [
            ("200", {200}, ["allowed", "public"]),
            ("400", {400}, ["invalid_request"]),
            ("401", {401}, ["unauthenticated", "invalid_token"]),
            ("403", {403}, ["forbidden", "no_route"]),
            ("502/504", {502, 504}, ["upstream_error"]),
            ("503", {503}, ["as_unavailable"]),
        ]
        n_err = len(errors)
        mismatch = []
        group_rows = []
        for name, codes, outcomes in groups:
            c = sum(statuses[s] for s in codes)
            mv = int(sum(by_outcome[o] for o in outcomes))
            group_rows.append((name, c, mv))
            if not (c <= mv <= c + n_err):
                mismatch.append(f"{name}: client {c}, metrics {mv}")
        sent = len(recs)
        ok_total = len(answered) <= total <= sent
        add(
            "scopegate_requests_total adds up to the requests sent",
            ok_total and not mismatch,
            f"sum {total:,} vs {sent:,} sent ({len(answered):,} answered, {n_err} transport "
            f"errors)" + (f"; per status: {', '.join(mismatch)}" if mismatch else ""),
        )
        rel = collections.Counter()
        for labels, v in m.get("scopegate_config_reloads_total", []):
            rel[labels.get("result", "?")] += int(v)
        add(
            "config reloads counted: every valid one ok, every invalid one error",
            rel.get("ok", 0) == self.reloads["ok"] and rel.get("error", 0) == self.reloads["error"],
            f"sent {self.reloads['ok']} valid, {self.reloads['error']} invalid; "
            f"metrics ok={rel.get('ok', 0)} error={rel.get('error', 0)}",
        )
        add(
            "every POST /cache/purge from loopback answered 200",
            self.purges["ok"] == self.purges["sent"],
            f"{self.purges['ok']} of {self.purges['sent']}",
        )

        # 7. Readiness does not follow the AS (it is shared by every replica: failing
        #    readiness would take them all out at once); introspection_up does.
        not_ready = [(t, s) for t, s in self.readyz if s != 200]
        nr_in_as = sum(1 for t, _ in not_ready if self.as_win.which(t, SLACK_AFTER_AS))
        add(
            "/readyz stays 200 through AS outages; /healthz 200",
            not not_ready and self.healthz_bad == 0,
            f"{len(not_ready)} of {len(self.readyz)} /readyz polls not 200 "
            f"({nr_in_as} during AS faults); {self.healthz_bad} /healthz not 200",
        )
        gauge_vals = [v for _, v in self.up_gauge]
        if not gauge_vals or all(v is None for v in gauge_vals):
            add(
                "introspection_up: 0 during an AS outage, 1 otherwise",
                False,
                "gauge scopegate_introspection_up absent from /metrics",
            )
        else:
            zero_in = sum(
                1 for t, v in self.up_gauge if v == 0 and self.as_win.which(t, SLACK_AFTER_AS)
            )
            zero_out = sum(
                1
                for t, v in self.up_gauge
                if v == 0 and not self.as_win.which(t, SLACK_AFTER_AS + 3.0)
            )
            last = m.get("scopegate_introspection_up", [({}, None)])[0][1]
            add(
                "introspection_up: 0 during an AS outage, 1 otherwise",
                zero_in > 0 and zero_out == 0 and last == 1,
                f"0 in {zero_in} polls during AS faults, {zero_out} outside; {last} at the end",
            )

        # 8. No token in scopegate's logs.
        exact = 0
        fragments = 0
        log_bytes = 0
        request_lines = 0
        token_set = {t.encode() for t in toks.value}
        with open(self.proxy_log, "rb") as f:
            for line in f:
                log_bytes += len(line)
                if b'"message":"request"' in line:
                    request_lines += 1
                for hit in TOKEN_RE.findall(line):
                    if hit in token_set:
                        exact += 1
                    else:
                        fragments += 1
        add(
            "no token string in scopegate's logs",
            exact == 0 and fragments == 0,
            f"{log_bytes / 2**20:.1f} MiB, {request_lines:,} request lines: "
            f"{exact} tokens, {fragments} fragments",
        )

        # ---- print ---------------------------------------------------------------
        dur = self.t_end - self.t_warm
        print()
        print(
            f"scopegate soak: {self.args.binary}, seed {self.seed}, "
            f"{dur:.0f} s of load, workdir {self.workdir}"
        )
        print(
            f"clients: {self.args.clients} ({self.args.h2_clients} HTTP/2 on "
            f"{self.args.h2_connections} shared h2c connections); "
            f"{sent:,} requests ({sent / dur:,.0f}/s), "
            f"{sum(1 for r in recs if r[3] == 'h2'):,} over HTTP/2"
        )
        print()
        print("requests by status (client side)")
        print(f"  {'status':<8}{'total':>9}{'HTTP/1.1':>10}{'HTTP/2':>9}")
        per_proto = collections.Counter((r[9], r[3]) for r in answered)
        for s in sorted(statuses):
            print(f"  {s:<8}{statuses[s]:>9,}{per_proto[(s, 'h1')]:>10,}{per_proto[(s, 'h2')]:>9,}")
        print(
            f"  {'error':<8}{n_err:>9,}{sum(1 for r in errors if r[3] == 'h1'):>10,}"
            f"{sum(1 for r in errors if r[3] == 'h2'):>9,}"
        )
        print(f"  {'sent':<8}{sent:>9,}")
        print()
        print("scopegate_requests_total by status group (client answers vs metrics)")
        for name, c, mv in group_rows:
            print(f"  {name:<8}{c:>9,}{mv:>10,}")
        print(f"  {'sum':<8}{len(answered):>9,}{total:>10,}")
        print()
        print("transport errors by phase")
        if not errors:
            print("  none")
        for (ph, proto), v in sorted(err_phase.items()):
            print(f"  {ph:<18} {proto}: {v}")
        if errors:
            print("  by type: " + ", ".join(f"{k} {v}" for k, v in err_kind.most_common()))
        print()
        print("fault windows (seconds from start)")
        for s, e, what in sorted(self.as_win.items + self.up_win.items):
            print(f"  {what:<10} {s - self.t_begin:6.1f} – {e - self.t_begin:6.1f}")
        print()
        print("scopegate process (quiet points: clients closed, pools idle)")
        print(f"  {'':<16}{'RSS MiB':>9}{'fds':>6}")
        print(f"  {'post-warm-up':<16}{rss0 / 2**20:>9.1f}{fd0:>6}")
        print(f"  {'end':<16}{rss1 / 2**20:>9.1f}{fd1:>6}")
        print(f"  {'peak under load':<16}{peak_rss / 2**20:>9.1f}{peak_fds:>6}")
        print()
        print("invariants")
        failed = 0
        for name, ok, detail in results:
            failed += not ok
            print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
        print()
        print(f"{len(results) - failed} passed, {failed} failed")
        if self.args.json_report:
            with open(self.args.json_report, "w") as f:
                json.dump(
                    {
                        "seed": self.seed,
                        "sent": sent,
                        "statuses": dict(statuses),
                        "transport_errors": n_err,
                        "metrics_total": total,
                        "rss": [rss0, rss1],
                        "fds": [fd0, fd1],
                        "invariants": [
                            {"name": n, "pass": ok, "detail": d} for n, ok, d in results
                        ],
                    },
                    f,
                    indent=1,
                )
        return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--duration",
        type=float,
        default=120.0,
        help="seconds of load (warm-up 10%%, faults 75%%, recovery 15%%); default 120",
    )
    p.add_argument(
        "--binary",
        default=os.environ.get(
            "SCOPEGATE_BIN", os.path.join(REPO, "target", "release", "scopegate")
        ),
        help="scopegate binary (default $SCOPEGATE_BIN, else target/release/scopegate)",
    )
    p.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    p.add_argument(
        "--h2-clients", type=int, default=40, help="of those, on shared HTTP/2 h2c connections (40)"
    )
    p.add_argument(
        "--h2-connections", type=int, default=4, help="shared h2c connections they use (4)"
    )
    p.add_argument(
        "--load-procs",
        type=int,
        default=2,
        help="processes sharing the HTTP/1.1 clients (2); the HTTP/2 clients get one more",
    )
    p.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    p.add_argument(
        "--workdir",
        help="keep config, logs and records here (default: a temp dir, removed after a PASS)",
    )
    p.add_argument(
        "--sabotage",
        choices=["forward-token", "public-writes"],
        help="run against a deliberately wrong config (tokens forwarded upstream, or "
        "writes public) to see the invariants fail",
    )
    p.add_argument("--json-report", help="also write the figures as JSON to this file")
    p.add_argument("--role", choices=["as", "upstream", "load"], help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--idx", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.role:
        _die_with_parent()
        if args.role == "as":
            role_as(args.dir, args.port)
        elif args.role == "load":
            role_load(args)
        else:
            role_upstream(args.dir, args.port)
        return 0

    import importlib.util

    missing = [m for m in ("httpx", "h2", "h11") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"soak: missing Python modules {missing}; install them with "
            "`python3 -m pip install httpx h2`",
            file=sys.stderr,
        )
        return 2
    if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
        print(
            f"soak: no scopegate binary at {args.binary}; build it with "
            "`cargo build --release` or pass --binary / SCOPEGATE_BIN",
            file=sys.stderr,
        )
        return 2
    args.binary = os.path.abspath(args.binary)
    if args.clients < 1 or not 0 <= args.h2_clients <= args.clients or args.duration < 5:
        print(
            "soak: need --clients >= 1, 0 <= --h2-clients <= --clients, --duration >= 5",
            file=sys.stderr,
        )
        return 2
    keep = args.workdir is not None
    soak = Soak(args)

    async def runner() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await soak.run()

    code = 2
    try:
        code = asyncio.run(runner())
    except asyncio.CancelledError:
        print("soak: interrupted; stopping everything it started", file=sys.stderr)
        code = 130
    except SetupError as e:
        print(f"soak: {e}", file=sys.stderr)
        code = 2
    finally:
        Child.stop_all()
    if code == 0 and not keep:
        shutil.rmtree(soak.workdir, ignore_errors=True)
    else:
        print(f"soak: logs and records kept in {soak.workdir}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
