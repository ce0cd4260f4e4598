//! One live connection to the broker: the connection, its publishing channel (in confirm mode),
//! and, once someone subscribes, its consuming channel and queue.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use volley_cluster::BusError;

use crate::config::Settings;
use crate::error::{self, AmqpError};
use crate::tasks::ConnectionTasks;
use crate::wire;

/// A connection with its publishing channel, the exchange declared.
pub(crate) struct Link {
    connection: Connection,
    publisher: Channel,
    exchange: String,
    /// `delivery_mode` 2 (persistent) or 1.
    delivery_mode: u8,
    /// lapin's tasks for this connection: retired when the link closes or is dropped.
    tasks: ConnectionTasks,
}

/// The consuming side of a [`Link`]: its channel and the consumer of the node's queue.
pub(crate) struct Consuming {
    pub(crate) channel: Channel,
    pub(crate) consumer: Consumer,
    pub(crate) queue: String,
    /// Whether the queue was missing although this bus had declared it before: it expired (the
    /// node was away longer than the queue expiry) or the broker lost it.
    pub(crate) recreated: bool,
}

impl Link {
    /// Connects, opens the publishing channel in confirm mode and declares the exchange, within
    /// the connect timeout.
    pub(crate) async fn open(settings: &Settings) -> Result<Link, AmqpError> {
        let tasks = ConnectionTasks::new();
        // Whether lapin itself failed the connect: its I/O thread is then done.
        let mut io_thread_done = false;
        let opening = async {
            let properties = ConnectionProperties::default()
                .with_connection_name(LongString::from(settings.connection_name.as_str()))
                .with_executor(tasks.clone())
                .with_reactor(tasks.clone());
            let connection = match Connection::connect_uri(settings.uri.clone(), properties).await {
                Ok(connection) => connection,
                Err(e) => {
                    io_thread_done = true;
                    return Err(AmqpError::Connect(error::describe(&e)));
                }
            };
            let link = async {
                ensure_exchange(&connection, settings).await?;
                let publisher = connection.create_channel().await?;
                publisher
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                Ok::<_, lapin::Error>(publisher)
            }
            .await;
            match link {
                Ok(publisher) => Ok(Link {
                    connection,
                    publisher,
                    exchange: settings.exchange.clone(),
                    delivery_mode: if settings.durable { 2 } else { 1 },
                    tasks: tasks.clone(),
                }),
                Err(e) => {
                    let _ = connection.close(200, "bye").await;
                    Err(declare_error(&e))
                }
            }
        };
        let result = match tokio::time::timeout(settings.connect_timeout, opening).await {
            Ok(result) => result,
            Err(_) => Err(AmqpError::Connect(format!(
                "no connection within {:?}",
                settings.connect_timeout
            ))),
        };
        if result.is_err() {
            tasks.retire(io_thread_done);
        }
        result
    }

    /// Whether the connection and the publishing channel are both open.
    pub(crate) fn healthy(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }

    /// Whether the broker told this connection to stop publishing (a resource alarm).
    pub(crate) fn blocked(&self) -> bool {
        self.connection.status().blocked()
    }

    /// Publishes once, `mandatory`, and waits for the broker's confirm: `Ok` only once the
    /// broker has put the message in every queue bound to the exchange (on disk, for a
    /// persistent message in a durable queue).
    pub(crate) async fn publish(
        &self,
        routing_key: &str,
        payload: &[u8],
        message_id: String,
    ) -> Result<(), BusError> {
        let properties = BasicProperties::default()
            .with_message_id(message_id.into())
            .with_delivery_mode(self.delivery_mode);
        let confirm = self
            .publisher
            .basic_publish(
                &self.exchange,
                routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                payload,
                properties,
            )
            .await
            .map_err(|e| error::bus_error(&e))?
            .await
            .map_err(|e| error::bus_error(&e))?;
        match confirm {
            // Returned: no queue is bound, not even this node's own (it is being declared again
            // after a reconnection). Nobody received it.
            Confirmation::Ack(Some(_)) => Err(BusError::Unavailable(
                "no node's queue is bound to the exchange yet (the message was returned)".into(),
            )),
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err(BusError::Other(
                "RabbitMQ did not accept the message (nack)".into(),
            )),
        }
    }

