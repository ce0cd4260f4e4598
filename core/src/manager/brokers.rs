//! The cluster managers of the broker adapters, each named by its broker and made from a URL:
//! [`RedisManager`], [`AmqpManager`], [`KafkaManager`], [`NatsManager`] (features `redis`,
//! `amqp`, `kafka`, `nats`).
//!
//! ```no_run
//! use std::time::Duration;
//! use volley::manager::RedisManager;
//! use volley::Server;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = Server::builder().client_manager(RedisManager::new("redis://127.0.0.1:6379")).build();
//! io.ready(Duration::from_secs(5)).await?; // a wrong URL or an unreachable Redis shows here
//! # Ok(())
//! # }
//! ```
//!
//! Such a manager only holds its URL and settings until the server takes it
//! ([`ServerBuilder::client_manager`](crate::ServerBuilder::client_manager)); then it checks the
//! URL and starts connecting, and never panics. A URL that cannot be used is logged as an error
//! when the server is built, fails every emit with [`EmitError::Manager`](crate::EmitError), and
//! is returned by [`Server::ready`](crate::Server::ready); a broker that cannot be reached is
//! retried in the background and reported by `ready` when its timeout passes. Call
//! [`build`](RedisManager::build) instead to have a URL error at once.

use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;
use volley_protocol::Value;

use super::url::AdapterError;
use super::{BroadcastOptions, ClientManager, LocalAdapter, ReadyError, ServerHooks};
use crate::{AckResponse, EmitError};

/// Declares a URL-made manager: its type, its `new`/`config`/`bus`/`build` and its conversion.
macro_rules! broker_manager {
    (
        $(#[$doc:meta])*
        $name:ident, feature = $feature:literal, schemes = [$($scheme:literal),+],
        builder = $builder:ty, make = $make:path
    ) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        pub struct $name {
            url: String,
            config: super::ClusterConfig,
            configure: Box<dyn FnOnce($builder) -> $builder + Send>,
        }

        #[cfg(feature = $feature)]
        impl $name {
            /// A manager for the broker at `url` (its options in the URL's query, see
            /// [`from_url`](super::from_url)), with the default [`ClusterConfig`](super::ClusterConfig). Nothing is
            /// checked or connected yet.
            pub fn new(url: impl Into<String>) -> Self {
                $name {
                    url: url.into(),
                    config: super::ClusterConfig::default(),
                    configure: Box::new(|builder| builder),
                }
            }

            /// Sets how the node behaves in its cluster (heartbeats, request timeout, …).
            pub fn config(mut self, config: super::ClusterConfig) -> Self {
                self.config = config;
                self
            }

            /// Sets the bus's own settings (timeouts, buffers, …), on the builder the URL made.
            pub fn bus(mut self, configure: impl FnOnce($builder) -> $builder + Send + 'static) -> Self {
                self.configure = Box::new(configure);
                self
            }

            /// Checks the URL and makes the manager now (rather than when the server takes it).
            /// Nothing connects before the server is built.
            pub fn build(self) -> Result<std::sync::Arc<dyn ClientManager>, AdapterError> {
                let schemes: &[&str] = &[$($scheme),+];
                if !schemes.iter().any(|s| self.url.starts_with(s)) {
                    return Err(AdapterError::Invalid {
                        url: super::url::redact(&self.url),
                        reason: format!(
                            "{} takes {} URLs",
                            stringify!($name),
                            schemes.join(" or ")
                        ),
                    });
                }
                $make(&self.url, self.config, self.configure)
            }
        }

        #[cfg(feature = $feature)]
        impl super::IntoClientManager for $name {
            fn into_client_manager(self) -> std::sync::Arc<dyn ClientManager> {
                self.build()
                    .unwrap_or_else(|error| std::sync::Arc::new(Misconfigured::new(error)))
            }
        }

        #[cfg(feature = $feature)]
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("url", &super::url::redact(&self.url))
                    .field("config", &self.config)
                    .finish_non_exhaustive()
            }
        }
    };
}

