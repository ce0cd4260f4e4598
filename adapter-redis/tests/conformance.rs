//! The bus conformance suite of `volley_cluster::conformance` against both Redis transports:
//! pub/sub on the machine's Redis server, where a cluster is a channel prefix of its own, and
//! streams on a private server of each test, where a cluster is a stream.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::{free_port, redis_url, RedisServer};
use volley_cluster::conformance::{unique, Capabilities, ConnectError, Harness, Options};
use volley_redis::{RedisBus, RedisBusBuilder, RedisError, StreamsBus, DEFAULT_MAX_MESSAGE_SIZE};

/// What both transports declare: the machine's and the private servers answer within the
/// default times, the size limit is the one of `RedisBusBuilder`.
fn capabilities() -> Capabilities {
    Capabilities {
        quiet: Duration::from_millis(200),
        max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
        ..Capabilities::default()
    }
}

/// The settings of `options` that both transports have.
fn configure(builder: RedisBusBuilder, options: &Options) -> RedisBusBuilder {
    match options.max_message_size {
        Some(max) => builder.max_message_size(max),
        None => builder,
    }
}

/// Why a connect failed.
fn connect_error(error: RedisError) -> ConnectError {
    match error {
        RedisError::Connect(reason) => ConnectError::Unreachable(reason),
        other => ConnectError::Other(other.to_string()),
    }
}

/// A port where nothing listens.
fn nowhere() -> String {
    format!("redis://127.0.0.1:{}", free_port())
}

mod pubsub {
    use super::*;

    /// `RedisBus` on the machine's server (or on the local Redis Cluster), classic or sharded.
    pub(crate) struct PubSub {
        pub(crate) name: &'static str,
        pub(crate) url: fn() -> String,
        pub(crate) sharded: bool,
    }

    impl PubSub {
        pub(crate) const MACHINE: PubSub = PubSub {
            name: "redis pub/sub",
            url: redis_url,
            sharded: false,
        };
    }

    #[async_trait]
    impl Harness for PubSub {
        type Bus = RedisBus;
        type Cluster = String;

        fn name(&self) -> &str {
            self.name
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities {
                // Pub/sub keeps nothing: a reader that falls behind loses messages, and the bus
                // says so (tests/overflow.rs).
                keeps_messages_for_slow_readers: false,
                ..capabilities()
            }
        }

        async fn cluster(&self, name: &str) -> String {
            format!("{}#", unique(name))
        }

        fn channel(&self, cluster: &String, name: &str) -> String {
            format!("{cluster}{name}")
        }

        async fn bus(&self, _cluster: &String, options: Options) -> RedisBus {
            let bus = configure(RedisBus::builder(&(self.url)()), &options)
                .sharded(self.sharded)
                .build()
                .expect("valid URL");
            if !options.lazy {
                bus.connect()
                    .await
                    .expect("Redis runs at VOLLEY_REDIS_URL or 127.0.0.1:6379");
            }
            bus
        }

        async fn unreachable(&self) -> Option<RedisBus> {
            let bus = RedisBus::builder(&nowhere()).sharded(self.sharded);
            Some(bus.build().expect("valid URL"))
        }

        async fn connect(&self, bus: &RedisBus) -> Result<(), ConnectError> {
            bus.connect().await.map_err(connect_error)
        }

        fn is_connected(&self, bus: &RedisBus) -> Option<bool> {
            Some(bus.is_connected())
        }

        async fn close(&self, bus: &RedisBus) {
            bus.close().await;
        }
    }

    volley_cluster::bus_conformance_suite!(PubSub::MACHINE);
}

/// The cases without prefix subscriptions: sharded pub/sub has no patterns, a bus's prefixes stay
/// on classic pub/sub where emitters `PUBLISH` (the cluster suites check that), and its own
/// publishes are `SPUBLISH`es that only channel subscriptions receive.
macro_rules! sharded_cases {
    ($harness:expr) => {
        volley_cluster::bus_conformance_suite!(@cases $harness;
            Full: every_node_of_a_cluster_receives_every_message_and_no_other_cluster_does,
            Full: payloads_are_byte_exact,
            Full: a_publish_right_after_subscribe_is_delivered,
            Full: a_slow_reader_loses_nothing,
            Full: a_dropped_sink_does_not_stop_publishing,
            Full: connect_is_lazy_and_close_ends_everything,
            Full: a_4_mib_limit_carries_a_3_mib_payload,
            Half: oversized_publishes_are_refused_before_connecting,
            Half: an_unreachable_broker_fails_fast,
        );
    };
}

mod sharded {
    //! Sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`) on the machine's server.
    use super::pubsub::PubSub;
    use super::*;

    sharded_cases!(PubSub {
        name: "redis sharded pub/sub",
        url: redis_url,
        sharded: true,
    });
}

mod cluster_sharded {
    //! Sharded pub/sub on the local Redis Cluster (`scripts/redis-cluster.sh`): channels on
    //! every shard.
    use super::pubsub::PubSub;
    use super::*;

    sharded_cases!(PubSub {
        name: "redis cluster sharded pub/sub",
        url: common::cluster_url,
        sharded: true,
    });
}

mod streams {
    use super::*;

    /// `StreamsBus` on a server of the test's own, started by the first cluster.
    #[derive(Default)]
    pub(crate) struct Streams {
        server: tokio::sync::OnceCell<RedisServer>,
    }

    #[async_trait]
    impl Harness for Streams {
        type Bus = StreamsBus;
        type Cluster = String;

        fn name(&self) -> &str {
            "redis streams"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities {
                wait: Duration::from_secs(10),
                ..capabilities()
            }
        }

        async fn cluster(&self, name: &str) -> String {
            unique(name)
        }

        async fn bus(&self, cluster: &String, options: Options) -> StreamsBus {
            let server = self.server.get_or_init(RedisServer::start).await;
            let bus = StreamsBus::builder(&server.url())
                .stream(cluster)
                .redis(|r| configure(r, &options))
                .build()
                .expect("valid URL");
            if !options.lazy {
                bus.connect().await.expect("connect to the test's server");
            }
            bus
        }

        async fn unreachable(&self) -> Option<StreamsBus> {
            Some(StreamsBus::new(&nowhere()).expect("valid URL"))
        }

        async fn connect(&self, bus: &StreamsBus) -> Result<(), ConnectError> {
            bus.connect().await.map_err(connect_error)
        }

        async fn close(&self, bus: &StreamsBus) {
            bus.close().await;
        }
    }

    volley_cluster::bus_conformance_suite!(Streams::default());
}
