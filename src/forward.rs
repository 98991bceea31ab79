//! Forwarding (docs/reference.md#forwarding): the upstream request is built from the [`Grant`], never from
//! the client's request line, so only the authorized method and path can be sent.
//!
//! Hop-by-hop headers go (RFC 9110 §7.6.1, including those named in `Connection`), so
//! do headers some backends use to re-route or re-method a request; `X-Forwarded-*`
//! are set by us (client copies replaced unless `trust_forwarded_headers`). Bodies
//! stream both ways through a pooled keep-alive client.

use std::net::SocketAddr;
use std::time::Duration;

mod pool;
mod settings;

pub(crate) use settings::Upstream;

use http::header::{HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, Request, Response, Uri, Version};
use hyper::body::Incoming;

use crate::body::ProxyBody;
pub(crate) use crate::error::ForwardError;
use crate::header_name;
use crate::policy::Grant;
use crate::rejection::Rejection;

/// Facts about the client connection a request arrived on.
#[derive(Debug, Clone)]
pub struct Downstream {
    pub remote: SocketAddr,
    pub tls: bool,
    /// The client IP as `X-Forwarded-For` text, rendered once per connection rather
    /// than per request (formatting an address was ~2% of a cached request).
    client_ip: HeaderValue,
}

impl Downstream {
    pub fn new(remote: SocketAddr, tls: bool) -> Self {
        let client_ip = HeaderValue::from_maybe_shared(bytes::Bytes::from(remote.ip().to_string()))
            .unwrap_or(HeaderValue::from_static("unknown"));
        Self {
            remote,
            tls,
            client_ip,
        }
    }
}

/// The pooled client to one upstream.
pub struct Forwarder {
    /// One pool per worker thread, so a request and its upstream connection share a thread.
    pool: pool::Pool,
    authority: Authority,
    host: HeaderValue,
    /// The upstream URL's path without its trailing `/` (empty for `/`).
    prefix: String,
    timeout: Duration,
    preserve_host: bool,
    trust_forwarded: bool,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// What the forwarder does with a client-sent header, by its canonical (lower-case,
/// `-`) name. A `match` compiles to length-and-bytes comparisons: cheap per header.
fn listed(name: &str) -> Disposition {
    match name {
        // RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy `Proxy-Connection` and
        // `Keep-Alive` that some clients still send.
        "connection"
        | "te"
        | "trailer"
        | "transfer-encoding"
        | "upgrade"
        | "proxy-authorization"
        | "keep-alive"
        | "proxy-connection" => Disposition::Remove,
        // Headers that make some backends act on another path or method than the one
        // authorized (IIS/Symfony/Laravel URL rewriting, method override, the
        // original-request headers front proxies set for auth subrequests).
        "x-original-url"
        | "x-rewrite-url"
        | "x-http-method-override"
        | "x-http-method"
        | "x-method-override"
        | "x-original-uri"
        | "x-original-method"
        | "x-forwarded-uri"
        | "x-forwarded-path"
        | "x-forwarded-method"
        | "x-envoy-original-path"
        | "x-envoy-original-method" => Disposition::Remove,
        // Client, scheme and prefix headers that frameworks trust (Spring, Werkzeug
        // ProxyFix, Rails/Rack, Express `trust proxy`).
        "forwarded"
        | "x-real-ip"
        | "x-forwarded-port"
        | "x-forwarded-prefix"
        | "x-forwarded-server"
        | "x-forwarded-ssl"
        | "x-forwarded-scheme"
        | "x-url-scheme"
        | "front-end-https"
        | "x-client-ip"
        | "x-cluster-client-ip"
        | "true-client-ip"
        | "client-ip"
        | "cf-connecting-ip" => Disposition::Forwarding,
        "x-forwarded-for" | "x-forwarded-proto" | "x-forwarded-host" => Disposition::Set,
        _ => Disposition::Keep,
    }
}

fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "keep-alive"
            | "proxy-connection"
    )
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

// === impl Forwarder ===

