//! The RFC 7662 client: §2.1 request with client authentication, §2.2 answer parsed
//! strictly (one JSON object, no duplicate keys, `active` a boolean, ≤ 1 MiB).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{AuthMethod, IntrospectionConfig};
use super::{IntrospectError, TokenInfo};
use crate::body::{collect_limited, CollectError};
use crate::claims::{Needs, ParseError};
use crate::worker::PerWorker;

/// An answer larger than this is refused (docs/reference.md#limits).
pub(crate) const MAX_ANSWER_BYTES: usize = 1024 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A pooled keep-alive client for one introspection endpoint.
#[derive(Clone)]
pub(crate) struct IntrospectionClient {
    /// One pool per worker thread (see [`crate::worker`]).
    clients: Arc<PerWorker<HttpsClient>>,
    endpoint: Uri,
    /// Precomputed `Authorization: Basic …` (client_secret_basic) — sensitive.
    basic: Option<HeaderValue>,
    /// Precomputed `&client_id=…&client_secret=…` (client_secret_post).
    post_suffix: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl IntrospectionClient {
    pub(crate) fn new(config: &IntrospectionConfig) -> Result<Self, crate::tls::TlsError> {
        let tls = crate::tls::client_config(config.ca_file.as_deref())?;
        let clients = Arc::new(PerWorker::new(|| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
                .build();
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(connector)
        }));
        let (basic, post_suffix) = match config.auth_method {
            AuthMethod::ClientSecretBasic => {
                // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
                let id: String =
                    form_urlencoded::byte_serialize(config.client_id.as_bytes()).collect();
                let secret: String =
                    form_urlencoded::byte_serialize(config.client_secret.expose().as_bytes())
                        .collect();
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
                let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
                    .map_err(|_| crate::tls::TlsError::Invalid("client credentials".into()))?;
                value.set_sensitive(true);
                (Some(value), None)
            }
            AuthMethod::ClientSecretPost => {
                let suffix = form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_id", &config.client_id)
                    .append_pair("client_secret", config.client_secret.expose())
                    .finish();
                (None, Some(format!("&{suffix}")))
            }
        };
        Ok(Self {
            clients,
            endpoint: config.endpoint.clone(),
            basic,
            post_suffix,
            timeout: config.timeout,
        })
    }

    /// One introspection call, bounded by the configured timeout as a whole: the
    /// parsed answer, and the answer as received (the shared cache stores all of it,
    /// for replicas whose configuration reads members this one drops).
    pub(crate) async fn introspect(
        &self,
        token: &[u8],
        needs: &Needs,
    ) -> Result<(TokenInfo, Bytes), IntrospectError> {
        let answer = match tokio::time::timeout(self.timeout, self.call(token)).await {
            Ok(result) => result?,
            Err(_) => return Err(IntrospectError::Timeout),
        };
        let info = parse_answer_for(&answer, needs)?;
        Ok((info, answer))
    }

    /// The answer's bytes, read up to [`MAX_ANSWER_BYTES`].
    async fn call(&self, token: &[u8]) -> Result<Bytes, IntrospectError> {
        let mut body = String::with_capacity(token.len() + 64);
        body.push_str("token=");
        body.extend(form_urlencoded::byte_serialize(token));
        body.push_str("&token_type_hint=access_token");
        if let Some(suffix) = &self.post_suffix {
            body.push_str(suffix);
        }
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| IntrospectError::Request)?;
        if let Some(basic) = &self.basic {
            req.headers_mut().insert(AUTHORIZATION, basic.clone());
        }
        let rsp = self
            .clients
            .get()
            .request(req)
            .await
            .map_err(|e| IntrospectError::Unreachable(Box::new(e)))?;
        if rsp.status() != StatusCode::OK {
            return Err(IntrospectError::Status(rsp.status().as_u16()));
        }
        let (parts, body) = rsp.into_parts();
        let buf = collect_limited(body, &parts.headers, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                CollectError::TooLarge { .. } => IntrospectError::TooLarge,
                CollectError::Read(e) => IntrospectError::Unreachable(Box::new(e)),
            })?;
        Ok(buf)
    }
}

/// Parses an RFC 7662 §2.2 answer: one JSON object, no duplicate keys at any depth.
/// Keeps every member (tests, fuzzing); the proxy uses [`parse_answer_for`].
pub fn parse_answer(bytes: &[u8]) -> Result<TokenInfo, IntrospectError> {
    parse_answer_for(bytes, Needs::every_member())
}

/// [`parse_answer`], keeping what `needs` names.
pub(crate) fn parse_answer_for(bytes: &[u8], needs: &Needs) -> Result<TokenInfo, IntrospectError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let unparseable = |e| IntrospectError::Unparseable(ParseError::Json(e));
    let value = StrictValue.deserialize(&mut de).map_err(unparseable)?;
    de.end().map_err(unparseable)?;
    let Value::Object(map) = value else {
        return Err(IntrospectError::Unparseable(ParseError::NotAnObject));
    };
    TokenInfo::compact(&map, needs).map_err(IntrospectError::Unparseable)
}

/// One JSON object with no duplicate keys at any depth (JWT headers and claims too:
/// `{"aud":"x","aud":"ours"}` must not pass by whichever copy a parser keeps).
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de).ok()?;
    de.end().ok()?;
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A `serde_json::Value` seed that refuses duplicate object keys (a JSON parser that
/// keeps the last one would let `{"active":false,"active":true}` through).
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(StrictValue)?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate key in JSON object"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_unparseable() {
        assert!(parse_answer(br#"{"active":false,"active":true}"#).is_err());
        assert!(parse_answer(br#"{"active":true,"x":{"a":1,"a":2}}"#).is_err());
    }

    #[test]
    fn active_must_be_a_json_boolean() {
        for body in [
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{}"#,
            r#"{"active":null}"#,
        ] {
            assert!(parse_answer(body.as_bytes()).is_err(), "{body}");
        }
        assert!(parse_answer(br#"{"active":true}"#).unwrap().is_active());
        assert!(!parse_answer(br#"{"active":false}"#).unwrap().is_active());
    }

    #[test]
    fn non_objects_and_trailing_garbage_are_unparseable() {
        for body in ["[]", "true", "", "{\"active\":true} x", "<html>"] {
            assert!(parse_answer(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn extra_fields_are_kept_for_claims() {
        let info =
            parse_answer(br#"{"active":true,"sub":"alice","tenant":"t1","exp":1.5e9}"#).unwrap();
        assert_eq!(info.subject(), Some("alice"));
        assert_eq!(info.str_claim("tenant"), Some("t1"));
        assert_eq!(info.exp(), Some(1_500_000_000));
    }
}
