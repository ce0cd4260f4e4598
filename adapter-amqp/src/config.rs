//! Settings of an [`AmqpBus`](crate::AmqpBus) and how its URL becomes lapin's.

use std::time::Duration;

use lapin::uri::AMQPUri;

use crate::{wire, AmqpBus, AmqpError};

/// Default of [`AmqpBusBuilder::max_message_size`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Default of [`AmqpBusBuilder::queue_expiry`]: how long a node's queue outlives its last
/// connection, collecting what the others publish, before the broker deletes it (60 s).
pub const DEFAULT_QUEUE_EXPIRY: Duration = Duration::from_secs(60);

/// Default of [`AmqpBusBuilder::max_queue_length`]: 100 000 messages.
pub const DEFAULT_MAX_QUEUE_LENGTH: u32 = 100_000;

/// Default of [`AmqpBusBuilder::max_queue_bytes`]: 64 MiB of message bodies.
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 64 * 1024 * 1024;

/// Configures an [`AmqpBus`] before building it. Start from [`AmqpBus::builder`]; every setting
/// has a default suited to a cluster of Socket.IO nodes on a local network.
///
/// ```
/// use std::time::Duration;
/// use volley_amqp::AmqpBus;
///
/// let bus = AmqpBus::builder("amqp://guest:guest@127.0.0.1:5672/%2f")
///     .exchange("chat")
///     .max_message_size(1024 * 1024)
///     .operation_timeout(Duration::from_millis(500))
///     .reconnect_delays(Duration::from_millis(50), Duration::from_secs(2))
///     .build()
///     .expect("a valid URL");
/// # drop(bus);
/// ```
#[derive(Clone)]
pub struct AmqpBusBuilder {
    url: String,
    exchange: String,
    max_message_size: usize,
    operation_timeout: Duration,
    connect_timeout: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
    heartbeat: Duration,
    prefetch: u16,
    max_queue_length: Option<u32>,
    max_queue_bytes: Option<u64>,
    queue_expiry: Duration,
    durable: bool,
    exchange_durable: bool,
    connection_name: String,
}

impl std::fmt::Debug for AmqpBusBuilder {
    // The URL may carry a password: it is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBusBuilder")
            .field("exchange", &self.exchange)
            .field("max_message_size", &self.max_message_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("heartbeat", &self.heartbeat)
            .field("prefetch", &self.prefetch)
            .field("max_queue_length", &self.max_queue_length)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("queue_expiry", &self.queue_expiry)
            .field("durable", &self.durable)
            .field("exchange_durable", &self.exchange_durable)
            .field("connection_name", &self.connection_name)
            .finish_non_exhaustive()
    }
}

