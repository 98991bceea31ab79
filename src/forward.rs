//! Forwarding (SPEC §3.5): pooled client, hop-by-hop removal, X-Forwarded-*.

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("upstream connection failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
}
