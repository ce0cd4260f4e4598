//! Settings of a [`KafkaBus`](crate::KafkaBus) and how they become librdkafka's configuration.

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::{KafkaBus, KafkaError};

/// The topic every node publishes to and reads from, unless
/// [`KafkaBusBuilder::topic`] says otherwise.
///
/// An emitter that publishes into a Volley cluster without this crate reproduces the mapping:
/// topic [`DEFAULT_TOPIC`], partition [`PUBLISH_PARTITION`], record key = the channel name
/// (UTF-8), record value = the payload, no headers.
pub const DEFAULT_TOPIC: &str = "volley";

/// How many partitions the bus gives the topic when it creates it: one, so that every node sees
/// every message in the same total order.
pub const TOPIC_PARTITIONS: i32 = 1;

/// The partition every message is published to. Nodes read every partition of the topic (in case
/// it was created by someone else with more), but only one partition gives a total order.
pub const PUBLISH_PARTITION: i32 = 0;

/// Default of [`KafkaBusBuilder::max_age`]: records older than 30 s are skipped.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30);

/// Default of [`KafkaBusBuilder::partition_check`]: the topic's partitions are listed every 5 s.
pub const DEFAULT_PARTITION_CHECK: Duration = Duration::from_secs(5);

/// The port of a broker address given without one.
pub const DEFAULT_PORT: u16 = 9092;

/// Default of [`KafkaBusBuilder::max_message_size`]: 1 000 000 bytes, librdkafka's and the
/// brokers' default limit of one record batch (minus room for the channel name and framing).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1_000_000 - 64 * 1024;

/// librdkafka's own default `message.max.bytes`, which the default topic settings of a broker
/// also accept.
const LIBRDKAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Configures a [`KafkaBus`] before building it. Start from [`KafkaBus::builder`]; every setting
/// has a default suited to a cluster of Socket.IO nodes on a local network.
///
/// ```
/// use std::time::Duration;
/// use volley_kafka::KafkaBus;
///
/// let bus = KafkaBus::builder("kafka-1:9092,kafka-2:9092")
///     .topic("chat-cluster")
///     .max_message_size(256 * 1024)
///     .operation_timeout(Duration::from_secs(2))
///     .replication_factor(3)
///     .build()
///     .expect("valid settings");
/// # drop(bus);
/// ```
#[derive(Debug, Clone)]
pub struct KafkaBusBuilder {
    brokers: String,
    /// A problem with the `?key=value` settings of the broker list, reported by `build`.
    query_error: Option<KafkaError>,
    topic: String,
    max_message_size: usize,
    operation_timeout: Duration,
    connect_timeout: Duration,
    linger: Duration,
    fetch_wait: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
    replication_factor: i32,
    retention: Duration,
    max_age: Duration,
    partition_check: Duration,
    options: Vec<(String, String)>,
}

