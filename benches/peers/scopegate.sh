#!/usr/bin/env bash
# Peer-benchmark candidate: scopegate itself as the proxy, configured only from the
# candidate-slot variables listed in benches/peers/README.md; stays in the foreground.
#
#   SCOPEGATE_BIN=/abs/path/scopegate benches/peers/scopegate.sh
set -euo pipefail
: "${CANDIDATE_PORT:?}" "${LISTEN_ADDR:?}" "${UPSTREAM_URL:?}" "${INTROSPECTION_URL:?}"
: "${INTROSPECTION_CLIENT_ID:?}" "${INTROSPECTION_CLIENT_SECRET:?}" "${INTROSPECTION_AUTH_METHOD:?}"
: "${PROTECTED_PREFIX:?}" "${REQUIRED_SCOPE:?}" "${CACHE_TTL_SECS:?}"
: "${IDENTITY_HEADER_SUB:?}" "${IDENTITY_HEADER_SCOPE:?}" "${IDENTITY_HEADER_CLIENT_ID:?}"
BIN=${SCOPEGATE_BIN:?set SCOPEGATE_BIN to the scopegate binary}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:$((CANDIDATE_PORT + 100))}
dir=$(mktemp -d "${TMPDIR:-/tmp}/scopegate-candidate.XXXXXX")
printf '%s' "$INTROSPECTION_CLIENT_SECRET" > "$dir/client-secret"
cat > "$dir/scopegate.toml" <<TOML
[listen]
addr = "$LISTEN_ADDR"

[admin]
addr = "$ADMIN_ADDR"

[upstream]
url = "$UPSTREAM_URL"

[introspection]
endpoint = "$INTROSPECTION_URL"
client_id = "$INTROSPECTION_CLIENT_ID"
client_secret_file = "$dir/client-secret"
auth_method = "$INTROSPECTION_AUTH_METHOD"

[introspection.cache]
ttl = "${CACHE_TTL_SECS}s"

[token]
sources = ["header", "form", "query"]

[identity]
subject = "$IDENTITY_HEADER_SUB"
scope = "$IDENTITY_HEADER_SCOPE"
client_id = "$IDENTITY_HEADER_CLIENT_ID"

[[route]]
path = "${PROTECTED_PREFIX%/}/**"
scopes = ["$REQUIRED_SCOPE"]
TOML
# The peers keep no access logs; neither does scopegate, for a fair comparison.
export RUST_LOG=${RUST_LOG:-warn}
exec "$BIN" serve --config "$dir/scopegate.toml"
