#!/usr/bin/env bash
# User-space instructions per cached request, counted by callgrind: a number that does
# not move with the machine's load, for before/after comparisons of one change.
#
#   benches/side-by-side/instructions.sh [--requests N] [--h2c]
#
# Starts the side-by-side upstream (NGINX) and mock authorization server, and scopegate
# with one worker under `valgrind --tool=callgrind`; sends 2,000 warm-up requests with
# one token (the first one an introspection, the rest cache hits), zeroes the counters,
# sends N more (4,000) with h2load over 4 keep-alive connections (HTTP/1.1, or HTTP/2
# prior knowledge with --h2c), and prints the instructions scopegate executed per
# request. Needs valgrind, nginx, h2load (Debian: valgrind, nginx, nghttp2-client) and
# builds scopegate unless SCOPEGATE_BIN is set. Loopback only, free ports, everything
# stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
requests=4000 proto=h1
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests=$2; shift 2 ;;
    --h2c) proto=h2c; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for p in valgrind callgrind_control callgrind_annotate h2load curl; do
  command -v "$p" >/dev/null || { echo "needs $p (Debian: valgrind, nghttp2-client, curl)" >&2; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -z "${SCOPEGATE_BIN:-}" ]; then
  (cd "$root" && cargo build --release --quiet)
  SCOPEGATE_BIN=${CARGO_TARGET_DIR:-$root/target}/release/scopegate
fi

run=$(mktemp -d "${TMPDIR:-/tmp}/scopegate-instr.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port) as=$(free_port) sg=$(free_port) admin=$(free_port)

mkdir -p "$run/upstream"
sed -e "s|@RUN@|$run/upstream|g" -e "s|@UPSTREAM@|$up|g" -e "s|@CORES@|1|g" \
  "$here/nginx-upstream.conf" > "$run/upstream/nginx.conf"
"$NGINX" -p "$run/upstream" -c "$run/upstream/nginx.conf" -g 'daemon off;' > "$run/nginx.log" 2>&1 &
pids+=($!)
python3 "$here/mock_as.py" "$as" > "$run/mock-as.log" 2>&1 &
pids+=($!)
echo demo-secret > "$run/client-secret"
sed -e "s|@LISTEN@|$sg|" -e "s|@WORKERS@|1|" -e "s|@UPSTREAM@|$up|" -e "s|@ADMIN@|$admin|" \
  -e "s|@AS@|$as|" -e "s|@RUN@|$run|" "$here/scopegate.toml.in" > "$run/scopegate.toml"
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$run/callgrind.out" \
  "$SCOPEGATE_BIN" serve --config "$run/scopegate.toml" > "$run/scopegate.log" 2>&1 &
vg=$!
pids+=($vg)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$sg/" && break; sleep 0.2; done

args=(-c4 -H "authorization: Bearer good-instructions-$RANDOM")
[ "$proto" = h1 ] && args+=(--h1)
url="http://127.0.0.1:$sg/orders/42"
h2load "${args[@]}" -n 2000 "$url" > /dev/null
callgrind_control -z "$vg" > /dev/null 2>&1
h2load "${args[@]}" -n "$requests" "$url" > "$run/h2load.txt"
callgrind_control -d "$vg" > /dev/null 2>&1
ok=$(sed -nE 's/^status codes: ([0-9]+) 2xx.*/\1/p' "$run/h2load.txt")
[ "$ok" = "$requests" ] || { echo "only ${ok:-0} of $requests requests got 2xx" >&2; exit 1; }
dump=$(ls -t "$run"/callgrind.out* | head -1)
total=$(callgrind_annotate "$dump" 2>/dev/null | sed -nE 's/^ *([0-9,]+) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
echo "$proto: $((total / requests)) instructions per cached request ($requests requests, one worker, $(basename "$SCOPEGATE_BIN"))"