impl KafkaBusBuilder {
    pub(crate) fn new(brokers: &str) -> Self {
        let (list, query) = match brokers.split_once('?') {
            Some((list, query)) => (list, Some(query)),
            None => (brokers, None),
        };
        let mut builder = KafkaBusBuilder {
            brokers: list.to_owned(),
            query_error: None,
            topic: DEFAULT_TOPIC.to_owned(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            operation_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            linger: Duration::ZERO,
            fetch_wait: Duration::from_millis(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
            replication_factor: 1,
            retention: Duration::from_secs(3600),
            max_age: DEFAULT_MAX_AGE,
            partition_check: DEFAULT_PARTITION_CHECK,
            options: Vec::new(),
        };
        if let Some(query) = query {
            if let Err(e) = builder.apply_query(query) {
                builder.query_error = Some(e);
            }
        }
        builder
    }

    /// Applies the settings of a `?topic=…&fetch_wait_ms=…` query.
    fn apply_query(&mut self, query: &str) -> Result<(), KafkaError> {
        let invalid = |reason: String| KafkaError::InvalidBrokers(reason);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(invalid(format!("expected key=value, not {pair:?}")));
            };
            let ms = || {
                value
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| invalid(format!("{key} takes milliseconds, not {value:?}")))
            };
            match key {
                "topic" => self.topic = value.to_owned(),
                "fetch_wait_ms" => self.fetch_wait = ms()?,
                "linger_ms" => self.linger = ms()?,
                "operation_timeout_ms" => {
                    self.operation_timeout = ms()?.max(Duration::from_millis(1))
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown setting {key:?}: expected topic, fetch_wait_ms, linger_ms or \
                         operation_timeout_ms"
                    )))
                }
            }
        }
        Ok(())
    }

    /// The topic the nodes of one cluster share: every node publishes to it and reads all of it
    /// (its own consumer, from the end), keeping the messages whose key matches its
    /// subscriptions. Separate clusters on the same brokers use separate topics (or separate
    /// channel prefixes in the same topic). The bus creates it when it is missing.
    ///
    /// Default: [`DEFAULT_TOPIC`].
    pub fn topic(mut self, topic: &str) -> Self {
        self.topic = topic.to_owned();
        self
    }

    /// The largest payload [`publish`](volley_cluster::PubSub::publish) accepts, in
    /// bytes; a larger one is refused with
    /// [`BusError::TooLarge`](volley_cluster::BusError::TooLarge) before anything is
    /// sent. Above the default, the producer's `message.max.bytes` and the created topic's
    /// `max.message.bytes` are raised to match; a topic that already exists, and the brokers'
    /// `message.max.bytes`, must allow it too.
    ///
    /// Default: [`DEFAULT_MAX_MESSAGE_SIZE`] (934 464 bytes).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a publish may wait for the broker's acknowledgement (librdkafka's
    /// `message.timeout.ms`). After it, the message is dropped from the producer's queue and the
    /// publish fails with [`BusError::Unavailable`](volley_cluster::BusError::Unavailable),
    /// so a publish that failed is never delivered later. While every broker is known to be down,
    /// publishes fail at once without waiting for this.
    ///
    /// Default: 5 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long [`connect`](KafkaBus::connect) and [`subscribe`](volley_cluster::PubSub::subscribe)
    /// may take to reach the brokers, create the topic and find its end; also the TCP connection
    /// setup timeout of the clients.
    ///
    /// Default: 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long the producer may wait for more messages to send them in one request
    /// (`linger.ms`). Zero sends at once; concurrent publishes are still batched while earlier
    /// requests are in flight.
    ///
    /// Default: 0.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// How long a broker may hold a fetch request open when it has no new message
    /// (`fetch.wait.max.ms`). Apache Kafka answers as soon as a message arrives, so there this
    /// only sets how many requests an idle node makes (one per wait): raise it (e.g. to 500 ms)
    /// for large clusters. Brokers that hold every fetch for the full wait (tansu 0.6) add it to
    /// the receive latency.
    ///
    /// Default: 10 ms.
    pub fn fetch_wait(mut self, wait: Duration) -> Self {
        self.fetch_wait = wait;
        self
    }

    /// The backoff between reconnection attempts to a broker (`reconnect.backoff.ms` and
    /// `reconnect.backoff.max.ms`): `min` first, doubled at each failed attempt, never more than
    /// `max`. Attempts never stop.
    ///
    /// Default: 100 ms to 2 s.
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// The replication factor of the topic when the bus creates it. `-1` leaves it to the
    /// brokers' `default.replication.factor` (Kafka 2.4 and later).
    ///
    /// Default: 1 (the messages of a Socket.IO cluster are not worth keeping).
    pub fn replication_factor(mut self, replicas: i32) -> Self {
        self.replication_factor = replicas;
        self
    }

    /// How long the brokers keep the messages of the topic when the bus creates it
    /// (`retention.ms`): nodes only ever read new messages, so the log need not grow for days.
    ///
    /// Default: 1 hour.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The oldest record a node still delivers, by the record's timestamp (the producer's clock
    /// when it was sent, or the broker's if the topic says `LogAppendTime`): older ones are
    /// skipped, counted ([`KafkaBus::stale_skipped`]) and logged. A node reads old records only
    /// when it resumes after an outage or when its position fell out of the log (then it starts
    /// from the first record younger than this, not from the start of what the brokers retain):
    /// a broadcast that old is no longer news, and requests that old have timed out. The nodes'
    /// clocks must agree to well within this.
    ///
    /// Default: [`DEFAULT_MAX_AGE`] (30 s).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How often each consumer lists the topic's partitions, to read those added while it runs
    /// (from their beginning, skipping records older than [`max_age`](KafkaBusBuilder::max_age)).
    ///
    /// Default: [`DEFAULT_PARTITION_CHECK`] (5 s).
    pub fn partition_check(mut self, every: Duration) -> Self {
        self.partition_check = every.max(Duration::from_millis(100));
        self
    }

    /// Sets a librdkafka property (see librdkafka's `CONFIGURATION.md`) on every client of the
    /// bus: producer, consumers and admin client, after the bus's own settings so that it
    /// overrides them. Properties that only one kind of client knows are ignored by the others
    /// with a log line. Refused values are reported by [`build`](KafkaBusBuilder::build).
    ///
    /// ```
    /// let bus = volley_kafka::KafkaBus::builder("127.0.0.1:9092")
    ///     .option("client.id", "chat-node-1")
    ///     .build()
    ///     .expect("valid settings");
    /// # drop(bus);
    /// ```
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.options.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Checks the settings and builds the bus. Nothing is connected yet: see
    /// [`KafkaBus::connect`].
    ///
    /// The broker list is `host[:port][,host[:port]…]`, optionally behind `kafka://`; the port is
    /// [`DEFAULT_PORT`] when left out. TLS and SASL are not supported. A query may set a few
    /// settings, so that a single URL (an `--adapter` flag) can carry them:
    /// `kafka://k1:9092,k2:9092?topic=chat&fetch_wait_ms=500&linger_ms=1&operation_timeout_ms=2000`
    /// (the methods of this builder, called after [`KafkaBus::builder`], take precedence).
    pub fn build(self) -> Result<KafkaBus, KafkaError> {
        if let Some(e) = self.query_error {
            return Err(e);
        }
        let brokers = parse_brokers(&self.brokers)?;
        check_topic(&self.topic)?;
        if self.max_message_size > 100_000_000 {
            return Err(KafkaError::Config(
                "max_message_size above 100 000 000 bytes is not supported".into(),
            ));
        }
        let settings = Settings {
            brokers,
            topic: self.topic.clone(),
            max_message_size: self.max_message_size,
            operation_timeout: self.operation_timeout,
            connect_timeout: self.connect_timeout,
            replication_factor: self.replication_factor,
            retention_ms: self.retention.as_millis().to_string(),
            max_message_bytes: self.max_message_bytes(),
            max_age: self.max_age,
            partition_check: self.partition_check,
            producer: self.producer_config(),
            consumer: self.consumer_config(),
            admin: self.admin_config(),
        };
        // Let librdkafka check every property now, not on the first publish.
        for config in [&settings.producer, &settings.consumer, &settings.admin] {
            config
                .create_native_config()
                .map_err(|e| KafkaError::Config(e.to_string()))?;
        }
        Ok(KafkaBus::from_settings(settings))
    }

    /// What `message.max.bytes` must allow for a payload of `max_message_size` with its key and
    /// record framing.
    fn max_message_bytes(&self) -> Option<usize> {
        let needed = self.max_message_size + 64 * 1024;
        (needed > LIBRDKAFKA_MESSAGE_MAX_BYTES).then_some(needed)
    }

    fn common_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set(
                "bootstrap.servers",
                parse_brokers(&self.brokers).unwrap_or_default(),
            )
            .set("client.id", "volley")
            // Every message is latency-sensitive; librdkafka batches on its own.
            .set("socket.nagle.disable", "true")
            .set(
                "socket.connection.setup.timeout.ms",
                millis(self.connect_timeout).max(1000).to_string(),
            )
            .set(
                "reconnect.backoff.ms",
                millis(self.reconnect_min).to_string(),
            )
            .set(
                "reconnect.backoff.max.ms",
                millis(self.reconnect_max).max(1).to_string(),
            )
            // Closed idle connections are routine: do not log them as errors.
            .set("log.connection.close", "false");
        config
    }

    fn with_options(&self, mut config: ClientConfig) -> ClientConfig {
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    fn producer_config(&self) -> ClientConfig {
        let mut config = self.common_config();
        config
            // The leader's write is enough: a lost message is reported like a failed publish,
            // and the bus carries notifications, not records to keep.
            .set("acks", "1")
            .set("linger.ms", millis(self.linger).to_string())
            // A publish is sent at most once: no retry that could duplicate or reorder it.
            .set("message.send.max.retries", "0")
            .set("enable.idempotence", "false")
            .set(
                "message.timeout.ms",
                millis(self.operation_timeout).max(1).to_string(),
            )
            // The bus creates the topic itself, with one partition.
            .set("allow.auto.create.topics", "false");
        if let Some(bytes) = self.max_message_bytes() {
            config.set("message.max.bytes", bytes.to_string());
        }
        self.with_options(config)
    }

    fn consumer_config(&self) -> ClientConfig {
        let mut config = self.common_config();
        config
            // Nothing is committed: the group only exists because librdkafka asks for one to
            // assign partitions; each consumer gets its own (see `KafkaBus::subscribe`).
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // The start offset is always set explicitly (the end of the topic when subscribing);
            // this only applies when the position falls out of the log, e.g. after the topic was
            // deleted and created again: then the whole new log is new to this node.
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("allow.auto.create.topics", "false")
            .set("fetch.wait.max.ms", millis(self.fetch_wait).to_string())
            .set("fetch.error.backoff.ms", "100")
            // Bounded read-ahead per partition while the sink is full.
            .set("queued.max.messages.kbytes", "16384");
        if let Some(bytes) = self.max_message_bytes() {
            config.set("fetch.max.bytes", bytes.max(52_428_800).to_string());
            config.set(
                "receive.message.max.bytes",
                (bytes.max(52_428_800) + 1024 * 1024).to_string(),
            );
        }
        self.with_options(config)
    }

    fn admin_config(&self) -> ClientConfig {
        self.with_options(self.common_config())
    }
}

