//! Choosing a client manager from a URL, as a command line or a configuration file gives it
//! ([`from_url`]).

use std::sync::Arc;

use super::cluster::ClusterConfig;
use super::{ClientManager, MemoryManager};

/// Why an adapter URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The scheme is not one Volley has an adapter for.
    #[error(
        "unknown adapter {0:?}: use `memory`, `redis://host:port[?bus=sharded|streams]`, `redis-cluster://host:port[,host:port]`, `amqp://[user:password@]host[:port][/vhost]`, `kafka://host:port[,host:port]` or `nats://host:port[?bus=jetstream]`"
    )]
    Unknown(String),
    /// The adapter exists but this build of Volley leaves it out.
    #[error("{url:?} needs Volley's `{feature}` feature, which this build does not have")]
    NotBuilt {
        /// The URL.
        url: String,
        /// The cargo feature of the `volley` crate that brings the adapter.
        feature: &'static str,
    },
    /// The adapter refused the URL.
    #[error("invalid adapter URL {url:?}: {reason}")]
    Invalid {
        /// The URL, without its password.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// The manager for `url`, with `config` for cluster managers.
///
/// | URL | manager |
/// |---|---|
/// | `memory` | [`MemoryManager`]: one node |
/// | `redis://host:port[?key=PREFIX]` | Redis pub/sub (feature `redis`); channels `{key}#…` (default `volley`), Node emitters accepted on `{key}` (default `socket.io`) |
/// | `redis://host:port?protocol=node[&key=KEY]` | Redis pub/sub in the format of Node's `@socket.io/redis-adapter` (`createAdapter`; `key`: its `key`, default `socket.io`): Volley and Node nodes in one cluster |
/// | `redis://host:port?bus=sharded[&key=PREFIX]` | Redis 7 sharded pub/sub, with a channel per room that a node listens to while it has members there; `key` as for pub/sub |
/// | `redis://host:port?bus=sharded&protocol=node[&key=PREFIX]` | the same in the format of Node's `createShardedAdapter` (`subscriptionMode: "dynamic"`; `key`: its `channelPrefix`, default `socket.io`): Volley and Node nodes in one cluster |
/// | `redis://host:port?bus=streams[&stream=NAME][&maxlen=N][&key=PREFIX]` | one Redis stream (default `socket.io`, about 10 000 entries); `key` as for pub/sub |
/// | `redis://host:port?bus=streams&protocol=node[&key=PREFIX]` | the same, in the format of Node's `@socket.io/redis-streams-adapter` (`key`: its `channelPrefix`) |
/// | `amqp://[user:password@]host[:port][/vhost][?key=EXCHANGE]` | RabbitMQ (feature `amqp`), exchange `volley` by default; lapin's own query settings (`heartbeat`, …) pass through |
/// | `kafka://host:port[,host:port…][?key=TOPIC]` | Kafka (feature `kafka`), topic `volley` by default; the bus's query settings (`fetch_wait_ms`, …) pass through |
/// | `nats://[user:password@]host:port[?key=ROOT]` | core NATS (feature `nats`): subjects under `ROOT` (default `volley`), nothing stored |
/// | `nats://host:port?bus=jetstream[&stream=NAME][&maxlen=N][&key=ROOT]` | one JetStream stream (default: named after the root, at most 100 000 messages): every `Ok` emit stored, read by every node across reconnections and server restarts |
///
/// `python=NAME`, on Redis pub/sub (Volley's protocol), RabbitMQ and Kafka, makes the nodes also
/// speak python-socketio's pub/sub protocol on its channel `NAME` (python-socketio's default is
/// `socketio`): the Redis channel, the AMQP fanout exchange or the Kafka topic of that name
/// (see [`ClusterConfig::python_channel`]). python-socketio's write-only managers then drive the
/// cluster, and python `AsyncServer` nodes share it.
///
/// `redis-cluster://[[user]:password@]host:port[,host:port…]` takes the same query and speaks
/// to a Redis Cluster, the nodes given being where its layout is first read: pub/sub (the
/// nodes' own channels as sharded pub/sub channels there, so that each emit is counted), sharded
/// pub/sub (whose channels spread over the shards) or one stream (one key, on one shard).
///
/// `key` names what one cluster shares on the broker, so that two deployments on one broker do
/// not hear each other. TLS (`rediss://`, `amqps://`, NATS's `tls://`) is not built in: such
/// URLs are refused with a message that says so.
///
/// ```
/// use volley::manager::{from_url, AdapterError, ClusterConfig};
///
/// let memory = from_url("memory", ClusterConfig::default()).unwrap();
/// assert_eq!(memory.server_count(), 1);
/// assert!(matches!(
///     from_url("carrier-pigeon://", ClusterConfig::default()),
///     Err(AdapterError::Unknown(_))
/// ));
/// ```
///
/// Nothing connects here: a cluster manager connects when the server built with it
/// starts, and [`Server::ready`](crate::Server::ready) says whether it could.
///
/// ```
/// use volley::manager::{from_url, ClusterConfig};
///
/// # #[cfg(not(all(feature = "redis", feature = "amqp", feature = "kafka", feature = "nats")))]
/// # fn main() {}
/// # #[cfg(all(feature = "redis", feature = "amqp", feature = "kafka", feature = "nats"))]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let c = ClusterConfig::default;
/// assert!(from_url("redis://127.0.0.1:6379?bus=streams&stream=chat&maxlen=1000", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?key=staging", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?bus=streams&protocol=node&key=app", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?protocol=node", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?bus=sharded&key=app", c()).is_ok());
/// assert!(from_url("redis-cluster://127.0.0.1:7000,127.0.0.1:7001?bus=sharded", c()).is_ok());
/// assert!(from_url("redis-cluster://127.0.0.1:7000?bus=streams", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?bus=sharded&protocol=node", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?bus=streams&protocol=python", c()).is_err());
/// assert!(from_url("redis://127.0.0.1:6379?python=socketio", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?python=", c()).is_err());
/// assert!(from_url("redis://127.0.0.1:6379?bus=streams&python=socketio", c()).is_err());
/// assert!(from_url("amqp://127.0.0.1:5672?python=socketio&key=chat", c()).is_ok());
/// assert!(from_url("kafka://127.0.0.1:9092?python=socketio", c()).is_ok());
/// assert!(from_url("redis://127.0.0.1:6379?bus=carrier", c()).is_err());
/// assert!(from_url("redis://127.0.0.1:6379?bus=streams&maxlen=many", c()).is_err());
/// assert!(from_url("redis://127.0.0.1:6379?stream=chat", c()).is_err());
/// assert!(from_url("redis://127.0.0.1:6379?colour=blue", c()).is_err());
/// assert!(from_url("rediss://127.0.0.1:6380", c()).is_err());
/// assert!(from_url("amqp://guest:guest@127.0.0.1:5672/%2f?key=chat", c()).is_ok());
/// assert!(from_url("amqps://127.0.0.1", c()).is_err());
/// assert!(from_url("kafka://127.0.0.1:9092?key=chat", c()).is_ok());
/// assert!(from_url("kafka://127.0.0.1:9092?key=a&topic=b", c()).is_err());
/// assert!(from_url("nats://127.0.0.1:4222", c()).is_ok());
/// assert!(from_url("nats://127.0.0.1:4222?bus=jetstream&stream=chat&maxlen=1000&key=chat", c()).is_ok());
/// assert!(from_url("nats://127.0.0.1:4222?stream=chat", c()).is_err());
/// assert!(from_url("tls://127.0.0.1:4222", c()).is_err());
/// # }
/// ```
pub fn from_url(url: &str, config: ClusterConfig) -> Result<Arc<dyn ClientManager>, AdapterError> {
    if url == "memory" {
        return Ok(Arc::new(MemoryManager::default()));
    }
    // (only the adapters take it)
    #[cfg(not(any(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "nats"
    )))]
    let _ = config;
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme {
        "redis" | "rediss" | "redis-cluster" | "valkey-cluster" => {
            #[cfg(feature = "redis")]
            return redis(url, config, |bus| bus);
            #[cfg(not(feature = "redis"))]
            return Err(not_built(url, "redis"));
        }
        "amqp" | "amqps" => {
            #[cfg(feature = "amqp")]
            return amqp(url, config, |bus| bus);
            #[cfg(not(feature = "amqp"))]
            return Err(not_built(url, "amqp"));
        }
        "kafka" => {
            #[cfg(feature = "kafka")]
            return kafka(url, config, |bus| bus);
            #[cfg(not(feature = "kafka"))]
            return Err(not_built(url, "kafka"));
        }
        "nats" | "tls" => {
            #[cfg(feature = "nats")]
            return nats(url, config, |bus| bus);
            #[cfg(not(feature = "nats"))]
            return Err(not_built(url, "nats"));
        }
        _ => Err(AdapterError::Unknown(redact(url))),
    }
}

