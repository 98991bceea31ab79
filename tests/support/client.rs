//! HTTP client and assertions: `Req` builds and sends one request (h1 or h2), `Resp`
//! holds the answer with assertion helpers.

use super::*;

// === HTTP client ===

/// One HTTP/1.1 request on a fresh connection.
#[derive(Clone)]
pub struct Req {
    addr: SocketAddr,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    h2: bool,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Req {
    pub fn new(addr: SocketAddr, method: &str, target: &str) -> Self {
        Self {
            addr,
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            h2: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn json(self, body: &str) -> Self {
        self.header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
    }

    /// `application/x-www-form-urlencoded` body, encoded in the given order.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            s.append_pair(k, v);
        }
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(s.finish().into_bytes())
    }

    /// Send over h2c (prior knowledge) instead of HTTP/1.1.
    pub fn h2(mut self) -> Self {
        self.h2 = true;
        self
    }

    pub async fn send(self) -> Resp {
        let what = format!("{} {} -> {}", self.method, self.target, self.addr);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.try_send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => panic!("{what}: no answer within {REQUEST_TIMEOUT:?}"),
        }
    }

    pub fn build(&self) -> http::Request<Full<Bytes>> {
        let uri = if self.h2 {
            format!("http://{}{}", self.addr, self.target)
        } else {
            self.target.clone()
        };
        let mut req = http::Request::builder()
            .method(self.method.as_str())
            .uri(uri)
            .body(Full::new(Bytes::from(self.body.clone())))
            .expect("request");
        if self.h2 {
            *req.version_mut() = http::Version::HTTP_2;
        }
        let headers = req.headers_mut();
        let has_host = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"));
        if !has_host && !self.h2 {
            headers.insert(
                http::header::HOST,
                HeaderValue::from_str(&self.addr.to_string()).unwrap(),
            );
        }
        for (k, v) in &self.headers {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(v.as_bytes()).expect("header value"),
            );
        }
        req
    }

    pub async fn try_send(self) -> Result<Resp, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let req = self.build();
        send_on(TokioIo::new(tcp), req, self.h2).await
    }
}

/// Sends one request over any IO (plain TCP or TLS), HTTP/1.1 or HTTP/2.
pub async fn send_on<I>(io: I, req: http::Request<Full<Bytes>>, h2: bool) -> Result<Resp, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn.with_upgrades());
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let version = resp.version();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Resp {
        status,
        headers,
        body,
        version,
    })
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The `error` member of a JSON error body.
    pub fn error(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("error")?
            .as_str()
            .map(str::to_string)
    }

    pub fn www_authenticate(&self) -> Option<String> {
        self.header("www-authenticate")
    }

    /// Asserts status, error code and the whole `WWW-Authenticate` (None = absent).
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, www: Option<&str>) {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.error().as_deref(),
            Some(code),
            "error code; body: {}",
            self.text()
        );
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "error content-type {ct:?}"
        );
        match www {
            None => assert_eq!(
                self.www_authenticate(),
                None,
                "no WWW-Authenticate expected"
            ),
            Some(w) => assert_eq!(
                self.www_authenticate().as_deref(),
                Some(w),
                "WWW-Authenticate"
            ),
        }
    }

    /// Asserts a `WWW-Authenticate` with `error="invalid_token"` and some description.
    #[track_caller]
    pub fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "status; body: {}", self.text());
        assert_eq!(
            self.error().as_deref(),
            Some("invalid_token"),
            "body: {}",
            self.text()
        );
        let w = self.www_authenticate().expect("WWW-Authenticate on 401");
        assert!(
            w.starts_with(r#"Bearer realm="api", error="invalid_token", error_description=""#)
                && w.ends_with('"'),
            "WWW-Authenticate: {w}"
        );
    }
}
