//! Helpers shared by the integration tests: they run against the machine's RabbitMQ server.
//!
//! Every test holds the system-wide broker lock (`/tmp/volley-rabbitmq.lock`) *shared* while it
//! uses RabbitMQ; the test that restarts the broker holds it *exclusive*, so it waits for the
//! others (in any test binary or crate) and they wait for it.

#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use std::fs::File;
use std::process::Command;
use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, ExchangeDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::mpsc;
pub use volley_cluster::conformance::{next, unique};
use volley_cluster::BusMessage;

/// The lock every test that uses RabbitMQ takes (see the module's documentation).
pub const BROKER_LOCK: &str = "/tmp/volley-rabbitmq.lock";

/// The shared RabbitMQ server of the machine (`VOLLEY_AMQP_URL` overrides it).
pub fn amqp_url() -> String {
    std::env::var("VOLLEY_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Holds the broker lock until dropped.
pub struct BrokerLock(File);

fn open_lock() -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(BROKER_LOCK)
        .expect("open the broker lock file")
}

/// Takes the broker lock shared: other tests may use RabbitMQ meanwhile, nobody restarts it.
pub async fn shared_lock() -> BrokerLock {
    tokio::task::spawn_blocking(|| {
        let file = open_lock();
        fs4::FileExt::lock_shared(&file).expect("lock the broker lock file (shared)");
        BrokerLock(file)
    })
    .await
    .expect("the lock task")
}

/// Takes the broker lock exclusive: no other test uses RabbitMQ meanwhile.
pub async fn exclusive_lock() -> BrokerLock {
    tokio::task::spawn_blocking(|| {
        let file = open_lock();
        fs4::FileExt::lock(&file).expect("lock the broker lock file (exclusive)");
        BrokerLock(file)
    })
    .await
    .expect("the lock task")
}

/// Asserts that nothing arrives for a short while.
pub async fn nothing_more(rx: &mut mpsc::Receiver<BusMessage>) {
    volley_cluster::conformance::nothing_more(rx, Duration::from_millis(300)).await;
}

/// A plain lapin connection of the test's own, to act on the broker from outside the bus.
pub struct Admin(Connection);

impl Admin {
    pub async fn connect() -> Admin {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current());
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&amqp_url(), properties),
        )
        .await
        .expect("RabbitMQ answers in time")
        .expect("RabbitMQ runs at VOLLEY_AMQP_URL or 127.0.0.1:5672");
        Admin(connection)
    }

    /// Deletes an exchange (the bus's exchanges are durable: tests remove theirs).
    pub async fn delete_exchange(&self, exchange: &str) {
        let channel = self.0.create_channel().await.expect("channel");
        channel
            .exchange_delete(exchange, ExchangeDeleteOptions::default())
            .await
            .expect("delete the exchange");
        let _ = channel.close(200, "done").await;
    }

    /// Declares an exchange of `kind`, durable or not.
    pub async fn declare(&self, exchange: &str, kind: ExchangeKind, durable: bool) {
        let channel = self.0.create_channel().await.expect("channel");
        channel
            .exchange_declare(
                exchange,
                kind,
                ExchangeDeclareOptions {
                    durable,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare the exchange");
        let _ = channel.close(200, "done").await;
    }

    pub async fn close(self) {
        let _ = self.0.close(200, "done").await;
    }
}

/// Deletes `exchange` through a connection of its own.
pub async fn delete_exchange(exchange: &str) {
    let admin = Admin::connect().await;
    admin.delete_exchange(exchange).await;
    admin.close().await;
}

/// Runs `rabbitmqctl` with `args`, returning its standard output; panics if it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl is installed");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Closes, from the broker's side, every connection whose client-provided name is `name`.
/// Returns how many were closed.
pub async fn close_connections_named(name: &str) -> usize {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let list = rabbitmqctl(&[
            "list_connections",
            "--quiet",
            "--no-table-headers",
            "pid",
            "client_properties",
        ]);
        let mut closed = 0;
        for line in list.lines() {
            // `<pid>\t[{"connection_name",longstr,"<name>"},…]`: test names are unique.
            let Some((pid, properties)) = line.split_once('\t') else {
                continue;
            };
            if properties.contains(&format!("\"{name}\"")) {
                rabbitmqctl(&["close_connection", pid.trim(), "closed by a test"]);
                closed += 1;
            }
        }
        closed
    })
    .await
    .expect("the rabbitmqctl task")
}

/// Deletes, from the broker's side, the queues bound to `exchange`. Returns how many.
pub async fn delete_queues_bound_to(exchange: &str) -> usize {
    let exchange = exchange.to_owned();
    tokio::task::spawn_blocking(move || {
        let list = rabbitmqctl(&[
            "list_bindings",
            "--quiet",
            "--no-table-headers",
            "source_name",
            "destination_name",
            "destination_kind",
        ]);
        let mut deleted = 0;
        for line in list.lines() {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            if let [source, queue, "queue"] = fields[..] {
                if source == exchange {
                    rabbitmqctl(&["delete_queue", queue]);
                    deleted += 1;
                }
            }
        }
        deleted
    })
    .await
    .expect("the rabbitmqctl task")
}