/// The error for a URL whose adapter this build leaves out.
#[cfg_attr(
    all(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "nats"
    ),
    allow(dead_code)
)]
fn not_built(url: &str, feature: &'static str) -> AdapterError {
    AdapterError::NotBuilt {
        url: redact(url),
        feature,
    }
}

/// `url` without the password it may hold (`user:password@host` becomes `user:***@host`), for
/// errors and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// The URL's query, as `(key, value)` pairs (a pair without `=` has an empty value).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The error for `url`, saying `reason`.
#[cfg_attr(
    not(any(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "nats"
    )),
    allow(dead_code)
)]
fn invalid(url: &str, reason: impl Into<String>) -> AdapterError {
    AdapterError::Invalid {
        url: redact(url),
        reason: reason.into(),
    }
}

/// `url` with its `name` parameter taken out of the query: `(url without it, its value)`.
#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut found = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((key, value)) if key == name => {
                found = Some(value.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    if rest.is_empty() {
        (base.to_owned(), found)
    } else {
        (format!("{base}?{}", rest.join("&")), found)
    }
}

/// `url` without its `python` and `key` parameters: `(url without them, python, key)`.
#[cfg(any(feature = "amqp", feature = "kafka"))]
fn take_python_and_key(
    url: &str,
) -> Result<(String, Option<String>, Option<String>), AdapterError> {
    let (rest, python) = take_param(url, "python");
    if python.as_deref() == Some("") {
        return Err(invalid(url, "python must name a channel"));
    }
    let (rest, key) = take_param(&rest, "key");
    Ok((rest, python, key))
}

