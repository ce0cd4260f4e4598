//! The RabbitMQ transport: each classic payload is one `basic.publish` to the cluster's fanout
//! exchange, with the channel name as routing key, as Volley's AMQP transport (`volley-amqp`,
//! its `wire` module) carries every bus channel.
//!
//! - the exchange (`volley` unless chosen) is declared before use with the flags every node
//!   declares it with: type `fanout`, durable, not auto-delete, not internal, no arguments; an
//!   exchange that exists non-durable (declared by an earlier version) is used as it is; other
//!   differences make the broker close the channel with `PRECONDITION_FAILED`;
//! - routing key = the channel (`{key}#{nsp}#`, `{key}#{nsp}#{room}#`, `{key}-request#{nsp}#`),
//!   at most 255 bytes; body = the payload, byte for byte; no properties, transient, neither
//!   `mandatory` nor `immediate`;
//! - the publishing channel is in confirm mode: a publish returns once the broker confirmed it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{FieldTable, LongString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::{EmitterError, Outgoing, SendFuture, Transport};

/// The exchange of a Volley cluster on RabbitMQ, unless configured otherwise (the default of
/// `volley-amqp`).
pub(crate) const DEFAULT_EXCHANGE: &str = "volley";
/// The exchange type every node declares.
const EXCHANGE_KIND: ExchangeKind = ExchangeKind::Fanout;
/// Durable, not auto-delete: the flags every node declares the exchange with.
const EXCHANGE_DURABLE: bool = true;
const EXCHANGE_AUTO_DELETE: bool = false;
/// The longest routing key or exchange name (an AMQP short string).
const MAX_NAME_LEN: usize = 255;

/// How long connecting (TCP, handshake, channel, declaration) may take, and a publish may wait
/// for its confirm.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The AMQP heartbeat asked of the broker, unless the URL sets one.
const HEARTBEAT_SECS: u16 = 10;
/// How often the connection's health is checked when nothing else happens.
const HEALTH_CHECK: Duration = Duration::from_millis(200);
/// Reconnection backoff: from 100 ms, doubling, up to 5 s, forever.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How a connection shows in `rabbitmqctl list_connections client_properties`.
const CONNECTION_NAME: &str = "volley-emitter";

