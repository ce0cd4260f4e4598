//! The single-node manager: everything is local.

use std::time::Duration;

use async_trait::async_trait;
use volley_protocol::Value;

use super::{BroadcastOptions, ClientManager, LocalAdapter};
use crate::{AckResponse, EmitError};

/// The default manager: one node, no broker. Emits reach this node's sockets only.
///
/// ```
/// let io = volley::Server::builder()
///     .client_manager(volley::MemoryManager::default())
///     .build();
/// ```
#[derive(Debug, Default)]
pub struct MemoryManager {
    local: LocalAdapter,
}

#[async_trait]
impl ClientManager for MemoryManager {
    fn local(&self) -> &LocalAdapter {
        &self.local
    }

    async fn emit(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
    ) -> Result<(), EmitError> {
        self.local.broadcast(ns, event, args, opts)?;
        Ok(())
    }

    async fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Result<Vec<AckResponse>, EmitError> {
        let pending = self.local.broadcast_with_ack(ns, event, args, opts)?;
        Ok(pending.collect(timeout).await)
    }
}