impl AmqpBusBuilder {
    pub(crate) fn new(url: &str) -> Self {
        AmqpBusBuilder {
            url: url.to_owned(),
            exchange: wire::DEFAULT_EXCHANGE.to_owned(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            operation_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            heartbeat: Duration::from_secs(10),
            prefetch: 1000,
            max_queue_length: Some(DEFAULT_MAX_QUEUE_LENGTH),
            max_queue_bytes: Some(DEFAULT_MAX_QUEUE_BYTES),
            queue_expiry: DEFAULT_QUEUE_EXPIRY,
            durable: true,
            exchange_durable: wire::EXCHANGE_DURABLE,
            connection_name: "volley".to_owned(),
        }
    }

    /// The name of the fanout exchange the nodes of one cluster share (see [`wire`]). Nodes
    /// on different exchanges of the same broker do not hear each other.
    ///
    /// Default: [`wire::DEFAULT_EXCHANGE`] (`volley`).
    pub fn exchange(mut self, name: impl Into<String>) -> Self {
        self.exchange = name.into();
        self
    }

    /// The largest payload [`publish`](volley_cluster::PubSub::publish) accepts, in
    /// bytes; a larger one is refused with [`BusError::TooLarge`](volley_cluster::BusError::TooLarge)
    /// before anything is sent. Received messages above it (from another publisher) are dropped
    /// with a warning. RabbitMQ itself refuses messages above its `max_message_size` (128 MiB by
    /// default).
    ///
    /// Default: 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a publish may wait for the broker's confirm before failing with
    /// [`BusError::Unavailable`](volley_cluster::BusError::Unavailable) (the message
    /// may still be delivered: it is never sent twice). While the connection is known to be down,
    /// a publish fails at once without waiting for this.
    ///
    /// Default: 2 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How long opening a connection (TCP, AMQP handshake, channels, declarations) may take, and
    /// how long a [`subscribe`](volley_cluster::PubSub::subscribe) waits for the node's
    /// queue to be in place before failing with
    /// [`BusError::Unavailable`](volley_cluster::BusError::Unavailable).
    ///
    /// Default: 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The backoff between reconnection attempts after the connection is lost: `min` first,
    /// doubled at each failed attempt, never more than `max`. Attempts never stop.
    ///
    /// Default: 100 ms to 5 s.
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// The AMQP heartbeat asked of the broker (the lower of this and the broker's is used): a
    /// broker that vanishes without closing the TCP connection is noticed after about two of
    /// them. A `heartbeat` parameter in the URL's query takes precedence; zero turns them off.
    ///
    /// Default: 10 s.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }

    /// How many received messages the broker may send ahead before this node acknowledges them
    /// (`basic.qos` prefetch count). It bounds the memory of received messages waiting inside the
    /// client; larger values help throughput. At least 2.
    ///
    /// Default: 1 000.
    pub fn prefetch(mut self, messages: u16) -> Self {
        self.prefetch = messages.max(2);
        self
    }

    /// How many messages may wait in this node's queue in the broker (its `x-max-length`): while
    /// the node does not read (its sink is full) or is away (within the
    /// [`queue_expiry`](AmqpBusBuilder::queue_expiry)). Past it the broker drops the **oldest**
    /// messages of this queue (`x-overflow: drop-head`): this node never receives them, the
    /// publishers and the other nodes are not affected and not told. `None` removes the bound
    /// (a stuck node then grows the broker's memory until its memory alarm blocks every
    /// publisher of the broker).
    ///
    /// Default: [`DEFAULT_MAX_QUEUE_LENGTH`] (100 000).
    pub fn max_queue_length(mut self, messages: Option<u32>) -> Self {
        self.max_queue_length = messages;
        self
    }

    /// The same bound as [`max_queue_length`](AmqpBusBuilder::max_queue_length), on the bytes
    /// of the bodies waiting in this node's queue (`x-max-length-bytes`), with the same
    /// behaviour past it (oldest dropped). `None` removes it.
    ///
    /// Default: [`DEFAULT_MAX_QUEUE_BYTES`] (64 MiB).
    pub fn max_queue_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// How long this node's queue outlives its connection (`x-expires`): a node that
    /// reconnects within it finds, in order, everything published while it was away (up to the
    /// queue bounds), and nothing is lost. A node away for longer finds its queue gone: the
    /// broker deleted it, and with it everything published since the node left; the node then
    /// declares it afresh, logs a warning and counts it in
    /// [`AmqpBus::queue_losses`](crate::AmqpBus::queue_losses). At least 1 ms.
    ///
    /// The queue also costs the broker memory for that long after a node dies without closing
    /// its bus (a node that closes its bus deletes its queue at once).
    ///
    /// Default: [`DEFAULT_QUEUE_EXPIRY`] (60 s).
    pub fn queue_expiry(mut self, expiry: Duration) -> Self {
        self.queue_expiry = expiry.max(Duration::from_millis(1));
        self
    }

    /// Whether this node's queue is durable and the messages this bus publishes are persistent
    /// (`delivery_mode` 2), so that a broker that restarts, even killed, still holds what it had
    /// confirmed: the broker then confirms a publish only once the message is on its disk (a few
    /// milliseconds more per publish; concurrent emits share one wait). With `false`, the queue
    /// and the messages are transient: reconnections within the
    /// [`queue_expiry`](AmqpBusBuilder::queue_expiry) still lose nothing, but a broker restart
    /// loses the node's queue and what it held.
    ///
    /// Default: `true`.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// Whether the bus declares its exchange durable first (if the broker refuses because the
    /// exchange exists the other way, the bus takes it as it is, see [`wire`]). `false` is for
    /// exchanges others declare non-durable, as python-socketio's managers do with theirs.
    ///
    /// Default: [`wire::EXCHANGE_DURABLE`] (`true`).
    pub fn exchange_durable(mut self, durable: bool) -> Self {
        self.exchange_durable = durable;
        self
    }

    /// The `connection_name` this bus shows in RabbitMQ's management tools
    /// (`rabbitmqctl list_connections client_properties`).
    ///
    /// Default: `volley`.
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = name.into();
        self
    }

    /// Checks the URL and the exchange name, and builds the bus. Nothing is connected yet: see
    /// [`AmqpBus::connect`].
    ///
    /// The URL is `amqp://[user[:password]@]host[:port][/vhost][?query]`: port 5672 and user
    /// `guest:guest` by default, the vhost percent-encoded (`%2f` is `/`, the default when the
    /// URL has no path; as in RabbitMQ's URI specification, `amqp://host/` names the vhost `""`). The query may set `heartbeat`, `frame_max`, `channel_max`,
    /// `connection_timeout` (milliseconds) and `auth_mechanism`. TLS (`amqps://`) is refused
    /// with [`AmqpError::InvalidUrl`].
    pub fn build(self) -> Result<AmqpBus, AmqpError> {
        let settings = self.settings()?;
        Ok(AmqpBus::from_settings(settings))
    }