/// Declares the exchange as the nodes do (durable); if it exists non-durable (declared by an
/// earlier version, which did so), uses it as it is. Any other difference (another type, say)
/// is the broker's `PRECONDITION_FAILED`. Each attempt on a channel of its own: a refused
/// declaration closes its channel.
async fn ensure_exchange(connection: &Connection, exchange: &str) -> lapin::Result<()> {
    let first = declare_exchange(connection, exchange, EXCHANGE_DURABLE).await;
    match first {
        Err(e) if is_precondition_failed(&e) => {
            declare_exchange(connection, exchange, !EXCHANGE_DURABLE).await
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
            EXCHANGE_KIND,
            ExchangeDeclareOptions {
                durable,
                auto_delete: EXCHANGE_AUTO_DELETE,
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

/// Whether the broker answered `PRECONDITION_FAILED` (406).
fn is_precondition_failed(err: &lapin::Error) -> bool {
    matches!(
        err.kind(),
        lapin::ErrorKind::ProtocolError(e)
            if matches!(
                e.kind(),
                lapin::protocol::AMQPErrorKind::Soft(
                    lapin::protocol::AMQPSoftError::PRECONDITIONFAILED
                )
            )
    )
}

/// One connection and its publishing channel (confirm mode, the exchange declared).
struct Link {
    connection: Connection,
    channel: Channel,
}

impl Link {
    async fn open(settings: &Settings) -> Result<Link, String> {
        let opening = async {
            let properties = ConnectionProperties::default()
                .with_connection_name(LongString::from(CONNECTION_NAME))
                .with_executor(tokio_executor_trait::Tokio::current())
                .with_reactor(tokio_reactor_trait::Tokio::current());
            let connection = Connection::connect_uri(settings.uri.clone(), properties)
                .await
                .map_err(|e| e.to_string())?;
            let channel = async {
                ensure_exchange(&connection, &settings.exchange).await?;
                let channel = connection.create_channel().await?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                Ok::<_, lapin::Error>(channel)
            }
            .await;
            match channel {
                Ok(channel) => Ok(Link {
                    connection,
                    channel,
                }),
                Err(e) => {
                    let _ = connection.close(200, "bye").await;
                    Err(format!(
                        "cannot declare the exchange {:?}: {e}",
                        settings.exchange
                    ))
                }
            }
        };
        match tokio::time::timeout(TIMEOUT, opening).await {
            Ok(result) => result,
            Err(_) => Err(format!("no connection within {TIMEOUT:?}")),
        }
    }

    fn healthy(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
    ) -> Result<(), String> {
        let confirm = self
            .channel
            .basic_publish(
                exchange,
                routing_key,
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default(),
            )
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        match confirm {
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err("RabbitMQ did not accept the message (nack)".into()),
        }
    }

    async fn close(&self) {
        if self.connection.status().connected() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                self.connection.close(200, "closing"),
            )
            .await;
        }
    }
}

/// The checked URL and exchange.
struct Settings {
    uri: AMQPUri,
    /// `host:port/vhost`, for `Debug` (no credentials).
    address: String,
    exchange: String,
}

/// What the emitter and its reconnecting task share.
struct Shared {
    settings: Settings,
    /// The live connection; `None` while reconnecting.
    link: Mutex<Option<Arc<Link>>>,
    /// Wakes the task: a publish found the connection broken, or the emitter closes.
    wake: Notify,
    closed: AtomicBool,
}

impl Shared {
    fn current(&self) -> Option<Arc<Link>> {
        self.link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, link: Option<Arc<Link>>) -> Option<Arc<Link>> {
        std::mem::replace(
            &mut *self.link.lock().unwrap_or_else(PoisonError::into_inner),
            link,
        )
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// One connection to RabbitMQ, re-opened in the background when it is lost.
pub(crate) struct AmqpTransport {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("address", &self.shared.settings.address)
            .field("exchange", &self.shared.settings.exchange)
            .finish_non_exhaustive()
    }
}

impl AmqpTransport {
    pub(crate) async fn connect(url: &str, exchange: &str) -> Result<Self, EmitterError> {
        let (uri, address) = parse_url(url)?;
        check_exchange(exchange)?;
        let settings = Settings {
            uri,
            address,
            exchange: exchange.to_owned(),
        };
        let link = Link::open(&settings)
            .await
            .map_err(|e| EmitterError::Connect(format!("RabbitMQ at {}: {e}", settings.address)))?;
        let shared = Arc::new(Shared {
            settings,
            link: Mutex::new(Some(Arc::new(link))),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let task = tokio::spawn(reconnect(shared.clone()));
        Ok(AmqpTransport {
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    async fn publish(&self, channel: String, payload: &[u8]) -> Result<(), EmitterError> {
        let shared = &self.shared;
        if channel.len() > MAX_NAME_LEN {
            return Err(EmitterError::Publish(format!(
                "the channel name is longer than {MAX_NAME_LEN} bytes (an AMQP routing key)"
            )));
        }
        if shared.is_closed() {
            return Err(EmitterError::Publish("the emitter is closed".into()));
        }
        let link = match shared.current() {
            Some(link) if link.healthy() => link,
            _ => {
                shared.wake.notify_one();
                return Err(EmitterError::Publish(
                    "the connection to RabbitMQ is down (reconnecting)".into(),
                ));
            }
        };
        if link.connection.status().blocked() {
            return Err(EmitterError::Publish(
                "RabbitMQ blocks publishers (a resource alarm is on)".into(),
            ));
        }
        let exchange = &shared.settings.exchange;
        match tokio::time::timeout(TIMEOUT, link.publish(exchange, &channel, payload)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // Perhaps a broken channel or connection: let the task look now.
                shared.wake.notify_one();
                Err(EmitterError::Publish(e))
            }
            Err(_) => {
                shared.wake.notify_one();
                Err(EmitterError::Publish(format!(
                    "RabbitMQ did not confirm the message within {TIMEOUT:?}"
                )))
            }
        }
    }
}

/// Watches the connection and, once it is lost, opens a new one with backoff, until closed.
async fn reconnect(shared: Arc<Shared>) {
    loop {
        // Wait until the connection is lost (or the emitter closes).
        loop {
            if shared.is_closed() {
                return;
            }
            if !shared.current().is_some_and(|link| link.healthy()) {
                break;
            }
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(HEALTH_CHECK) => {}
            }
        }
        if let Some(old) = shared.replace(None) {
            old.close().await;
        }
        let mut delay = RECONNECT_MIN;
        loop {
            tokio::time::sleep(delay).await;
            if shared.is_closed() {
                return;
            }
            match Link::open(&shared.settings).await {
                Ok(link) => {
                    if shared.is_closed() {
                        link.close().await;
                        return;
                    }
                    shared.replace(Some(Arc::new(link)));
                    break;
                }
                Err(_) => delay = (delay * 2).min(RECONNECT_MAX),
            }
        }
    }
}

impl Transport for AmqpTransport {
    fn send(&self, key: &str, message: Outgoing<'_>) -> SendFuture<'_> {
        let encoded = message.encode(key);
        Box::pin(async move {
            let (channel, payload) = encoded?;
            self.publish(channel, &payload).await
        })
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.shared.closed.store(true, Ordering::Release);
            self.shared.wake.notify_one();
            if let Some(task) = self
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                task.abort();
            }
            if let Some(link) = self.shared.replace(None) {
                link.close().await;
            }
        })
    }
}

impl Drop for AmqpTransport {
    fn drop(&mut self) {
        // Stops the reconnecting task (needs no runtime); the connection closes when its last
        // holder drops it.
        self.shared.closed.store(true, Ordering::Release);
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

pub(crate) fn check_exchange(exchange: &str) -> Result<(), EmitterError> {
    if exchange.len() > MAX_NAME_LEN {
        return Err(EmitterError::Connect(format!(
            "the exchange name is longer than {MAX_NAME_LEN} bytes"
        )));
    }
    if exchange.starts_with("amq.") {
        return Err(EmitterError::Connect(
            "exchange names starting with \"amq.\" are reserved by the broker".into(),
        ));
    }
    Ok(())
}

/// Parses `amqp://[user[:password]@]host[:port][/vhost][?query]` into lapin's form. Error
/// messages never repeat the URL, which may hold a password.
pub(crate) fn parse_url(url: &str) -> Result<(AMQPUri, String), EmitterError> {
    let invalid = |reason: String| EmitterError::Connect(format!("invalid AMQP URL: {reason}"));
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(invalid("expected amqp://host[:port][/vhost]".into()));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "amqp" => {}
        "amqps" => return Err(invalid("TLS (amqps://) is not supported".into())),
        other => {
            return Err(invalid(format!(
                "unknown scheme {other:?}: expected amqp://host[:port][/vhost]"
            )))
        }
    }
    let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(invalid("missing host".into())),
    };
    if parsed.port() == Some(0) {
        return Err(invalid("port 0 is not a valid port".into()));
    }
    if parsed.path().trim_start_matches('/').contains('/') {
        return Err(invalid(
            "the vhost is one path segment; write `/` inside it as %2f".into(),
        ));
    }
    let mut uri: AMQPUri = url.parse().map_err(|e: String| {
        // amq-protocol's messages may quote the URL: keep them only when they do not.
        if e.contains(url) || parsed.password().is_some_and(|p| e.contains(p)) {
            invalid("not a valid AMQP URL".into())
        } else {
            invalid(e)
        }
    })?;
    // amq-protocol takes only domain names as hosts and falls back to "localhost" for an IP
    // address: set the host from the URL.
    uri.authority.host = host;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(HEARTBEAT_SECS);
    }
    if uri.query.connection_timeout.is_none() {
        // Bounds lapin's blocking TCP connect too.
        uri.query.connection_timeout = Some(TIMEOUT.as_millis() as u64);
    }
    let address = format!(
        "{}:{}/{}",
        uri.authority.host, uri.authority.port, uri.vhost
    );
    Ok((uri, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> String {
        match parse_url(url) {
            Err(EmitterError::Connect(reason)) => reason,
            other => panic!("{url:?} gave {:?}", other.map(|(_, a)| a)),
        }
    }

    #[test]
    fn urls() {
        let (uri, address) = parse_url("amqp://u:p%40ss@10.1.2.3:7000/my%2fvhost").expect("valid");
        assert_eq!(uri.authority.host, "10.1.2.3");
        assert_eq!(uri.authority.userinfo.password, "p@ss");
        assert_eq!(uri.query.heartbeat, Some(HEARTBEAT_SECS));
        assert_eq!(address, "10.1.2.3:7000/my/vhost");
        let (uri, address) = parse_url("AMQP://127.0.0.1?heartbeat=3").expect("valid");
        assert_eq!(uri.query.heartbeat, Some(3));
        assert_eq!(address, "127.0.0.1:5672//");
        assert!(parse_url("amqp://[::1]:5672/%2f").is_ok());
        for bad in [
            "",
            "127.0.0.1:5672",
            "http://h",
            "amqps://h",
            "amqp://",
            "amqp://h:0",
            "amqp://h/a/b",
            "amqp://h:99999",
        ] {
            assert!(!reason(bad).is_empty(), "{bad}");
        }
        for bad in [
            "amqps://u:hunter2@h",
            "amqp://u:hunter2@h/a/b",
            "amqp://u:hunter2@h:x",
        ] {
            assert!(!reason(bad).contains("hunter2"), "{bad}");
        }
    }

    #[test]
    fn exchange_names() {
        assert!(check_exchange(DEFAULT_EXCHANGE).is_ok());
        assert!(check_exchange("amq.fanout").is_err());
        assert!(check_exchange(&"x".repeat(256)).is_err());
    }
}