broker_manager! {
    /// The cluster manager over Redis (pub/sub, sharded pub/sub with `?bus=sharded`, or a
    /// stream with `?bus=streams`; one server, or Redis Cluster with `redis-cluster://`): any
    /// number of Volley nodes on one Redis behave as one server.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use volley::manager::{ClusterConfig, RedisManager};
    ///
    /// # #[tokio::main]
    /// # async fn main() {
    /// let io = volley::Server::builder()
    ///     .client_manager(
    ///         RedisManager::new("redis://127.0.0.1:6379?key=chat")
    ///             .config(ClusterConfig::default().request_timeout(Duration::from_secs(2)))
    ///             .bus(|redis| redis.operation_timeout(Duration::from_secs(1))),
    ///     )
    ///     .build();
    /// # let _ = io;
    /// # }
    /// ```
    RedisManager, feature = "redis", schemes = ["redis://", "rediss://", "redis-cluster://", "valkey-cluster://"],
    builder = volley_redis::RedisBusBuilder, make = super::url::redis
}

broker_manager! {
    /// The cluster manager over RabbitMQ (AMQP 0.9.1): the nodes share a fanout exchange
    /// (`volley`, or `?key=NAME`).
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let io = volley::Server::builder()
    ///     .client_manager(volley::manager::AmqpManager::new("amqp://guest:guest@127.0.0.1:5672/%2f"))
    ///     .build();
    /// # let _ = io;
    /// # }
    /// ```
    AmqpManager, feature = "amqp", schemes = ["amqp://", "amqps://"],
    builder = volley_amqp::AmqpBusBuilder, make = super::url::amqp
}

broker_manager! {
    /// The cluster manager over Kafka: the nodes share a topic (`volley`, or `?key=NAME`).
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let io = volley::Server::builder()
    ///     .client_manager(volley::manager::KafkaManager::new("kafka://127.0.0.1:9092"))
    ///     .build();
    /// # let _ = io;
    /// # }
    /// ```
    KafkaManager, feature = "kafka", schemes = ["kafka://"],
    builder = volley_kafka::KafkaBusBuilder, make = super::url::kafka
}

broker_manager! {
    /// The cluster manager over NATS: the nodes share the subjects under a root (`volley`, or
    /// `?key=ROOT`), on core NATS or, with `?bus=jetstream`, through one JetStream stream from
    /// which each node reads on where it stopped after a lost connection or a server restart.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let io = volley::Server::builder()
    ///     .client_manager(volley::manager::NatsManager::new("nats://127.0.0.1:4222?bus=jetstream"))
    ///     .build();
    /// # let _ = io;
    /// # }
    /// ```
    NatsManager, feature = "nats", schemes = ["nats://"],
    builder = volley_nats::NatsBusBuilder, make = super::url::nats
}

/// The manager a server gets for a URL that cannot be used: this node's sockets work, every
/// emit fails with the URL's error, and [`Server::ready`](crate::Server::ready) returns it.
#[cfg_attr(
    not(any(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "nats"
    )),
    allow(dead_code)
)]
pub(crate) struct Misconfigured {
    local: LocalAdapter,
    error: AdapterError,
}

#[cfg_attr(
    not(any(
        feature = "redis",
        feature = "amqp",
        feature = "kafka",
        feature = "nats"
    )),
    allow(dead_code)
)]
impl Misconfigured {
    pub(crate) fn new(error: AdapterError) -> Self {
        Misconfigured {
            local: LocalAdapter::default(),
            error,
        }
    }

    fn failure(&self) -> EmitError {
        EmitError::Manager(self.error.to_string())
    }
}

#[async_trait]
impl ClientManager for Misconfigured {
    fn local(&self) -> &LocalAdapter {
        &self.local
    }

    fn bind(&self, _: Weak<dyn ServerHooks>) {
        tracing::error!(target: "volley::cluster", error = %self.error, "the client manager cannot start; emits will fail");
    }

    async fn wait_ready(&self, _: Duration) -> Result<(), ReadyError> {
        Err(ReadyError::Adapter(self.error.clone()))
    }

    async fn emit(
        &self,
        _: &str,
        _: &str,
        _: &[Value],
        _: &BroadcastOptions,
    ) -> Result<(), EmitError> {
        Err(self.failure())
    }

    async fn emit_with_ack(
        &self,
        _: &str,
        _: &str,
        _: &[Value],
        _: &BroadcastOptions,
        _: Duration,
    ) -> Result<Vec<AckResponse>, EmitError> {
        Err(self.failure())
    }

    async fn server_side_emit(&self, _: &str, _: &str, _: &[Value]) -> Result<(), EmitError> {
        Err(self.failure())
    }
}
