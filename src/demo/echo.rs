//! The demo echo upstream: answers every request with a JSON description of what it
//! received (method, path, identity headers), and `/users/{name}/profile` with a
//! profile document whose `contact` and `likes` fields the demo routes filter.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|req| async move { Ok::<_, Infallible>(handle(&req)) });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn handle(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let segments: Vec<&str> = path.split('/').collect();
    let body = if let ["", "users", user, "profile"] = segments.as_slice() {
        serde_json::json!({
            "user": user,
            "name": format!("{user} example"),
            "contact": format!("{user}@example.com"),
            "likes": ["rust", "oauth"],
        })
    } else {
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-"))
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes())
                        .into_owned()
                        .into(),
                )
            })
            .collect();
        serde_json::json!({
            "method": req.method().as_str(),
            "path": path,
            "query": req.uri().query(),
            "headers": headers,
        })
    };
    let mut rsp = Response::new(Full::new(Bytes::from(body.to_string())));
    rsp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rsp
}