/// The cluster manager on `main`, and with python-socketio's channel on `side` when there is
/// one (see [`ClusterConfig::python_channel`]).
#[cfg(any(feature = "amqp", feature = "kafka"))]
fn cluster_with_python<B: super::cluster::PubSub>(
    url: &str,
    main: Result<B, impl std::fmt::Display>,
    python: Option<(String, Result<B, impl std::fmt::Display>)>,
    mut config: ClusterConfig,
) -> Result<Arc<dyn ClientManager>, AdapterError> {
    use super::cluster::{ClusterManager, SideChannel};

    let Some((channel, side)) = python else {
        return cluster(url, main, config);
    };
    let main = main.map_err(|e| invalid(url, e.to_string()))?;
    let side = side.map_err(|e| invalid(url, e.to_string()))?;
    config.python_channel = Some(channel.clone());
    let bus = SideChannel::new(main, side, channel);
    Ok(Arc::new(ClusterManager::new(bus, config)))
}

/// The cluster manager on the bus a builder made (or the error it gave).
#[cfg(any(feature = "amqp", feature = "kafka", feature = "nats"))]
fn cluster<B: super::cluster::PubSub>(
    url: &str,
    bus: Result<B, impl std::fmt::Display>,
    config: ClusterConfig,
) -> Result<Arc<dyn ClientManager>, AdapterError> {
    let bus = bus.map_err(|e| invalid(url, e.to_string()))?;
    Ok(Arc::new(super::cluster::ClusterManager::new(bus, config)))
}

