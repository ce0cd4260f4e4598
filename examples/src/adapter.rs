//! Choosing the client manager from a URL, as the examples' `--adapter` flag does:
//! `memory` (one node), `redis://host:port` (a cluster over Redis pub/sub),
//! `redis://host:port?bus=streams[&stream=NAME][&maxlen=N]` (a cluster over one Redis stream,
//! `socket.io` and about 10 000 entries by default; the name is taken literally; with
//! `&protocol=node[&key=PREFIX]` in the format of Node's `@socket.io/redis-streams-adapter`, whose
//! nodes can then join the cluster, `key` being Node's `channelPrefix`, `socket.io` by default),
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
        "unknown adapter {0:?}: use `memory`, `redis://host:port[?bus=streams]`, `amqp://[user:password@]host[:port][/vhost]` or `kafka://host:port[,host:port]`"
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
/// use volley_examples::adapter::manager;
///
/// let memory = manager("memory", Default::default()).unwrap();
/// assert_eq!(memory.server_count(), 1);
/// assert!(manager("carrier-pigeon://", Default::default()).is_err());
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // nothing connects before the server is built
/// assert!(manager("redis://127.0.0.1:6379?bus=streams&stream=chat&maxlen=1000", Default::default()).is_ok());
/// assert!(manager("redis://127.0.0.1:6379?bus=pubsub", Default::default()).is_ok());
/// assert!(manager("redis://127.0.0.1:6379?bus=streams&protocol=node&key=app", Default::default()).is_ok());
/// assert!(manager("redis://127.0.0.1:6379?bus=streams&protocol=python", Default::default()).is_err());
/// assert!(manager("redis://127.0.0.1:6379?bus=streams&key=app", Default::default()).is_err());
/// assert!(manager("redis://127.0.0.1:6379?bus=carrier", Default::default()).is_err());
/// assert!(manager("redis://127.0.0.1:6379?bus=streams&maxlen=many", Default::default()).is_err());
/// assert!(manager("redis://127.0.0.1:6379?stream=chat", Default::default()).is_err());
/// assert!(manager("redis://127.0.0.1:6379?colour=blue", Default::default()).is_err());
/// # });
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
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut streams = false;
        let mut stream = None;
        let mut max_len = None;
        let mut node = false;
        let mut channel_key = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "bus" => {
                    streams = match value {
                        "pubsub" => false,
                        "streams" => true,
                        other => {
                            return Err(invalid(format!(
                                "unknown bus {other:?}: use bus=pubsub or bus=streams"
                            )))
                        }
                    }
                }
                "stream" => stream = Some(value.to_owned()),
                "protocol" => {
                    node = match value {
                        "volley" => false,
                        "node" => true,
                        other => {
                            return Err(invalid(format!(
                                "unknown protocol {other:?}: use protocol=volley or protocol=node"
                            )))
                        }
                    }
                }
                "key" => channel_key = Some(value.to_owned()),
                "maxlen" => {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| invalid(format!("maxlen must be a number, not {value:?}")))?;
                    max_len = Some(n);
                }
                other => {
                    return Err(invalid(format!(
                        "unknown parameter {other:?}: use bus, stream, maxlen, protocol or key"
                    )))
                }
            }
        }
        if !streams {
            if stream.is_some() || max_len.is_some() || node || channel_key.is_some() {
                return Err(invalid(
                    "stream, maxlen, protocol and key need bus=streams".into(),
                ));
            }
            let bus = volley_redis::RedisBus::new(base).map_err(|e| invalid(e.to_string()))?;
            return Ok(Arc::new(ClusterManager::new(bus, config)));
        }
        let mut builder = volley_redis::StreamsBus::builder(base);
        if let Some(stream) = stream {
            builder = builder.stream(stream);
        }
        if let Some(max_len) = max_len {
            builder = builder.max_len(max_len);
        }
        match (node, channel_key) {
            (true, key) => {
                let key = key.unwrap_or_else(|| volley_redis::DEFAULT_CHANNEL_PREFIX.to_owned());
                builder = builder.node_protocol(key);
            }
            (false, Some(_)) => return Err(invalid("key needs protocol=node".into())),
            (false, None) => {}
        }
        let bus = builder.build().map_err(|e| invalid(e.to_string()))?;
        return Ok(Arc::new(ClusterManager::new(bus, config)));
    }
    Err(AdapterError::Unknown(url.to_owned()))
}
