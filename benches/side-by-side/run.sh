#!/usr/bin/env bash
# scopegate next to a bare NGINX hop, on loopback, from this repository alone.
#
#   benches/side-by-side/run.sh [--scenario one-token|many-token] [--duration S]
#                               [--threads N] [--connections N] [--profile]
#                               [--h2c STREAMS]
#
# Runs one upstream (NGINX `return 200`, a 314-byte JSON body), then measures with wrk,
# one at a time: `direct` (wrk straight at the upstream), `hop` (NGINX as a bare
# keep-alive reverse proxy, no token check: the cost of one userspace hop) and
# `scopegate` (introspection against a mock authorization server, cached). Prints
# req/s, ratios, latency and each proxy's own CPU time per request. Installs nginx, wrk
# and curl from Debian packages when missing; builds scopegate unless SCOPEGATE_BIN is
# set. Everything binds 127.0.0.1 on free ports; every process is stopped on exit.
# See benches/side-by-side/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scenario=one-token duration=10 threads=2 connections=64 tokens=10000 profile=0 h2c=
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --profile) profile=1; shift ;;
    --h2c) h2c=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case "$scenario" in one-token|many-token) ;; *) echo "--scenario one-token|many-token" >&2; exit 2 ;; esac
if [ -n "$h2c" ] && { [ "$scenario" != one-token ] || ! [ "$h2c" -ge 1 ] 2>/dev/null; }; then
  echo "--h2c STREAMS: a positive number of streams per connection, one-token scenario only" >&2; exit 2
fi

