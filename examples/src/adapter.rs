//! Choosing the client manager from a URL, as the examples' `--adapter` flag does:
//! `memory` (one node), `redis://host:port` (a cluster over Redis),
//! `amqp://[user:password@]host[:port][/vhost]` (a cluster over RabbitMQ, exchange `volley`),
//! `kafka://host:port[,host:port]` (a cluster over Kafka, topic `volley`).

use std::sync::Arc;

use volley::manager::cluster::{ClusterConfig, ClusterManager};
use volley::{ClientManager, MemoryManager};

/// Why an adapter URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The scheme is not one Volley has an adapter for.
    #[error(
        "unknown adapter {0:?}: use `memory`, `redis://host:port`, `amqp://[user:password@]host[:port][/vhost]` or `kafka://host:port[,host:port]`"
    )]
    Unknown(String),
    /// The adapter refused the URL.
    #[error("invalid adapter URL {url:?}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What the adapter said.
        reason: String,
    },
}

/// The manager for `url`, with `config` for cluster managers.
///
/// ```
/// let manager = volley_examples::adapter::manager("memory", Default::default()).unwrap();
/// assert_eq!(manager.server_count(), 1);
/// assert!(volley_examples::adapter::manager("carrier-pigeon://", Default::default()).is_err());
/// ```
pub fn manager(url: &str, config: ClusterConfig) -> Result<Arc<dyn ClientManager>, AdapterError> {
    let invalid = |reason: String| AdapterError::Invalid {
        url: url.to_owned(),
        reason,
    };
    if url == "memory" {
        return Ok(Arc::new(MemoryManager::default()));
    }
    if url.starts_with("kafka://") {
        let bus = volley_kafka::KafkaBus::new(url).map_err(|e| invalid(e.to_string()))?;
        return Ok(Arc::new(ClusterManager::new(bus, config)));
    }
    if url.starts_with("amqp://") {
        let bus = volley_amqp::AmqpBus::new(url).map_err(|e| invalid(e.to_string()))?;
        return Ok(Arc::new(ClusterManager::new(bus, config)));
    }
    if url.starts_with("redis://") {
        let bus = volley_redis::RedisBus::new(url).map_err(|e| invalid(e.to_string()))?;
        return Ok(Arc::new(ClusterManager::new(bus, config)));
    }
    Err(AdapterError::Unknown(url.to_owned()))
}
