//! Forwarding (SPEC §3.5): the upstream request is built from the [`Grant`], never from
//! the client's request line, so only the authorized method and path can be sent.
//!
//! Hop-by-hop headers go (RFC 9110 §7.6.1, including those named in `Connection`), so
//! do headers some backends use to re-route or re-method a request; `X-Forwarded-*`
//! are set by us (client copies replaced unless `trust_forwarded_headers`). Bodies
//! stream both ways through a pooled keep-alive client.

use std::net::SocketAddr;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::body::ProxyBody;
use crate::config::UpstreamConfig;
use crate::policy::Grant;
use crate::rejection::Rejection;
use crate::worker::PerWorker;

/// Facts about the client connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct Downstream {
    pub remote: SocketAddr,
    pub tls: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("upstream connection failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("upstream exchange failed")]
    Exchange(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("upstream request could not be built")]
    Build(#[source] http::Error),
}

type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>;

/// The pooled client to one upstream.
pub struct Forwarder {
    /// One pool per worker thread, so a request and its upstream connection share a thread.
    clients: PerWorker<UpstreamClient>,
    scheme: Scheme,
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

/// RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy `Proxy-Connection` and
/// `Keep-Alive` that some clients still send.
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    UPGRADE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Headers that make some backends act on another path or method than the one
/// authorized (IIS/Symfony/Laravel URL rewriting, method override).
const REROUTING: [HeaderName; 5] = [
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

// === impl Forwarder ===

impl Forwarder {
    pub fn new(
        config: &UpstreamConfig,
        trust_forwarded: bool,
    ) -> Result<Self, crate::tls::TlsError> {
        let tls = crate::tls::client_config(config.ca_file.as_deref())?;
        let clients = PerWorker::new(|| {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(config.timeout));
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(1024)
                .build(connector)
        });
        let scheme = config.url.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority =
            config.url.authority().cloned().ok_or_else(|| {
                crate::tls::TlsError::Invalid("upstream url has no authority".into())
            })?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| crate::tls::TlsError::Invalid("upstream authority".into()))?;
        Ok(Self {
            clients,
            scheme,
            authority,
            host,
            prefix: config.url.path().trim_end_matches('/').to_owned(),
            timeout: config.timeout,
            preserve_host: config.preserve_host,
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
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| Rejection::UpstreamUnreachable(ForwardError::Build(e)))?;

        // The client's Host (h1) or :authority (h2), for X-Forwarded-Host and preserve_host.
        let client_host = parts.headers.get(HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });

        let headers = &mut parts.headers;
        remove_hop_by_hop(headers);
        // A scan first: most requests carry none of these, and a scan of a few names is
        // cheaper than five hashed removals.
        if headers.keys().any(|k| REROUTING.contains(k)) {
            for name in &REROUTING {
                headers.remove(name);
            }
        }
        if upgrade {
            // A WebSocket handshake keeps its upgrade headers (hop-by-hop by nature).
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        self.set_forwarded(headers, client_host.as_ref(), downstream);
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
        downstream: Downstream,
    ) {
        let ip = downstream.remote.ip().to_string();
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
            None => HeaderValue::from_str(&ip).ok(),
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
        match tokio::time::timeout(self.timeout, self.clients.get().request(req)).await {
            Err(_) => Err(Rejection::UpstreamTimeout),
            Ok(Err(e)) if e.is_connect() => Err(Rejection::UpstreamUnreachable(
                ForwardError::Connect(Box::new(e)),
            )),
            Ok(Err(e)) => Err(Rejection::UpstreamUnreachable(ForwardError::Exchange(
                Box::new(e),
            ))),
            Ok(Ok(mut rsp)) => {
                if rsp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                    remove_hop_by_hop(rsp.headers_mut());
                }
                Ok(rsp)
            }
        }
    }
}

/// Removes RFC 9110 §7.6.1 hop-by-hop fields and every field named in `Connection`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}
