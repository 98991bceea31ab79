//! GETs of JWKS and discovery documents: bounded in time (`timeout` per fetch) and
//! size (1 MiB), status 200 only, one strict JSON object.

use std::time::Duration;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

use crate::body::collect_limited;

/// A key set or metadata document larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Why a fetch failed; the last good key set stays in use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("timed out")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answer is not one JSON object or is larger than 1 MiB")]
    Unparseable,
    #[error("{0}")]
    Invalid(&'static str),
}

pub(crate) struct Fetcher {
    client: HttpsClient,
    timeout: Duration,
}

impl Fetcher {
    pub(crate) fn new(
        ca_file: Option<&std::path::Path>,
        timeout: Duration,
    ) -> Result<Self, crate::tls::TlsError> {
        let tls = crate::tls::client_config(ca_file)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        // Fetches are rare and may run on any runtime: no pooled connections.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self { client, timeout })
    }

    /// One GET, as a whole bounded by the fetch timeout.
    pub(crate) async fn get_json(&self, uri: &Uri) -> Result<Map<String, Value>, FetchError> {
        match tokio::time::timeout(self.timeout, self.get(uri)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn get(&self, uri: &Uri) -> Result<Map<String, Value>, FetchError> {
        let req = Request::get(uri.clone())
            .header(ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|_| FetchError::Invalid("request could not be built"))?;
        let rsp = self
            .client
            .request(req)
            .await
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        if rsp.status() != StatusCode::OK {
            return Err(FetchError::Status(rsp.status().as_u16()));
        }
        let (parts, body) = rsp.into_parts();
        let buf = collect_limited(body, &parts.headers, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|_| FetchError::Unparseable)?;
        crate::introspect::client::parse_object(&buf).ok_or(FetchError::Unparseable)
    }
}
