//! The bus conformance suite of `volley_cluster::conformance` against both NATS transports, on a
//! private `nats-server` of each test (JetStream on, `max_payload` 8 MB so that the 4 MiB case
//! can run: the machine's server keeps the 1 MB default). On core NATS a cluster is a subject
//! root of its own; on JetStream, a root and its stream.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::{free_port, NatsServer};
use volley_cluster::conformance::{unique, Capabilities, ConnectError, Harness, Options};
use volley_nats::{NatsBus, NatsError, DEFAULT_MAX_MESSAGE_SIZE};

/// A bus of either kind on a server of the test's own, started by the first bus.
#[derive(Default)]
struct Nats {
    jetstream: bool,
    server: std::sync::OnceLock<NatsServer>,
}

impl Nats {
    fn jetstream() -> Nats {
        Nats {
            jetstream: true,
            ..Nats::default()
        }
    }
}

#[async_trait]
impl Harness for Nats {
    type Bus = NatsBus;
    type Cluster = String;

    fn name(&self) -> &str {
        if self.jetstream {
            "nats jetstream"
        } else {
            "nats"
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            quiet: Duration::from_millis(200),
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            // Core NATS drops what a subscription's buffer cannot hold (the client warns);
            // a stream keeps it.
            keeps_messages_for_slow_readers: self.jetstream,
            ..Capabilities::default()
        }
    }

    async fn cluster(&self, name: &str) -> String {
        unique(name).replace('.', "_")
    }

    async fn bus(&self, root: &String, options: Options) -> NatsBus {
        let server = self.server.get_or_init(NatsServer::start);
        let mut builder = NatsBus::builder(&server.url())
            .root(root)
            .jetstream(self.jetstream);
        if let Some(max) = options.max_message_size {
            builder = builder.max_message_size(max);
        }
        let bus = builder.build().expect("valid settings");
        if !options.lazy {
            bus.connect().await.expect("connect to the test's server");
        }
        bus
    }

    async fn unreachable(&self) -> Option<NatsBus> {
        let url = format!("nats://127.0.0.1:{}", free_port());
        let bus = NatsBus::builder(&url)
            .jetstream(self.jetstream)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("valid settings");
        Some(bus)
    }

    async fn connect(&self, bus: &NatsBus) -> Result<(), ConnectError> {
        bus.connect().await.map_err(|e| match e {
            NatsError::Connect(reason) => ConnectError::Unreachable(reason),
            other => ConnectError::Other(other.to_string()),
        })
    }

    fn is_connected(&self, bus: &NatsBus) -> Option<bool> {
        Some(bus.is_connected())
    }

    async fn close(&self, bus: &NatsBus) {
        bus.close().await;
    }
}

mod core {
    volley_cluster::bus_conformance_suite!(super::Nats::default());
}

mod jetstream {
    volley_cluster::bus_conformance_suite!(super::Nats::jetstream());
}
