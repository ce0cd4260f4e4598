//! Settings of a [`NatsBus`](crate::NatsBus), and its URL.

use std::time::Duration;

use crate::subject::valid_root;
use crate::{NatsBus, NatsError};

/// Default of [`NatsBusBuilder::max_message_size`]: 1 MiB, the NATS server's own default
/// `max_payload`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;
/// Default of [`NatsBusBuilder::root`]: the first token of every subject, and the JetStream
/// stream's name.
pub const DEFAULT_ROOT: &str = "volley";
/// Default of [`NatsBusBuilder::max_len`]: the stream keeps at most 100 000 messages.
pub const DEFAULT_MAX_LEN: i64 = 100_000;
/// Default of [`NatsBusBuilder::max_age`]: the stream keeps messages for at most an hour.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Default of [`NatsBusBuilder::max_bytes`]: the stream keeps at most 256 MiB.
pub const DEFAULT_MAX_BYTES: i64 = 256 * 1024 * 1024;
/// The NATS port when the URL has none.
pub const DEFAULT_PORT: u16 = 4222;

/// Configures a [`NatsBus`] before building it. Start from [`NatsBus::builder`]; every setting
/// has a default suited to a cluster of Socket.IO nodes on a local network.
///
/// ```
/// use std::time::Duration;
/// use volley_nats::NatsBus;
///
/// let bus = NatsBus::builder("nats://127.0.0.1:4222")
///     .jetstream(true)
///     .root("chat")
///     .max_len(10_000)
///     .operation_timeout(Duration::from_millis(500))
///     .build()
///     .expect("a valid URL");
/// assert_eq!(bus.stream(), Some("chat"));
/// ```
#[derive(Clone)]
pub struct NatsBusBuilder {
    url: String,
    pub(crate) settings: Settings,
}

/// Everything a bus needs, checked.
#[derive(Clone)]
pub(crate) struct Settings {
    /// `nats://[user:password@]host:port`, for the client.
    pub(crate) server: String,
    /// `host:port`, for logs and errors (never a password).
    pub(crate) address: String,
    pub(crate) root: String,
    pub(crate) jetstream: bool,
    pub(crate) stream: Option<String>,
    pub(crate) max_len: i64,
    pub(crate) max_age: Duration,
    pub(crate) max_bytes: i64,
    pub(crate) max_message_size: usize,
    pub(crate) operation_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) message_buffer: usize,
    pub(crate) read_count: usize,
}

impl std::fmt::Debug for NatsBusBuilder {
    // The URL may carry a password: it is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("NatsBusBuilder")
            .field("root", &s.root)
            .field("jetstream", &s.jetstream)
            .field("stream", &s.stream)
            .field("max_len", &s.max_len)
            .field("max_message_size", &s.max_message_size)
            .field("operation_timeout", &s.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl NatsBusBuilder {
    pub(crate) fn new(url: &str) -> Self {
        NatsBusBuilder {
            url: url.to_owned(),
            settings: Settings {
                server: String::new(),
                address: String::new(),
                root: DEFAULT_ROOT.to_owned(),
                jetstream: false,
                stream: None,
                max_len: DEFAULT_MAX_LEN,
                max_age: DEFAULT_MAX_AGE,
                max_bytes: DEFAULT_MAX_BYTES,
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                operation_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(5),
                reconnect_min: Duration::from_millis(100),
                reconnect_max: Duration::from_secs(5),
                message_buffer: 8192,
                read_count: 256,
            },
        }
    }

    /// Carries every message in one JetStream stream (`true`) rather than on core NATS
    /// subjects (`false`, the default); see [Durability](NatsBus#durability). `?bus=jetstream`
    /// in the URL.
    pub fn jetstream(mut self, on: bool) -> Self {
        self.settings.jetstream = on;
        self
    }

    /// The first token of every subject the bus uses ([`DEFAULT_ROOT`]); clusters sharing a
    /// NATS server with different roots never hear each other. Letters, digits, `-` and `_`.
    /// `?key=ROOT` in the URL.
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.settings.root = root.into();
        self
    }

    /// The JetStream stream's name (the root by default); `?stream=NAME` in the URL.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.settings.stream = Some(name.into());
        self
    }

