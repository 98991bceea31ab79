//! docs/reference.md#configuration `[listen.tls]` / §7: rustls listener, ALPN h2 and http/1.1, X-Forwarded-Proto https.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

async fn tls_harness() -> (Harness, rustls::pki_types::CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = ck.cert.der().clone();
    let cfg = TestConfig::standard().tls("tls.crt", "tls.key");
    let auth = AuthServer::start().await;
    add_standard_tokens(&auth);
    let up = Upstream::start().await;
    // The files must exist before the binary starts: write them into the dir the harness
    // will use by pre-creating it through a template config dir.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), ck.key_pair.serialize_pem()).unwrap();
    let mut cfg = cfg;
    cfg.tls = Some((
        dir.path().join("tls.crt").display().to_string(),
        dir.path().join("tls.key").display().to_string(),
    ));
    let h = Harness::start_with(cfg, auth, up).await;
    let _kept = dir.keep(); // keep the files for the binary's lifetime
    (h, cert_der)
}

async fn connect(
    h: &Harness,
    cert: &rustls::pki_types::CertificateDer<'static>,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(h.proxy_addr).await.unwrap();
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(alpn),
        "ALPN not negotiated"
    );
    stream
}

#[tokio::test]
async fn tls_http1_request_is_proxied_with_forwarded_proto_https() {
    let (h, cert) = tls_harness().await;
    let s = connect(&h, &cert, b"http/1.1").await;
    let req = Req::new(h.proxy_addr, "GET", "/orders/1")
        .bearer("t-read")
        .header("host", "localhost")
        .build();
    let r = send_on(hyper_util::rt::TokioIo::new(s), req, false)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.version, http::Version::HTTP_11);
    let up = h.upstream.single();
    assert_eq!(up.header("x-forwarded-proto"), Some("https"));
    assert_eq!(up.header("x-auth-subject"), Some("alice"));
}

#[tokio::test]
async fn tls_h2_via_alpn_is_proxied() {
    let (h, cert) = tls_harness().await;
    let s = connect(&h, &cert, b"h2").await;
    let mut req = Req::new(h.proxy_addr, "GET", "/orders/1")
        .bearer("t-read")
        .h2()
        .build();
    *req.uri_mut() = "https://localhost/orders/1".parse().unwrap();
    let r = send_on(hyper_util::rt::TokioIo::new(s), req, true)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.version, http::Version::HTTP_2);
    let up = h.upstream.single();
    assert_eq!(up.target, "/orders/1");
    assert_eq!(up.header("x-forwarded-proto"), Some("https"));
}

#[tokio::test]
async fn tls_listener_refuses_plaintext() {
    let (h, _cert) = tls_harness().await;
    let resp = h
        .raw(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert!(!resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(h.upstream.requests().is_empty());
}