/// Everything [`KafkaBus`] needs to create its clients.
pub(crate) struct Settings {
    pub(crate) brokers: String,
    pub(crate) topic: String,
    pub(crate) max_message_size: usize,
    pub(crate) operation_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) replication_factor: i32,
    pub(crate) retention_ms: String,
    pub(crate) max_message_bytes: Option<usize>,
    pub(crate) max_age: Duration,
    pub(crate) partition_check: Duration,
    pub(crate) producer: ClientConfig,
    pub(crate) consumer: ClientConfig,
    pub(crate) admin: ClientConfig,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses `[kafka://]host[:port][,host[:port]…]` into librdkafka's `host:port,host:port`.
pub(crate) fn parse_brokers(brokers: &str) -> Result<String, KafkaError> {
    let invalid = |reason: &str| Err(KafkaError::InvalidBrokers(reason.to_owned()));
    let list = match brokers.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("kafka") => rest,
        Some((scheme, _)) => {
            return Err(KafkaError::InvalidBrokers(format!(
                "unknown scheme {scheme:?}: expected kafka://host:port[,host:port]"
            )))
        }
        None => brokers,
    };
    let list = list.strip_suffix('/').unwrap_or(list);
    if list.trim().is_empty() {
        return invalid("no broker given: expected host:port[,host:port]");
    }
    let mut out = Vec::new();
    for entry in list.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return invalid("an empty entry in the broker list");
        }
        if entry.contains(['@', '/', '?', '#', ' ']) || entry.chars().any(char::is_control) {
            return invalid(
                "expected host:port entries: credentials, paths and parameters are not supported",
            );
        }
        let (host, port) = split_host_port(entry)?;
        if host.is_empty() {
            return invalid("missing host");
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(KafkaError::InvalidBrokers(format!("invalid port {p:?}")))
                }
                Ok(p) => p,
            },
        };
        out.push(format!("{host}:{port}"));
    }
    Ok(out.join(","))
}