/// The Redis manager for `url`, its bus settings passed through `configure`.
#[cfg(feature = "redis")]
pub(super) fn redis(
    url: &str,
    mut config: ClusterConfig,
    configure: impl FnOnce(volley_redis::RedisBusBuilder) -> volley_redis::RedisBusBuilder,
) -> Result<Arc<dyn ClientManager>, AdapterError> {
    use super::cluster::ClusterManager;

    if url.starts_with("rediss://") {
        return Err(invalid(
            url,
            "TLS (rediss://) is not built into this adapter",
        ));
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut streams = false;
    let mut sharded = false;
    let mut stream = None;
    let mut max_len = None;
    let mut node = false;
    let mut key = None;
    for (name, value) in query_pairs(query) {
        match name {
            "bus" => {
                (streams, sharded) = match value {
                    "pubsub" => (false, false),
                    "sharded" => (false, true),
                    "streams" => (true, false),
                    other => {
                        return Err(invalid(
                            url,
                            format!(
                                "unknown bus {other:?}: use bus=pubsub, bus=sharded or bus=streams"
                            ),
                        ))
                    }
                }
            }
            "stream" => stream = Some(value.to_owned()),
            "protocol" => {
                node = match value {
                    "volley" => false,
                    "node" => true,
                    other => {
                        return Err(invalid(
                            url,
                            format!(
                                "unknown protocol {other:?}: use protocol=volley or protocol=node"
                            ),
                        ))
                    }
                }
            }
            "python" if value.is_empty() => return Err(invalid(url, "python must name a channel")),
            "python" => config.python_channel = Some(value.to_owned()),
            "key" if value.is_empty() => return Err(invalid(url, "key must not be empty")),
            "key" => key = Some(value.to_owned()),
            "maxlen" => {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| invalid(url, format!("maxlen must be a number, not {value:?}")))?;
                max_len = Some(n);
            }
            other => {
                return Err(invalid(
                    url,
                    format!(
                    "unknown parameter {other:?}: use bus, stream, maxlen, protocol, key or python"
                ),
                ))
            }
        }
    }
    let refused = |e: volley_redis::RedisError| invalid(url, e.to_string());
    if config.python_channel.is_some() && (streams || node) {
        // python-socketio's channel is a pub/sub channel, beside Volley's own protocol
        return Err(invalid(
            url,
            "python takes Redis pub/sub in Volley's protocol, not bus=streams or protocol=node",
        ));
    }
    if !streams {
        if stream.is_some() || max_len.is_some() {
            return Err(invalid(url, "stream and maxlen need bus=streams"));
        }
        let mut builder = configure(volley_redis::RedisBus::builder(base)).sharded(sharded);
        if node {
            // with bus=sharded, Node's sharded adapter, whose `channelPrefix` is also
            // `socket.io` by default
            // the bus reads Node's channels itself, the emitters' messages included
            config.node_compat_key = None;
            builder = builder
                .node_protocol(key.unwrap_or_else(|| volley_protocol::classic::DEFAULT_KEY.into()));
        } else if let Some(key) = key {
            config.node_compat_key = Some(key.clone());
            config.prefix = key;
        }
        let bus = builder.build().map_err(refused)?;
        return Ok(Arc::new(ClusterManager::new(bus, config)));
    }
    let mut builder = volley_redis::StreamsBus::builder(base).redis(configure);
    if let Some(stream) = stream {
        builder = builder.stream(stream);
    }
    if let Some(max_len) = max_len {
        builder = builder.max_len(max_len);
    }
    if let Some(key) = &key {
        config.node_compat_key = Some(key.clone());
    }
    if node {
        let key = key.unwrap_or_else(|| volley_redis::DEFAULT_CHANNEL_PREFIX.to_owned());
        builder = builder.node_protocol(key);
    } else if let Some(key) = key {
        config.prefix = key;
    }
    let bus = builder.build().map_err(refused)?;
    Ok(Arc::new(ClusterManager::new(bus, config)))
}

