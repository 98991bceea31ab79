# Sourced by the peer-benchmark scripts: the scopegate config they share.
#
# write_scopegate_toml DIR LISTENERS SOURCES writes DIR/scopegate.toml (and the client
# secret to DIR/client-secret): the listener table(s) LISTENERS, the admin listener on
# $ADMIN_ADDR, introspection from the slot variables, the cache ttl, token SOURCES (a
# TOML array), the identity header names, and one route `PROTECTED_PREFIX**` requiring
# REQUIRED_SCOPE. Unset optional variables take scopegate's defaults.
write_scopegate_toml() {
  local dir=$1 listeners=$2 sources=$3
  local prefix=${PROTECTED_PREFIX:-/orders/}
  printf '%s' "$INTROSPECTION_CLIENT_SECRET" > "$dir/client-secret"
  cat > "$dir/scopegate.toml" <<TOML
$listeners

[admin]
addr = "$ADMIN_ADDR"

[introspection]
endpoint = "$INTROSPECTION_URL"
client_id = "$INTROSPECTION_CLIENT_ID"
client_secret_file = "$dir/client-secret"
auth_method = "${INTROSPECTION_AUTH_METHOD:-client_secret_basic}"

[introspection.cache]
ttl = "${CACHE_TTL_SECS:-60}s"

[token]
sources = $sources

[identity]
subject = "${IDENTITY_HEADER_SUB:-X-Auth-Subject}"
scope = "${IDENTITY_HEADER_SCOPE:-X-Auth-Scope}"
client_id = "${IDENTITY_HEADER_CLIENT_ID:-X-Auth-Client-Id}"

[[route]]
path = "${prefix%/}/**"
scopes = ["${REQUIRED_SCOPE:-orders:read}"]
TOML
}