    /// At most how many messages the stream keeps, when the bus creates it (default
    /// [`DEFAULT_MAX_LEN`]): how far behind a node may fall without losing any. `?maxlen=N`.
    pub fn max_len(mut self, messages: i64) -> Self {
        self.settings.max_len = messages.max(1);
        self
    }

    /// How long the stream keeps a message, when the bus creates it (default
    /// [`DEFAULT_MAX_AGE`]).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.settings.max_age = age;
        self
    }

    /// At most how many bytes the stream keeps, when the bus creates it (default
    /// [`DEFAULT_MAX_BYTES`]).
    pub fn max_bytes(mut self, bytes: i64) -> Self {
        self.settings.max_bytes = bytes.max(1);
        self
    }

    /// The largest payload a publish takes (default [`DEFAULT_MAX_MESSAGE_SIZE`]); larger ones
    /// are refused with [`BusError::TooLarge`](volley_cluster::BusError::TooLarge) before
    /// anything is sent. The server's own `max_payload` applies too.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// How long a publish (its flush, or its JetStream acknowledgement), a subscription or a
    /// stream request may wait (default 2 s).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.settings.operation_timeout = timeout;
        self
    }

    /// How long the first connection may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The backoff between reconnection attempts after the connection is lost: `min` first,
    /// doubled at each failed attempt, never more than `max`. Attempts never stop. Default:
    /// 100 ms to 5 s.
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.settings.reconnect_min = min;
        self.settings.reconnect_max = max.max(min);
        self
    }

    /// How many received core NATS messages may wait, per subscription, for the sink (default
    /// 8 192). When the sink stays full for longer, the client drops the newest and a warning
    /// (target `volley::cluster`) says so. Not used by JetStream, whose reading waits instead.
    pub fn message_buffer(mut self, messages: usize) -> Self {
        self.settings.message_buffer = messages.max(1);
        self
    }

    /// How many stream messages one JetStream pull asks for (default 256).
    pub fn read_count(mut self, messages: usize) -> Self {
        self.settings.read_count = messages.max(1);
        self
    }

    /// Checks the URL and builds the bus. Nothing is connected yet: see [`NatsBus::connect`].
    ///
    /// The URL is `nats://[user:password@]host[:port][?settings]`, port [`DEFAULT_PORT`] by
    /// default, with the settings `bus=core|jetstream`, `key=ROOT` (see
    /// [`root`](NatsBusBuilder::root)), and for JetStream `stream=NAME` and `maxlen=N`; they
    /// override what the builder was told. TLS (`tls://`), several servers and other settings
    /// are refused with [`NatsError::InvalidUrl`].
    pub fn build(self) -> Result<NatsBus, NatsError> {
        let mut settings = self.settings;
        parse_url(&self.url, &mut settings)?;
        if !valid_root(&settings.root) {
            return Err(NatsError::InvalidUrl(format!(
                "the subject root {:?} is not one token of letters, digits, - and _",
                settings.root
            )));
        }
        if let Some(stream) = &settings.stream {
            if !valid_root(stream) {
                return Err(NatsError::InvalidUrl(format!(
                    "the stream name {stream:?} is not letters, digits, - and _"
                )));
            }
        }
        Ok(NatsBus::from_settings(settings))
    }
}

