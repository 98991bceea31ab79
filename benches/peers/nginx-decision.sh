#!/usr/bin/env bash
# Peer-benchmark candidate: NGINX in front, scopegate in decision mode behind it
# (docs/decision-mode.md#nginx): `auth_request` to scopegate's `/nginx`, identity
# headers copied with `auth_request_set` + `proxy_set_header`, keep-alive upstream
# blocks to scopegate and to the upstream. Configured only from the candidate-slot
# variables listed in benches/peers/README.md; both processes stay in the foreground
# of this process group and stop when it is TERMed.
#
#   SCOPEGATE_BIN=/abs/path/scopegate NGINX_BIN=/usr/sbin/nginx benches/peers/nginx-decision.sh
set -euo pipefail
: "${CANDIDATE_PORT:?}" "${LISTEN_ADDR:?}" "${UPSTREAM_URL:?}" "${INTROSPECTION_URL:?}"
: "${INTROSPECTION_CLIENT_ID:?}" "${INTROSPECTION_CLIENT_SECRET:?}" "${INTROSPECTION_AUTH_METHOD:?}"
: "${PROTECTED_PREFIX:?}" "${REQUIRED_SCOPE:?}" "${CACHE_TTL_SECS:?}"
: "${IDENTITY_HEADER_SUB:?}" "${IDENTITY_HEADER_SCOPE:?}" "${IDENTITY_HEADER_CLIENT_ID:?}"
BIN=${SCOPEGATE_BIN:?set SCOPEGATE_BIN to the scopegate binary}
NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
WORKERS=${NGINX_WORKERS:-2}
DECISION_ADDR=${DECISION_ADDR:-127.0.0.1:$((CANDIDATE_PORT + 200))}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:$((CANDIDATE_PORT + 100))}
upstream_hostport=${UPSTREAM_URL#http://}
upstream_hostport=${upstream_hostport%%/*}

dir=$(mktemp -d "${TMPDIR:-/tmp}/scopegate-nginx-decision.XXXXXX")
chmod 755 "$dir"
mkdir -p "$dir/tmp" "$dir/logs"
# Decision mode only: no [listen], no [upstream]. A form body never reaches the
# decision listener (auth_request sends no body).
# shellcheck source=benches/peers/common.sh
. "$(dirname "$0")/common.sh"
write_scopegate_toml "$dir" "[decision]
addr = \"$DECISION_ADDR\"" '["header", "query"]'

# NGINX variable for a response header: lower case, '-' -> '_'.
var() { printf '%s' "$1" | tr 'A-Z-' 'a-z_'; }
sub=$(var "$IDENTITY_HEADER_SUB")
scope=$(var "$IDENTITY_HEADER_SCOPE")
cid=$(var "$IDENTITY_HEADER_CLIENT_ID")

cat > "$dir/nginx.conf" <<NGINX
worker_processes $WORKERS;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 8192; multi_accept on; }

http {
    access_log off;
    server_tokens off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;

    upstream app       { server $upstream_hostport; keepalive 128; }
    upstream scopegate { server $DECISION_ADDR; keepalive 128; }

    # scopegate's WWW-Authenticate on 403 too (NGINX copies it itself on 401 only).
    map \$status \$sg_www_authenticate_403 { 403 \$sg_www_authenticate; default ""; }

    server {
        listen $LISTEN_ADDR backlog=4096;

        location / {
            auth_request /_scopegate;
            auth_request_set \$sg_sub       \$upstream_http_$sub;
            auth_request_set \$sg_scope     \$upstream_http_$scope;
            auth_request_set \$sg_client_id \$upstream_http_$cid;
            auth_request_set \$sg_www_authenticate \$upstream_http_www_authenticate;
            # Always set, even when empty: a client's copy of an absent claim is removed.
            proxy_set_header $IDENTITY_HEADER_SUB       \$sg_sub;
            proxy_set_header $IDENTITY_HEADER_SCOPE     \$sg_scope;
            proxy_set_header $IDENTITY_HEADER_CLIENT_ID \$sg_client_id;
            add_header WWW-Authenticate \$sg_www_authenticate_403 always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # No URI part: the upstream gets the request target scopegate decided on.
            proxy_pass http://app;
        }

        location = /_scopegate {
            internal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method \$request_method;
            proxy_set_header X-Original-URI    \$request_uri;
            proxy_pass http://scopegate/nginx;
        }
    }
}
NGINX

# The peers keep no access logs; neither does scopegate here.
export RUST_LOG=${RUST_LOG:-warn}
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

"$BIN" serve --config "$dir/scopegate.toml" &
pids+=($!)
# NGINX only starts once scopegate answers, so the first request is decided.
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${DECISION_ADDR%:*}/${DECISION_ADDR##*:}") 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "scopegate exited" >&2; exit 1; }
  sleep 0.1
done
"$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait -n
echo "scopegate or nginx exited" >&2
exit 1
