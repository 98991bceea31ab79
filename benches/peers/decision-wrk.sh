#!/usr/bin/env bash
# Decisions per second and CPU per decision of scopegate's decision listener alone
# (docs/decision-mode.md), for one cached token: starts scopegate with only a
# `[decision]` listener, primes the cache with one request, then runs wrk against
# `GET /nginx` with `X-Original-Method`/`X-Original-URI` and the bearer header, exactly
# as NGINX's auth_request sends it, and reads scopegate's CPU time from /proc.
#
#   SCOPEGATE_BIN=... TOKEN=good-123 INTROSPECTION_URL=... INTROSPECTION_CLIENT_ID=... \
#   INTROSPECTION_CLIENT_SECRET=... benches/peers/decision-wrk.sh [wrk options]
set -euo pipefail
BIN=${SCOPEGATE_BIN:?set SCOPEGATE_BIN to the scopegate binary}
: "${TOKEN:?a token the introspection endpoint answers active with the scope}"
: "${INTROSPECTION_URL:?}" "${INTROSPECTION_CLIENT_ID:?}" "${INTROSPECTION_CLIENT_SECRET:?}"
PREFIX=${PROTECTED_PREFIX:-/orders/}
SCOPE=${REQUIRED_SCOPE:-orders:read}
DECISION_ADDR=${DECISION_ADDR:-127.0.0.1:18283}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:18183}
WRK_ARGS=("$@")
[ ${#WRK_ARGS[@]} -gt 0 ] || WRK_ARGS=(-t1 -c32 -d10s --latency)

dir=$(mktemp -d "${TMPDIR:-/tmp}/scopegate-decision-wrk.XXXXXX")
# shellcheck source=benches/peers/common.sh
. "$(dirname "$0")/common.sh"
write_scopegate_toml "$dir" "[decision]
addr = \"$DECISION_ADDR\"" '["header", "form", "query"]'
RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --config "$dir/scopegate.toml" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fs -o /dev/null "http://$ADMIN_ADDR/readyz" && break
  sleep 0.1
done
url="http://$DECISION_ADDR/nginx"
headers=(-H "X-Original-Method: GET" -H "X-Original-URI: ${PREFIX}42" -H "Authorization: Bearer $TOKEN")
status=$(curl -s -o /dev/null -w '%{http_code}' "${headers[@]}" "$url")
[ "$status" = 200 ] || { echo "priming decision answered $status, not 200" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
out=$(wrk "${WRK_ARGS[@]}" "${headers[@]}" "$url")
after=$(ticks)
echo "$out"
requests=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$out" | grep -q 'Non-2xx' && echo "WARNING: non-2xx answers (see above)" >&2
awk -v r="$requests" -v t="$((after - before))" -v hz="$hz" \
  'BEGIN { printf "scopegate CPU: %.2f s for %d decisions = %.1f us per decision\n", t / hz, r, t / hz / r * 1e6 }'
