//! One live connection to the broker: the connection, its publishing channel (in confirm mode),
//! and, once someone subscribes, its consuming channel and queue.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use volley::manager::cluster::BusError;

use crate::config::Settings;
use crate::error::{self, AmqpError};
use crate::wire;

/// A connection with its publishing channel, the exchange declared.
pub(crate) struct Link {
    connection: Connection,
    publisher: Channel,
    exchange: String,
}

/// The consuming side of a [`Link`]: its channel and the consumer of the node's queue.
pub(crate) struct Consuming {
    pub(crate) channel: Channel,
    pub(crate) consumer: Consumer,
    pub(crate) queue: String,
}

impl Link {
    /// Connects, opens the publishing channel in confirm mode and declares the exchange, within
    /// the connect timeout.
    pub(crate) async fn open(settings: &Settings) -> Result<Link, AmqpError> {
        let opening = async {
            let properties = ConnectionProperties::default()
                .with_connection_name(LongString::from(settings.connection_name.as_str()))
                .with_executor(tokio_executor_trait::Tokio::current())
                .with_reactor(tokio_reactor_trait::Tokio::current());
            let connection = Connection::connect_uri(settings.uri.clone(), properties)
                .await
                .map_err(|e| AmqpError::Connect(error::describe(&e)))?;
            let link = async {
                let publisher = connection.create_channel().await?;
                publisher
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                declare_exchange(&publisher, &settings.exchange).await?;
                Ok::<_, lapin::Error>(publisher)
            }
            .await;
            match link {
                Ok(publisher) => Ok(Link {
                    connection,
                    publisher,
                    exchange: settings.exchange.clone(),
                }),
                Err(e) => {
                    let _ = connection.close(200, "bye").await;
                    Err(declare_error(&e))
                }
            }
        };
        match tokio::time::timeout(settings.connect_timeout, opening).await {
            Ok(result) => result,
            Err(_) => Err(AmqpError::Connect(format!(
                "no connection within {:?}",
                settings.connect_timeout
            ))),
        }
    }

    /// Whether the connection and the publishing channel are both open.
    pub(crate) fn healthy(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }

    /// Whether the broker told this connection to stop publishing (a resource alarm).
    pub(crate) fn blocked(&self) -> bool {
        self.connection.status().blocked()
    }

    /// Publishes once and waits for the broker's confirm.
    pub(crate) async fn publish(&self, routing_key: &str, payload: &[u8]) -> Result<(), BusError> {
        let confirm = self
            .publisher
            .basic_publish(
                &self.exchange,
                routing_key,
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default(),
            )
            .await
            .map_err(|e| error::bus_error(&e))?
            .await
            .map_err(|e| error::bus_error(&e))?;
        match confirm {
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err(BusError::Other(
                "RabbitMQ did not accept the message (nack)".into(),
            )),
        }
    }

    /// Opens the consuming channel: bounded prefetch, the node's exclusive queue bound to the
    /// exchange, and a consumer with explicit acknowledgements.
    pub(crate) async fn consume(&self, settings: &Settings) -> Result<Consuming, AmqpError> {
        let opening = async {
            let channel = self.connection.create_channel().await?;
            channel
                .basic_qos(settings.prefetch, BasicQosOptions::default())
                .await?;
            // Declared here too: this channel may be opened after a broker restart that the
            // publishing channel has not noticed yet.
            declare_exchange(&channel, &settings.exchange).await?;
            let mut arguments = FieldTable::default();
            if let Some(max) = settings.max_queue_length {
                arguments.insert("x-max-length".into(), AMQPValue::LongUInt(max));
            }
            let queue = channel
                .queue_declare(
                    "",
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        durable: false,
                        ..QueueDeclareOptions::default()
                    },
                    arguments,
                )
                .await?;
            let queue = queue.name().as_str().to_owned();
            channel
                .queue_bind(
                    &queue,
                    &settings.exchange,
                    "",
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            let consumer = channel
                .basic_consume(
                    &queue,
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
                queue,
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

    /// Closes the connection (and so its channels and the node's queue), politely if it is still
    /// open, within a second.
    pub(crate) async fn close(&self) {
        if self.connection.status().connected() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                self.connection.close(200, "closing"),
            )
            .await;
        }
    }
}

async fn declare_exchange(channel: &Channel, exchange: &str) -> lapin::Result<()> {
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: wire::EXCHANGE_DURABLE,
                auto_delete: wire::EXCHANGE_AUTO_DELETE,
                internal: false,
                passive: false,
                nowait: false,
            },
            FieldTable::default(),
        )
        .await
}

/// A failed declaration: the broker's refusal, or a connection that failed meanwhile.
fn declare_error(err: &lapin::Error) -> AmqpError {
    if error::is_refusal(err) {
        AmqpError::Declare(error::describe(err))
    } else {
        AmqpError::Connect(error::describe(err))
    }
}