impl Forwarder {
    /// The pooled client for `upstream`, whose URL config validation took apart.
    pub fn new(upstream: &Upstream, trust_forwarded: bool) -> Result<Self, crate::tls::TlsError> {
        let tls = match &upstream.tls_name {
            Some(server_name) => {
                let mut tls = crate::tls::client_config(upstream.ca_file.as_deref())?;
                tls.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some((
                    tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls)),
                    server_name.clone(),
                ))
            }
            None => None,
        };
        let connector = pool::Connector {
            addr: upstream.connect.clone(),
            tls,
            connect_timeout: upstream.timeout,
        };
        Ok(Self {
            pool: pool::Pool::new(connector, 1024, Duration::from_secs(60)),
            authority: upstream.authority.clone(),
            host: upstream.host.clone(),
            prefix: upstream.prefix.clone(),
            timeout: upstream.timeout,
            preserve_host: upstream.preserve_host,
            trust_forwarded,
        })
    }

    /// Builds the upstream request: URI from the grant, headers cleaned and
    /// `X-Forwarded-*` set. Identity headers are added afterwards by the caller.
    pub fn prepare(
        &self,
        mut parts: http::request::Parts,
        body: ProxyBody,
        grant: &Grant<'_>,
        downstream: Downstream,
        upgrade: bool,
    ) -> Result<Request<ProxyBody>, Rejection> {
        let target = grant.target();
        let path_and_query = if self.prefix.is_empty() {
            target.path_and_query.clone()
        } else {
            PathAndQuery::try_from(format!("{}{}", self.prefix, target.path_and_query))
                .map_err(|_| Rejection::Internal("upstream path"))?
        };
        // Origin form (RFC 9112 §3.2.1): the connection already names the upstream.
        let uri = Uri::builder()
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| Rejection::UpstreamUnreachable(ForwardError::Build(e)))?;

        let client_host = client_host(&parts);
        let headers = &mut parts.headers;
        scrub(headers, self.trust_forwarded);
        if upgrade {
            // A WebSocket handshake keeps its upgrade headers (hop-by-hop by nature).
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        self.set_forwarded(headers, client_host.as_ref(), &downstream);
        match (&client_host, self.preserve_host) {
            (Some(host), true) => headers.insert(HOST, host.clone()),
            _ => headers.insert(HOST, self.host.clone()),
        };

        parts.uri = uri;
        parts.method = target.method.clone();
        parts.version = Version::HTTP_11;
        Ok(Request::from_parts(parts, body))
    }

    fn set_forwarded(
        &self,
        headers: &mut HeaderMap,
        client_host: Option<&HeaderValue>,
        downstream: &Downstream,
    ) {
        let ip = &downstream.client_ip;
        let xff = match headers
            .get(&X_FORWARDED_FOR)
            .filter(|_| self.trust_forwarded)
        {
            Some(prior) => {
                let mut joined = prior.as_bytes().to_vec();
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(ip.as_bytes());
                HeaderValue::from_bytes(&joined).ok()
            }
            None => Some(ip.clone()),
        };
        // Only the value we computed survives: every client copy is removed first.
        headers.remove(&X_FORWARDED_FOR);
        if let Some(xff) = xff {
            headers.insert(X_FORWARDED_FOR, xff);
        }
        if !(self.trust_forwarded && headers.contains_key(&X_FORWARDED_PROTO)) {
            let proto = if downstream.tls { "https" } else { "http" };
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        }
        if !(self.trust_forwarded && headers.contains_key(&X_FORWARDED_HOST)) {
            headers.remove(&X_FORWARDED_HOST);
            if let Some(host) = client_host {
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
        }
    }

    /// Sends the request; 502 when the upstream is unreachable or breaks the exchange,
    /// 504 when its response head does not arrive within `upstream.timeout`.
    pub async fn forward(&self, req: Request<ProxyBody>) -> Result<Response<Incoming>, Rejection> {
        match tokio::time::timeout(self.timeout, self.pool.send(req)).await {
            Err(_) => Err(Rejection::UpstreamTimeout),
            Ok(Err(e)) => Err(Rejection::UpstreamUnreachable(e)),
            Ok(Ok(mut rsp)) => {
                if rsp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                    remove_hop_by_hop(rsp.headers_mut());
                }
                Ok(rsp)
            }
        }
    }
}

/// The client's authority, for `X-Forwarded-Host` and `preserve_host`: HTTP/2's
/// `:authority` (a disagreeing `host` field was refused before, RFC 9113 §8.3.1), else
/// `Host`.
fn client_host(parts: &http::request::Parts) -> Option<HeaderValue> {
    let authority = || {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    };
    if parts.version == Version::HTTP_2 {
        authority().or_else(|| parts.headers.get(HOST).cloned())
    } else {
        parts.headers.get(HOST).cloned().or_else(authority)
    }
}

/// How the forwarder treats a client-sent header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Keep,
    /// Removed whatever the settings.
    Remove,
    /// Removed unless `trust_forwarded_headers` (canonical spelling only).
    Forwarding,
    /// Set by scopegate; handled by `set_forwarded`.
    Set,
}

/// docs/reference.md#forwarding: CGI-style backends read `X_HTTP_Method_Override` and `X-HTTP-Method-Override`
/// as the same variable, so names are compared after mapping `_` to `-` (header names
/// are already lower case). A `_` spelling of any listed name is always removed: only
/// canonical names are ever trusted.
fn disposition(name: &str) -> Disposition {
    if !name.as_bytes().contains(&b'_') {
        return listed(name);
    }
    match listed(&header_name::canonical(name)) {
        Disposition::Keep => Disposition::Keep,
        _ => Disposition::Remove,
    }
}

