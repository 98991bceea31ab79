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
# shellcheck source=benches/peers/common.sh
. "$(dirname "$0")/common.sh"
write_scopegate_toml "$dir" "[listen]
addr = \"$LISTEN_ADDR\"

[upstream]
url = \"$UPSTREAM_URL\"" '["header", "form", "query"]'
# The peers keep no access logs; neither does scopegate, for a fair comparison.
export RUST_LOG=${RUST_LOG:-warn}
exec "$BIN" serve --config "$dir/scopegate.toml"