    fn settings(&self) -> Result<Settings, AmqpError> {
        let (mut uri, address) = parse_url(&self.url)?;
        if self.exchange.len() > wire::MAX_NAME_LEN {
            return Err(AmqpError::InvalidExchange(format!(
                "longer than {} bytes",
                wire::MAX_NAME_LEN
            )));
        }
        if self.exchange.starts_with("amq.") {
            return Err(AmqpError::InvalidExchange(
                "names starting with \"amq.\" are reserved by the broker".into(),
            ));
        }
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(u16::try_from(self.heartbeat.as_secs()).unwrap_or(u16::MAX));
        }
        if uri.query.connection_timeout.is_none() {
            // Bounds the blocking TCP connect of lapin's I/O thread too.
            uri.query.connection_timeout =
                Some(u64::try_from(self.connect_timeout.as_millis()).unwrap_or(u64::MAX));
        }
        Ok(Settings {
            uri,
            address,
            exchange: self.exchange.clone(),
            max_message_size: self.max_message_size,
            operation_timeout: self.operation_timeout,
            connect_timeout: self.connect_timeout,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            prefetch: self.prefetch,
            max_queue_length: self.max_queue_length,
            max_queue_bytes: self.max_queue_bytes,
            queue_expiry: self.queue_expiry,
            durable: self.durable,
            exchange_durable: self.exchange_durable,
            queue: queue_name(&self.exchange, rand::random()),
            publisher_id: rand::random(),
            connection_name: self.connection_name.clone(),
        })
    }
}

/// Everything an [`AmqpBus`] needs, checked.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) uri: AMQPUri,
    /// `host:port/vhost`, for logs (no credentials).
    pub(crate) address: String,
    pub(crate) exchange: String,
    pub(crate) max_message_size: usize,
    pub(crate) operation_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) prefetch: u16,
    pub(crate) max_queue_length: Option<u32>,
    pub(crate) max_queue_bytes: Option<u64>,
    pub(crate) queue_expiry: Duration,
    pub(crate) durable: bool,
    /// Whether the exchange is declared durable first.
    pub(crate) exchange_durable: bool,
    /// This bus's queue: one name per bus, kept across reconnections.
    pub(crate) queue: String,
    /// Tells this bus's messages apart from other publishers' (see [`wire::message_id`]).
    pub(crate) publisher_id: u64,
    pub(crate) connection_name: String,
}

/// The queue of a bus on `exchange`: `<exchange>.node.<32 hex digits>`, unique to the bus (128
/// random bits), at most [`wire::MAX_NAME_LEN`] bytes.
fn queue_name(exchange: &str, unique: u128) -> String {
    let mut cut = exchange.len().min(wire::MAX_NAME_LEN - 64);
    while !exchange.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}.node.{unique:032x}", &exchange[..cut])
}