/// Splits `host:port`, `host`, `[v6]:port` or `[v6]`.
fn split_host_port(entry: &str) -> Result<(&str, Option<&str>), KafkaError> {
    if let Some(rest) = entry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(KafkaError::InvalidBrokers(
                "unclosed [ in an IPv6 address".into(),
            ));
        };
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(KafkaError::InvalidBrokers("invalid IPv6 address".into()));
        }
        let host = &entry[..v6.len() + 2];
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(KafkaError::InvalidBrokers(
                    "expected :port after an IPv6 address".into(),
                )),
            },
        };
    }
    match entry.split_once(':') {
        None => Ok((entry, None)),
        Some((host, port)) if !port.contains(':') => Ok((host, Some(port))),
        Some(_) => Err(KafkaError::InvalidBrokers(
            "write IPv6 addresses in brackets: [::1]:9092".into(),
        )),
    }
}

/// Checks a topic name the way Kafka does.
fn check_topic(topic: &str) -> Result<(), KafkaError> {
    if topic.is_empty() || topic.len() > 249 {
        return Err(KafkaError::InvalidTopic(
            "a topic name has 1 to 249 characters".into(),
        ));
    }
    if topic == "." || topic == ".." {
        return Err(KafkaError::InvalidTopic(format!("{topic:?} is reserved")));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(KafkaError::InvalidTopic(format!(
            "{topic:?}: only ASCII letters, digits, '.', '_' and '-' are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_broker_lists() {
        for (input, expected) in [
            ("127.0.0.1:9092", "127.0.0.1:9092"),
            ("kafka://127.0.0.1:9092", "127.0.0.1:9092"),
            ("KAFKA://h1:1,h2:2", "h1:1,h2:2"),
            ("kafka://h1, h2:9093/", "h1:9092,h2:9093"),
            ("localhost", "localhost:9092"),
            ("[::1]:9093,[fe80::1]", "[::1]:9093,[fe80::1]:9092"),
        ] {
            assert_eq!(parse_brokers(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for input in [
            "",
            " ",
            "kafka://",
            "http://h:9092",
            "h:0",
            "h:65536",
            "h:port",
            "h:9092,",
            ",h",
            ":9092",
            "kafka://user:pw@h:9092",
            "h:9092/topic",
            "h:9092?x=1",
            "::1",
            "[::1",
            "[zz]:1",
            "[::1]9092",
            "h 1:9092",
        ] {
            match parse_brokers(input) {
                Err(KafkaError::InvalidBrokers(reason)) => {
                    assert!(!reason.is_empty(), "{input}");
                    assert!(!reason.contains("pw"), "{reason}");
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn url_settings() {
        let builder = KafkaBusBuilder::new(
            "kafka://h1:1,h2/?topic=chat&fetch_wait_ms=500&linger_ms=2&operation_timeout_ms=750",
        );
        assert!(builder.query_error.is_none());
        assert_eq!(builder.brokers, "kafka://h1:1,h2/");
        assert_eq!(builder.topic, "chat");
        assert_eq!(builder.fetch_wait, Duration::from_millis(500));
        assert_eq!(builder.linger, Duration::from_millis(2));
        assert_eq!(builder.operation_timeout, Duration::from_millis(750));
        // explicit settings win over the URL's
        let builder = KafkaBusBuilder::new("h?topic=a").topic("b");
        assert_eq!(builder.topic, "b");
        for bad in ["h?x=1", "h?topic", "h?fetch_wait_ms=soon", "h?topic=a b"] {
            assert!(
                matches!(
                    KafkaBusBuilder::new(bad).build(),
                    Err(KafkaError::InvalidBrokers(_) | KafkaError::InvalidTopic(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn topic_names() {
        for ok in ["volley", "a", "a.b_c-D9", &"x".repeat(249)] {
            assert_eq!(check_topic(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "a/b", "é", &"x".repeat(250)] {
            assert!(
                matches!(check_topic(bad), Err(KafkaError::InvalidTopic(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn large_messages_raise_the_limits() {
        let builder = KafkaBusBuilder::new("h");
        assert_eq!(builder.max_message_bytes(), None);
        let big = builder.max_message_size(4 * 1024 * 1024);
        assert_eq!(big.max_message_bytes(), Some(4 * 1024 * 1024 + 64 * 1024));
        assert_eq!(
            big.producer_config().get("message.max.bytes"),
            Some("4259840")
        );
    }
}