/// Removes hop-by-hop fields (RFC 9110 §7.6.1, including every field named in
/// `Connection`), re-routing fields, and forwarding fields unless trusted. One scan of
/// the names first: most requests carry none of these.
fn scrub(headers: &mut HeaderMap, trust_forwarded: bool) {
    let doomed = |name: &HeaderName| match disposition(name.as_str()) {
        Disposition::Remove => true,
        Disposition::Forwarding => !trust_forwarded,
        Disposition::Keep | Disposition::Set => false,
    };
    if !headers.keys().any(|k| doomed(k) || k == CONNECTION) {
        return;
    }
    let mut names: Vec<HeaderName> = headers.keys().filter(|k| doomed(k)).cloned().collect();
    // Fields the client named in `Connection` are hop-by-hop too, in any spelling.
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| header_name::canonical(&n.trim().to_ascii_lowercase()).into_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if !named.is_empty() {
        names.extend(
            headers
                .keys()
                .filter(|k| named.iter().any(|n| header_name::same(n, k.as_str())))
                .cloned(),
        );
    }
    for name in names {
        headers.remove(&name);
    }
}

/// Removes hop-by-hop fields from an upstream response (RFC 9110 §7.6.1).
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let mut suspects = headers
        .keys()
        .filter(|k| is_hop_by_hop(k.as_str()) || k.as_str().as_bytes().contains(&b'_'));
    match (suspects.next(), suspects.next()) {
        (None, _) => return,
        // Nearly every keep-alive upstream answers with `Connection: keep-alive` and
        // nothing else to remove: one removal, no allocation. `close` names a field
        // that may exist, so it goes too (what the general path below would do).
        (Some(only), None) if only == CONNECTION && names_only_keep_alive_or_close(headers) => {
            headers.remove(CONNECTION);
            headers.remove("close");
            return;
        }
        _ => {}
    }
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| header_name::canonical(&n.trim().to_ascii_lowercase()).into_owned())
        .collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let n = header_name::canonical(k.as_str());
            is_hop_by_hop(&n) || named.iter().any(|m| *m == n)
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// Whether every option of every `Connection` field is `keep-alive` or `close`.
fn names_only_keep_alive_or_close(headers: &HeaderMap) -> bool {
    headers.get_all(CONNECTION).iter().all(|v| {
        v.as_bytes().split(|b| *b == b',').all(|option| {
            let option = option.trim_ascii();
            option.eq_ignore_ascii_case(b"keep-alive") || option.eq_ignore_ascii_case(b"close")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_after_mapping_underscores() {
        assert_eq!(disposition("x_http_method_override"), Disposition::Remove);
        assert_eq!(disposition("x-http-method-override"), Disposition::Remove);
        assert_eq!(disposition("x_forwarded_for"), Disposition::Remove);
        assert_eq!(disposition("x-forwarded-for"), Disposition::Set);
        assert_eq!(disposition("x_real_ip"), Disposition::Remove);
        assert_eq!(disposition("x-real-ip"), Disposition::Forwarding);
        assert_eq!(disposition("forwarded"), Disposition::Forwarding);
        assert_eq!(disposition("transfer_encoding"), Disposition::Remove);
        assert_eq!(disposition("x_custom"), Disposition::Keep);
        assert_eq!(disposition("accept"), Disposition::Keep);
    }

    fn map(names: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for n in names {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        h
    }

    #[test]
    fn scrub_removes_every_spelling_and_keeps_the_rest() {
        let mut h = map(&[
            "x_http_method_override",
            "x_original_url",
            "forwarded",
            "x-real-ip",
            "x_forwarded_for",
            "x-forwarded-for",
            "accept",
        ]);
        scrub(&mut h, false);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-forwarded-for"]);

        let mut h = map(&["forwarded", "x-real-ip", "x_real_ip", "x_forwarded_proto"]);
        scrub(&mut h, true);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["forwarded", "x-real-ip"]);
    }

    #[test]
    fn fields_named_in_connection_go_in_any_spelling() {
        let mut h = map(&["x-secret", "x_other", "accept"]);
        h.insert(CONNECTION, HeaderValue::from_static("X-Secret, x-other"));
        scrub(&mut h, false);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn response_hop_by_hop_fields_go_on_the_fast_and_the_general_path() {
        // Fast path: only `Connection: keep-alive` (or close) to remove.
        let mut h = map(&["content-type", "x-app"]);
        h.insert(CONNECTION, HeaderValue::from_static("Keep-Alive"));
        remove_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-type", "x-app"]);

        let mut h = map(&["close", "x-app"]);
        h.insert(CONNECTION, HeaderValue::from_static("close"));
        remove_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-app"]);

        // General path: fields named in Connection, other hop-by-hop fields, `_` spellings.
        let mut h = map(&["x-secret", "keep-alive", "transfer_encoding", "x-app"]);
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        remove_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-app"]);

        let mut h = map(&["x-secret", "x-app"]);
        h.insert(CONNECTION, HeaderValue::from_static("x-secret"));
        remove_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-app"]);

        let mut h = map(&["x-app"]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
    }
}