# ------------------------------------------------------------------ packages, binary
need=()
for p in nginx wrk curl; do command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || need+=("$p"); done
[ -n "$h2c" ] && ! command -v h2load >/dev/null && need+=(nghttp2-client)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  # Keep the distro's nginx service from starting (port 80): a policy-rc.d we add and
  # remove, only if there is none.
  added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d; added=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
  [ "$added" = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$profile" = 1 ]; then
  command -v perf >/dev/null || { echo "--profile needs perf (Debian: linux-perf)" >&2; exit 2; }
  if [ -z "${SCOPEGATE_BIN:-}" ]; then
    # Frame pointers, so perf can walk user-space stacks; its own target directory, so
    # the release build stays as it is.
    (cd "$root" && RUSTFLAGS="-C force-frame-pointers=yes" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
      cargo build --release --quiet --target-dir "$root/target/frame-pointers")
    SCOPEGATE_BIN=$root/target/frame-pointers/release/scopegate
  fi
elif [ -z "${SCOPEGATE_BIN:-}" ]; then
  (cd "$root" && cargo build --release --quiet)
  SCOPEGATE_BIN=${CARGO_TARGET_DIR:-$root/target}/release/scopegate
fi

out="$root/target/side-by-side/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
run=$(mktemp -d "${TMPDIR:-/tmp}/scopegate-sbs.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "nothing listens on :$1" >&2; return 1; }
declare -A group
# start NAME CMD...: its own process group (setsid), recorded for CPU accounting and stop.
start() { local name=$1; shift; setsid "$@" > "$run/$name.log" 2>&1 & pids+=($!); group[$name]=$!; }

up=$(free_port) as=$(free_port) hop=$(free_port) sg=$(free_port) admin=$(free_port)
cores=$(nproc)
for name in upstream hop; do
  mkdir -p "$run/$name"
  sed -e "s|@RUN@|$run/$name|g" -e "s|@UPSTREAM@|$up|g" -e "s|@HOP@|$hop|g" -e "s|@CORES@|$cores|g" \
    "$here/nginx-$name.conf" > "$run/$name/nginx.conf"
  start "$name" "$NGINX" -p "$run/$name" -c "$run/$name/nginx.conf" -g 'daemon off;'
done
start mock-as python3 "$here/mock_as.py" "$as"
echo demo-secret > "$run/client-secret"
sed -e "s|@LISTEN@|$sg|" -e "s|@WORKERS@|$cores|" -e "s|@UPSTREAM@|$up|" -e "s|@ADMIN@|$admin|" \
  -e "s|@AS@|$as|" -e "s|@RUN@|$run|" "$here/scopegate.toml.in" > "$run/scopegate.toml"
RUST_LOG=warn start scopegate "$SCOPEGATE_BIN" serve --config "$run/scopegate.toml"
for p in "$up" "$hop" "$sg"; do wait_port "$p"; done
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$as/count" && break; sleep 0.1; done

# ------------------------------------------------------------------ correctness first
nonce=$RANDOM$RANDOM
check() { # want, then curl arguments
  local want=$1; shift
  local got; got=$(curl -s -o "$run/check.body" -D "$run/check.head" -w '%{http_code}' "$@")
  [ "$got" = "$want" ] || { echo "check failed: $* -> $got, want $want" >&2; exit 1; }
}
base="http://127.0.0.1:$sg/orders/42"
check 200 -H "Authorization: Bearer good-check-$nonce" "$base"
grep -qi '^x-upstream-saw-sub: alice' "$run/check.head" || { echo "check failed: the upstream did not see X-Auth-Sub: alice" >&2; exit 1; }
check 401 -H "Authorization: Bearer bad-$nonce" "$base"
check 401 "$base"
echo "checks: valid 200 (upstream saw X-Auth-Sub: alice), bad 401, missing 401"

# ------------------------------------------------------------------ measurement
tck=$(getconf CLK_TCK)
# utime+stime in clock ticks of the processes in process group $1 (nginx workers included).
cpu_of() { local t=0; for p in $(ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g {print $1}'); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
busy() { awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat; }   # all cores, non-idle ticks
# Context switches of every thread in process group $1: "voluntary involuntary".
switches_of() {
  local v=0 i=0 a b
  for p in $(ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g {print $1}'); do
    for t in /proc/"$p"/task/*; do
      read -r a b < <(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v+0, n+0}' "$t/status" 2>/dev/null || echo 0 0)
      v=$((v + a)) i=$((i + b))
    done
  done
  echo "$v $i"
}
measure() { # name port process-group
  local name=$1 port=$2 match=$3 args=(-t"$threads" -c"$connections" --latency --timeout 5s)
  if [ "$scenario" = one-token ]; then
    args+=(-H "Authorization: Bearer good-one-$nonce")
  else
    args+=(-s "$here/many_tokens.lua")
    export TOKENS=$tokens TOKEN_PREFIX="good-many-$name-$nonce-" WRK_THREADS=$threads
  fi
  wrk "${args[@]}" -d2s "http://127.0.0.1:$port/orders/42" > /dev/null          # warm-up
  [ "$scenario" = many-token ] && export TOKEN_PREFIX="good-many-$name-$nonce-m-"
  local c0 b0 c1 b1 calls0 calls1 s0 s1 perf_pid=
  c0=$(cpu_of "$match"); b0=$(busy); calls0=$(curl -s "http://127.0.0.1:$as/count")
  s0=$(switches_of "$match")
  if [ "$profile" = 1 ] && [ "$name" = scopegate ]; then
    perf record -q -F 2000 --call-graph fp -p "$match" -o "$out/scopegate.perf" -- sleep "$duration" 2>/dev/null &
    perf_pid=$!
  fi
  wrk "${args[@]}" -d"${duration}s" "http://127.0.0.1:$port/orders/42" > "$out/$name.wrk"
  c1=$(cpu_of "$match"); b1=$(busy); calls1=$(curl -s "http://127.0.0.1:$as/count")
  s1=$(switches_of "$match")
  [ -n "$perf_pid" ] && wait "$perf_pid"
  python3 - "$out/$name.wrk" "$name" "$((c1 - c0))" "$((b1 - b0))" "$tck" "$((calls1 - calls0))" "$duration" "$cores" "$s0" "$s1" >> "$out/rows.tsv" <<'PY'
import re, sys
path, name, cpu, busy, tck, calls, dur, cores, s0, s1 = sys.argv[1:]
vol, invol = (int(b) - int(a) for a, b in zip(s0.split(), s1.split()))
w = open(path).read()
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, w, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
n = int(re.search(r"(\d+) requests in", w).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", w)) else 0
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", w))
# The proxy's own CPU per request; for direct, the upstream's (what every row also pays).
us = int(cpu) / int(tck) * 1e6 / n
print("\t".join(map(str, [name, rps, lat(50), lat(99), non2xx, errors, int(calls), round(us, 1),
                          round(100 * int(busy) / int(tck) / float(dur) / int(cores), 1),
                          round(vol / n, 3), round(invol / n, 3)])))
PY
}
# The same token over HTTP/2 without TLS (prior knowledge), $h2c streams in flight per
# connection: h2load, as wrk speaks only HTTP/1.1. It reports no percentiles.
measure_h2c() { # name port process-group
  local name=$1 port=$2 match=$3 url="http://127.0.0.1:$2/orders/42"
  local args=(-t"$threads" -c"$connections" -m"$h2c" -H "authorization: Bearer good-one-$nonce")
  h2load "${args[@]}" -D 2 "$url" > /dev/null                                     # warm-up
  local c0 b0 c1 b1 s0 s1
  local perf_pid=
  c0=$(cpu_of "$match"); b0=$(busy); s0=$(switches_of "$match")
  if [ "$profile" = 1 ]; then
    perf record -q -F 2000 --call-graph fp -p "$match" -o "$out/$name.perf" -- sleep "$duration" 2>/dev/null &
    perf_pid=$!
  fi
  h2load "${args[@]}" -D "$duration" "$url" > "$out/$name.h2load"
  c1=$(cpu_of "$match"); b1=$(busy); s1=$(switches_of "$match")
  [ -n "$perf_pid" ] && wait "$perf_pid"
  python3 - "$out/$name.h2load" "$name" "$((c1 - c0))" "$((b1 - b0))" "$tck" "$duration" "$cores" "$s0" "$s1" >> "$out/rows.tsv" <<'PY'
import re, sys
path, name, cpu, busy, tck, dur, cores, s0, s1 = sys.argv[1:]
vol, invol = (int(b) - int(a) for a, b in zip(s0.split(), s1.split()))
w = open(path).read()
m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", w)
done, _succeeded, failed, errored, timeout = map(int, m.groups())
rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", w).group(1))
# Counted as they arrive, answers to requests still in flight at the stop included.
codes = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", w)
non2xx = sum(map(int, codes.groups())) if codes else done
us = int(cpu) / int(tck) * 1e6 / max(done, 1)
print("\t".join(map(str, [name, rps, "nan", "nan", non2xx, failed + errored + timeout, 0, round(us, 1),
                          round(100 * int(busy) / int(tck) / float(dur) / int(cores), 1),
                          round(vol / max(done, 1), 3), round(invol / max(done, 1), 3)])))
PY
}
measure direct "$up" "${group[upstream]}"
measure hop "$hop" "${group[hop]}"
measure scopegate "$sg" "${group[scopegate]}"
[ -n "$h2c" ] && measure_h2c scopegate-h2c "$sg" "${group[scopegate]}"

python3 - "$out/rows.tsv" "$scenario" "$threads" "$connections" "$duration" "$h2c" <<'PY' | tee "$out/summary.txt"
import sys
path, scenario, threads, conns, dur, streams = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(path)]
by = {r[0]: r for r in rows}
d, h = float(by["direct"][1]), float(by["hop"][1])
print(f"scenario {scenario}: wrk -t{threads} -c{conns} -d{dur}s, loopback")
if streams:
    print(f"scopegate-h2c: the same, h2load -t{threads} -c{conns} -m{streams} -D {dur} (HTTP/2 prior knowledge; no percentiles)")
print(f"{'':13} {'req/s':>9} {'x direct':>8} {'x hop':>6} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'errors':>6} {'AS calls':>8} {'CPU us/req':>10} {'busy%':>6} {'cs/req':>12}")
for name, rps, p50, p99, non2xx, errors, calls, us, busy, vol, invol in rows:
    rps = float(rps)
    print(f"{name:13} {rps:9.0f} {rps / d:8.3f} {rps / h:6.2f} {float(p50):7.2f} {float(p99):7.2f} {non2xx:>7} {errors:>6} {calls:>8} {us:>10} {busy:>6} {vol:>5}+{invol:<6}")
s = by["scopegate"]
print(f"scopegate / hop: {float(s[1]) / h:.2f} x the req/s, {float(s[7]) / float(by['hop'][7]):.2f} x the CPU per request")
if "scopegate-h2c" in by:
    print(f"scopegate h2c / HTTP/1.1: {float(by['scopegate-h2c'][7]) / float(s[7]):.2f} x the CPU per request")
print("CPU us/req: the proxy's own processes (for direct: the upstream); busy%: all cores, whole machine.")
print("cs/req: context switches of those processes' threads per request, voluntary+involuntary.")
PY
if [ "$profile" = 1 ]; then
  echo
  perf script -i "$out/scopegate.perf" -F ip,sym,dso 2>/dev/null | python3 "$here/breakdown.py" | tee "$out/breakdown.txt"
  if [ -n "$h2c" ]; then
    echo; echo "scopegate-h2c:"
    perf script -i "$out/scopegate-h2c.perf" -F ip,sym,dso 2>/dev/null | python3 "$here/breakdown.py" | tee "$out/breakdown-h2c.txt"
  fi
fi
echo "raw wrk output: $out"