/// The RabbitMQ manager for `url`, its bus settings passed through `configure`. With
/// `python=NAME`, python-socketio's fanout exchange `NAME` (non-durable, as python declares it)
/// carries that channel, on a connection of its own.
#[cfg(feature = "amqp")]
pub(super) fn amqp(
    url: &str,
    config: ClusterConfig,
    configure: impl FnOnce(volley_amqp::AmqpBusBuilder) -> volley_amqp::AmqpBusBuilder,
) -> Result<Arc<dyn ClientManager>, AdapterError> {
    let (rest, python, key) = take_python_and_key(url)?;
    let mut builder = volley_amqp::AmqpBus::builder(&rest);
    if let Some(exchange) = key {
        builder = builder.exchange(exchange);
    }
    let python = python.map(|exchange| {
        let side = volley_amqp::AmqpBus::builder(&rest)
            .exchange(exchange.clone())
            .exchange_durable(false)
            .durable(false)
            .connection_name("volley-python")
            .build();
        (exchange, side)
    });
    cluster_with_python(url, configure(builder).build(), python, config)
}

/// The Kafka manager for `url`, its bus settings passed through `configure`. With
/// `python=NAME`, python-socketio's topic `NAME` carries that channel, with clients of its own.
#[cfg(feature = "kafka")]
pub(super) fn kafka(
    url: &str,
    config: ClusterConfig,
    configure: impl FnOnce(volley_kafka::KafkaBusBuilder) -> volley_kafka::KafkaBusBuilder,
) -> Result<Arc<dyn ClientManager>, AdapterError> {
    let (rest, python, key) = take_python_and_key(url)?;
    let mut builder = volley_kafka::KafkaBus::builder(&rest);
    if let Some(topic) = key {
        if rest.contains("topic=") {
            return Err(invalid(url, "key and topic name the same thing: give one"));
        }
        builder = builder.topic(&topic);
    }
    let python = python.map(|topic| {
        let side = volley_kafka::KafkaBus::builder(&rest).topic(&topic).build();
        (topic, side)
    });
    cluster_with_python(url, configure(builder).build(), python, config)
}

/// The NATS manager for `url` (its settings, `key` included, read by the bus itself), its bus
/// settings passed through `configure`.
#[cfg(feature = "nats")]
pub(super) fn nats(
    url: &str,
    config: ClusterConfig,
    configure: impl FnOnce(volley_nats::NatsBusBuilder) -> volley_nats::NatsBusBuilder,
) -> Result<Arc<dyn ClientManager>, AdapterError> {
    cluster(
        url,
        configure(volley_nats::NatsBus::builder(url)).build(),
        config,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_errors() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f?key=a"),
            "amqp://guest:***@host:5672/%2f?key=a"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("memory"), "memory");
        let Err(e) = from_url(
            "redis://:hunter2@host:6379?colour=blue",
            ClusterConfig::default(),
        ) else {
            panic!("accepted")
        };
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn sharded_and_cluster_urls() {
        let c = ClusterConfig::default;
        assert!(from_url("redis://127.0.0.1:6379?bus=sharded&key=app", c()).is_ok());
        assert!(from_url("redis-cluster://127.0.0.1:7000,127.0.0.1:7001", c()).is_ok());
        assert!(from_url("redis-cluster://127.0.0.1:7000?bus=sharded", c()).is_ok());
        assert!(from_url("redis-cluster://127.0.0.1:7000?bus=streams", c()).is_ok());
        assert!(from_url("redis://127.0.0.1:6379?bus=sharded&protocol=node", c()).is_ok());
        assert!(from_url(
            "redis-cluster://127.0.0.1:7000?bus=sharded&protocol=node&key=a",
            c()
        )
        .is_ok());
        for bad in [
            "redis://127.0.0.1:6379?bus=sharded&protocol=node&python=x",
            "redis-cluster://127.0.0.1?bus=sharded",
            "redis://127.0.0.1:6379?bus=shards",
        ] {
            assert!(
                matches!(from_url(bad, c()), Err(AdapterError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_key_is_taken_out_of_the_query() {
        assert_eq!(take_param("amqp://h", "key"), ("amqp://h".into(), None));
        assert_eq!(
            take_param("amqp://h/%2f?key=chat&heartbeat=5", "key"),
            ("amqp://h/%2f?heartbeat=5".into(), Some("chat".into()))
        );
        assert_eq!(
            take_param("kafka://h?key=chat", "key"),
            ("kafka://h".into(), Some("chat".into()))
        );
        assert_eq!(
            take_param("kafka://h?monkey=1&key=a", "key"),
            ("kafka://h?monkey=1".into(), Some("a".into()))
        );
    }
}