/// Reads `nats://[user:password@]host[:port][?settings]` into `settings`.
fn parse_url(url: &str, settings: &mut Settings) -> Result<(), NatsError> {
    let invalid = |why: &str| NatsError::InvalidUrl(why.to_owned());
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("expected nats://host[:port]"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "nats" => {}
        "tls" => return Err(invalid("TLS (tls://) is not supported by this transport")),
        other => {
            return Err(NatsError::InvalidUrl(format!(
                "unknown scheme {other:?}: expected nats://host[:port]"
            )))
        }
    }
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    if host_port.contains(',') {
        return Err(invalid("one server only"));
    }
    if host_port.contains('/') {
        return Err(invalid("a NATS URL has no path"));
    }
    let (host, port) = split_port(host_port)?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid("missing or invalid host"));
    }
    settings.address = format!("{host}:{port}");
    settings.server = match user_info {
        Some(user) => format!("nats://{user}@{host}:{port}"),
        None => format!("nats://{host}:{port}"),
    };
    let mut stream_settings = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "bus" => {
                settings.jetstream = match value {
                    "core" => false,
                    "jetstream" => true,
                    other => {
                        return Err(NatsError::InvalidUrl(format!(
                            "unknown bus {other:?}: use bus=core or bus=jetstream"
                        )))
                    }
                }
            }
            "key" => settings.root = value.to_owned(),
            "stream" => {
                stream_settings = true;
                settings.stream = Some(value.to_owned());
            }
            "maxlen" => {
                stream_settings = true;
                settings.max_len =
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            NatsError::InvalidUrl(format!(
                                "maxlen must be a positive number, not {value:?}"
                            ))
                        })?;
            }
            other => {
                return Err(NatsError::InvalidUrl(format!(
                    "unknown parameter {other:?}: use bus, key, stream or maxlen"
                )))
            }
        }
    }
    if stream_settings && !settings.jetstream {
        return Err(invalid("stream and maxlen need bus=jetstream"));
    }
    Ok(())
}

/// `host[:port]` (IPv6 in brackets) into its host and port.
fn split_port(host_port: &str) -> Result<(&str, u16), NatsError> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| NatsError::InvalidUrl("unclosed [ in the host".into()))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| NatsError::InvalidUrl(format!("invalid port {p:?}")))?,
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Result<Settings, NatsError> {
        let mut settings = NatsBusBuilder::new(url).settings;
        parse_url(url, &mut settings).map(|()| settings)
    }

    #[test]
    fn accepts_server_urls() {
        let s = parsed("nats://127.0.0.1").expect("valid");
        assert_eq!(s.server, "nats://127.0.0.1:4222");
        assert!(!s.jetstream);
        let s =
            parsed("nats://u:p@h:4333?bus=jetstream&stream=chat&maxlen=50&key=app").expect("valid");
        assert_eq!(s.server, "nats://u:p@h:4333");
        assert_eq!(s.address, "h:4333");
        assert!(s.jetstream);
        assert_eq!(s.stream.as_deref(), Some("chat"));
        assert_eq!(s.max_len, 50);
        assert_eq!(s.root, "app");
        assert_eq!(
            parsed("NATS://[::1]:5000/").expect("valid").address,
            "::1:5000"
        );
        assert!(!parsed("nats://h?bus=core").expect("valid").jetstream);
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "",
            "localhost:4222",
            "http://localhost:4222",
            "tls://localhost:4222",
            "nats://",
            "nats://:4222",
            "nats://h:0",
            "nats://h:99999",
            "nats://h:port",
            "nats://a:1,b:2",
            "nats://h/path",
            "nats://h?bus=kafka",
            "nats://h?stream=x",
            "nats://h?bus=jetstream&maxlen=0",
            "nats://h?bus=jetstream&maxlen=many",
            "nats://h?colour=blue",
            "nats://[::1",
        ] {
            assert!(
                matches!(parsed(url), Err(NatsError::InvalidUrl(_))),
                "{url:?} was accepted"
            );
        }
    }

    #[test]
    fn roots_and_streams_are_checked() {
        assert!(NatsBus::new("nats://h?key=a.b").is_err());
        assert!(NatsBus::new("nats://h?bus=jetstream&stream=a*b").is_err());
        assert!(NatsBus::new("nats://h?key=ok-root").is_ok());
    }

    #[test]
    fn errors_never_repeat_the_password() {
        for url in [
            "tls://u:hunter2@h",
            "nats://u:hunter2@h:x",
            "foo://u:hunter2@h",
        ] {
            let err = parsed(url).err().expect(url).to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