/// Parses `amqp://[user[:password]@]host[:port][/vhost][?query]`. Error messages never repeat
/// the URL, which may hold a password.
fn parse_url(url: &str) -> Result<(AMQPUri, String), AmqpError> {
    let invalid = |reason: &str| AmqpError::InvalidUrl(reason.to_owned());
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(invalid("expected amqp://host[:port][/vhost]"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "amqp" => {}
        "amqps" => return Err(invalid("TLS (amqps://) is not supported by this transport")),
        s => {
            return Err(AmqpError::InvalidUrl(format!(
                "unknown scheme {s:?}: expected amqp://host[:port][/vhost]"
            )))
        }
    }
    // `url`'s error messages name the part that is wrong, never the URL itself.
    let parsed = url::Url::parse(url).map_err(|e| AmqpError::InvalidUrl(e.to_string()))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(invalid("missing host")),
    };
    if parsed.port() == Some(0) {
        return Err(invalid("port 0 is not a valid port"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("a fragment (#…) is not allowed"));
    }
    let path = parsed.path().trim_start_matches('/');
    if path.contains('/') {
        return Err(invalid(
            "the vhost is one path segment; write `/` inside it as %2f",
        ));
    }
    for (key, _) in parsed.query_pairs() {
        if !matches!(
            key.as_ref(),
            "heartbeat" | "frame_max" | "channel_max" | "connection_timeout" | "auth_mechanism"
        ) {
            return Err(AmqpError::InvalidUrl(format!(
                "unknown query parameter {key:?}"
            )));
        }
    }
    let mut uri: AMQPUri = url.parse().map_err(|e: String| {
        // amq-protocol's messages may quote the whole URL: keep them only when they do not.
        if e.contains(url) || parsed.password().is_some_and(|p| e.contains(p)) {
            invalid("not a valid AMQP URL")
        } else {
            AmqpError::InvalidUrl(e)
        }
    })?;
    // amq-protocol takes only domain names as hosts and falls back to "localhost" for an IP
    // address: set the host ourselves.
    uri.authority.host = host;
    let address = format!(
        "{}:{}/{}",
        uri.authority.host, uri.authority.port, uri.vhost
    );
    Ok((uri, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_urls() {
        for url in [
            "amqp://127.0.0.1",
            "amqp://127.0.0.1:5673",
            "amqp://localhost:5672/%2f",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "amqp://u:p@host/vhost?heartbeat=5",
            "amqp://[::1]:5672/",
            "AMQP://localhost",
        ] {
            assert!(parse_url(url).is_ok(), "{url}");
        }
        let (uri, address) = parse_url("amqp://u:p%40ss@10.1.2.3:7000/my%2fvhost").expect("valid");
        assert_eq!(uri.authority.host, "10.1.2.3");
        assert_eq!(uri.authority.port, 7000);
        assert_eq!(uri.authority.userinfo.username, "u");
        assert_eq!(uri.authority.userinfo.password, "p@ss");
        assert_eq!(uri.vhost, "my/vhost");
        assert_eq!(address, "10.1.2.3:7000/my/vhost");
        assert!(!address.contains("p@ss"));

        let (uri, _) = parse_url("amqp://[::1]").expect("valid");
        assert_eq!(uri.authority.host, "::1");
        assert_eq!(uri.vhost, "/");
        // As in RabbitMQ's URI spec, an empty path is the vhost "" (not the default one).
        let (uri, _) = parse_url("amqp://127.0.0.1/").expect("valid");
        assert_eq!(uri.vhost, "");
        assert_eq!(uri.authority.userinfo.username, "guest");
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "",
            "localhost:5672",
            "http://localhost:5672",
            "amqps://localhost",
            "amqp://",
            "amqp://:5672",
            "amqp://localhost:99999",
            "amqp://localhost:0",
            "amqp://localhost:port",
            "amqp://localhost/a/b",
            "amqp://localhost/?heartbeat=x",
            "amqp://localhost/?exchange=x",
            "amqp://localhost/#frag",
            "amqp://loc alhost",
        ] {
            match parse_url(url) {
                Err(AmqpError::InvalidUrl(msg)) => assert!(!msg.is_empty(), "{url}"),
                other => panic!("{url:?} gave {:?}", other.map(|(_, a)| a)),
            }
        }
    }

    #[test]
    fn errors_never_repeat_the_password() {
        for url in [
            "amqps://u:hunter2@h",
            "amqp://u:hunter2@h/a/b",
            "amqp://u:hunter2@h/?heartbeat=x",
            "amqp://u:hunter2@h:99999",
            "foo://u:hunter2@h",
        ] {
            let err = parse_url(url).expect_err(url).to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn queue_names_are_unique_and_short_enough() {
        assert_eq!(
            queue_name("volley", 0xab),
            "volley.node.000000000000000000000000000000ab"
        );
        let long = queue_name(&"é".repeat(127), u128::MAX);
        assert!(long.len() <= wire::MAX_NAME_LEN, "{}", long.len());
        let a = AmqpBusBuilder::new("amqp://127.0.0.1")
            .settings()
            .expect("valid");
        let b = AmqpBusBuilder::new("amqp://127.0.0.1")
            .settings()
            .expect("valid");
        assert_ne!(a.queue, b.queue);
        assert_ne!(a.publisher_id, b.publisher_id);
        assert_eq!(a.queue_expiry, DEFAULT_QUEUE_EXPIRY);
        assert!(a.durable);
    }

    #[test]
    fn settings_fill_the_query_and_check_the_exchange() {
        let settings = AmqpBusBuilder::new("amqp://127.0.0.1")
            .heartbeat(Duration::from_secs(7))
            .connect_timeout(Duration::from_millis(1500))
            .settings()
            .expect("valid");
        assert_eq!(settings.uri.query.heartbeat, Some(7));
        assert_eq!(settings.uri.query.connection_timeout, Some(1500));
        let settings = AmqpBusBuilder::new("amqp://127.0.0.1/?heartbeat=3")
            .settings()
            .expect("valid");
        assert_eq!(settings.uri.query.heartbeat, Some(3));

        for bad in ["amq.fanout".to_owned(), "x".repeat(256)] {
            let err = AmqpBusBuilder::new("amqp://127.0.0.1")
                .exchange(bad)
                .settings()
                .err();
            assert!(
                matches!(err, Some(AmqpError::InvalidExchange(_))),
                "{err:?}"
            );
        }
    }
}
