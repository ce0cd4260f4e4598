//! The bus conformance suite of `volley_cluster::conformance` against the machine's RabbitMQ
//! server, where a cluster is an exchange of its own (removed at the end of each case).

mod common;

use async_trait::async_trait;
use common::{amqp_url, delete_exchange, shared_lock};
use volley_amqp::{AmqpBus, AmqpError, DEFAULT_MAX_MESSAGE_SIZE};
use volley_cluster::conformance::{unique, Capabilities, ConnectError, Harness, Options};

/// `AmqpBus` on the machine's server.
struct Amqp;

#[async_trait]
impl Harness for Amqp {
    type Bus = AmqpBus;
    type Cluster = String;

    fn name(&self) -> &str {
        "amqp"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            // Publishes are `mandatory`: what reaches no queue comes back as a failure.
            refuses_unrouted: true,
            refuses_connect_after_close: true,
            ..Capabilities::default()
        }
    }

    async fn lock(&self) -> Box<dyn Send> {
        Box::new(shared_lock().await)
    }

    async fn cluster(&self, name: &str) -> String {
        unique(name)
    }

    async fn bus(&self, exchange: &String, options: Options) -> AmqpBus {
        let mut builder = AmqpBus::builder(&amqp_url()).exchange(exchange);
        if let Some(max) = options.max_message_size {
            builder = builder.max_message_size(max);
        }
        // Transient messages: with a slow reader they wait in the queue, and a persistent
        // message waiting in a queue is confirmed only once on disk, so that 10 000 publishes
        // one after the other take minutes.
        if options.bulk {
            builder = builder.durable(false);
        }
        if let Some(prefetch) = options.read_ahead {
            builder = builder.prefetch(prefetch);
        }
        let bus = builder.build().expect("valid URL");
        if !options.lazy {
            bus.connect()
                .await
                .expect("RabbitMQ runs at VOLLEY_AMQP_URL or 127.0.0.1:5672");
        }
        bus
    }

    async fn unreachable(&self) -> Option<AmqpBus> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Some(AmqpBus::new(&format!("amqp://127.0.0.1:{port}")).expect("valid URL"))
    }

    async fn connect(&self, bus: &AmqpBus) -> Result<(), ConnectError> {
        bus.connect().await.map_err(|e| match e {
            AmqpError::Connect(reason) => ConnectError::Unreachable(reason),
            other => ConnectError::Other(other.to_string()),
        })
    }

    fn is_connected(&self, bus: &AmqpBus) -> Option<bool> {
        Some(bus.is_connected())
    }

    async fn close(&self, bus: &AmqpBus) {
        bus.close().await;
    }

    async fn remove(&self, exchange: String) {
        delete_exchange(&exchange).await;
    }
}

volley_cluster::bus_conformance_suite!(Amqp);
