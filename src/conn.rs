//! `ConnectionSlot`: what the server (which hands it out) and the proxy's WebSocket
//! tunnel (which keeps it) share, in a leaf so neither depends on the other for it.

use std::any::Any;
use std::sync::Arc;

/// A connection's slot in `[listen] max_connections` (docs/reference.md#limits).
///
/// Every request with an `Upgrade` header carries one in its extensions. hyper's
/// connection task ends when it hands an upgraded connection over, so whoever takes
/// the upgraded connection (the WebSocket tunnel) takes this slot out of the request
/// and keeps it until the tunnel closes: a tunnel then counts against the limit like
/// the connection it replaced. The slot is freed when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSlot {
    /// The connection's shared state (its `max_connections` permit among it), type
    /// erased: only holding it matters.
    _conn: Arc<dyn Any + Send + Sync>,
}

// === impl ConnectionSlot ===

impl ConnectionSlot {
    /// Made by the server for each upgrade request, around the connection's state.
    pub(crate) fn new(conn: Arc<dyn Any + Send + Sync>) -> Self {
        Self { _conn: conn }
    }
}