    /// Opens the consuming channel: bounded prefetch, the node's queue declared (see
    /// [`wire`](crate::wire)) and bound to the exchange, and an exclusive consumer with explicit
    /// acknowledgements. `declared_before`: whether this bus had declared its queue already (on
    /// an earlier connection), so that a missing queue means it expired.
    pub(crate) async fn consume(
        &self,
        settings: &Settings,
        declared_before: bool,
    ) -> Result<Consuming, AmqpError> {
        let opening = async {
            // Declared here too: this channel may be opened after a broker restart that the
            // publishing channel has not noticed yet.
            ensure_exchange(&self.connection, settings).await?;
            let queue = settings.queue.as_str();
            let mut recreated = false;
            if declared_before {
                let probe = self.connection.create_channel().await?;
                let passive = QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                };
                match probe
                    .queue_declare(queue, passive, FieldTable::default())
                    .await
                {
                    Ok(_) => {
                        let _ = probe.close(200, "checked").await;
                    }
                    Err(e) if error::is_not_found(&e) => recreated = true,
                    Err(e) => return Err(e),
                }
            }
            let channel = self.connection.create_channel().await?;
            channel
                .basic_qos(settings.prefetch, BasicQosOptions::default())
                .await?;
            channel
                .queue_declare(
                    queue,
                    QueueDeclareOptions {
                        exclusive: false,
                        auto_delete: false,
                        durable: settings.durable,
                        ..QueueDeclareOptions::default()
                    },
                    queue_arguments(settings),
                )
                .await?;
            channel
                .queue_bind(
                    queue,
                    &settings.exchange,
                    "",
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            let consumer = channel
                .basic_consume(
                    queue,
                    "",
                    BasicConsumeOptions {
                        no_ack: false,
                        exclusive: true,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>(Consuming {
                channel,
                consumer,
                queue: queue.to_owned(),
                recreated,
            })
        };
        match tokio::time::timeout(settings.connect_timeout, opening).await {
            Ok(Ok(consuming)) => Ok(consuming),
            Ok(Err(e)) => Err(declare_error(&e)),
            Err(_) => Err(AmqpError::Connect(format!(
                "the queue was not in place within {:?}",
                settings.connect_timeout
            ))),
        }
    }

    /// Deletes the node's queue (when the bus closes: nobody will read it again), within a
    /// second, if the connection is still open.
    pub(crate) async fn delete_queue(&self, queue: &str) {
        if !self.connection.status().connected() {
            return;
        }
        let deleting = async {
            let channel = self.connection.create_channel().await?;
            channel
                .queue_delete(queue, QueueDeleteOptions::default())
                .await?;
            channel.close(200, "deleted").await
        };
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(1), deleting).await {
            tracing::debug!(target: crate::LOG_TARGET, queue, error = %e, "cannot delete this node's queue");
        }
    }

    /// Closes the connection (and so its channels; the node's queue stays for its expiry),
    /// politely if it is still open, within a second.
    pub(crate) async fn close(&self) {
        if self.connection.status().connected() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                self.connection.close(200, "closing"),
            )
            .await;
        }
        self.tasks.retire(false);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Dropping the connection closes it (lapin closes a connection nobody holds).
        self.tasks.retire(false);
    }
}

/// The arguments of the node's queue (see [`wire`](crate::wire)).
fn queue_arguments(settings: &Settings) -> FieldTable {
    let mut arguments = FieldTable::default();
    let expires = u32::try_from(settings.queue_expiry.as_millis()).unwrap_or(u32::MAX);
    arguments.insert("x-expires".into(), AMQPValue::LongUInt(expires.max(1)));
    if let Some(max) = settings.max_queue_length {
        arguments.insert("x-max-length".into(), AMQPValue::LongUInt(max));
    }
    if let Some(max) = settings.max_queue_bytes {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        arguments.insert("x-max-length-bytes".into(), AMQPValue::LongLongInt(max));
    }
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString(LongString::from("drop-head")),
    );
    arguments
}

/// Declares the exchange as the nodes do (durable, unless configured otherwise); if it exists
/// the other way (declared by an earlier version, or by python-socketio), uses it as it is. Any other difference (another type, say)
/// is the broker's `PRECONDITION_FAILED`. Each attempt on a channel of its own: a refused
/// declaration closes its channel.
async fn ensure_exchange(connection: &Connection, settings: &Settings) -> lapin::Result<()> {
    let (exchange, durable) = (&settings.exchange, settings.exchange_durable);
    let first = declare_exchange(connection, exchange, durable).await;
    match first {
        Err(e) if error::is_precondition_failed(&e) => {
            declare_exchange(connection, exchange, !durable).await
        }
        other => other,
    }
}

async fn declare_exchange(
    connection: &Connection,
    exchange: &str,
    durable: bool,
) -> lapin::Result<()> {
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable,
                auto_delete: wire::EXCHANGE_AUTO_DELETE,
                internal: false,
                passive: false,
                nowait: false,
            },
            FieldTable::default(),
        )
        .await?;
    let _ = channel.close(200, "declared").await;
    Ok(())
}

/// A failed declaration: the broker's refusal, or a connection that failed meanwhile.
fn declare_error(err: &lapin::Error) -> AmqpError {
    if error::is_refusal(err) {
        AmqpError::Declare(error::describe(err))
    } else {
        AmqpError::Connect(error::describe(err))
    }
}
