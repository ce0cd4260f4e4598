//! Settings of a [`RedisBus`](crate::RedisBus) and how they become fred's configuration.

use std::time::Duration;

use fred::prelude::{
    Config, ConnectionConfig, Options, PerformanceConfig, ReconnectPolicy, ServerConfig, TcpConfig,
};
use fred::socket2::TcpKeepalive;
use fred::types::config::UnresponsiveConfig;

use crate::{RedisBus, RedisError};

/// Default of [`RedisBusBuilder::max_message_size`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Configures a [`RedisBus`] before building it. Start from [`RedisBus::builder`]; every setting
/// has a default suited to a cluster of Socket.IO nodes on a local network.
///
/// ```
/// use std::time::Duration;
/// use volley_redis::RedisBus;
///
/// let bus = RedisBus::builder("redis://127.0.0.1:6379/0")
///     .max_message_size(1024 * 1024)
///     .operation_timeout(Duration::from_millis(500))
///     .reconnect_delays(Duration::from_millis(50), Duration::from_secs(2))
///     .build()
///     .expect("a valid URL");
/// # drop(bus);
/// ```
#[derive(Clone)]
pub struct RedisBusBuilder {
    url: String,
    max_message_size: usize,
    operation_timeout: Duration,
    connect_timeout: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
    message_buffer: usize,
    max_pending_commands: usize,
    count_receivers: bool,
    publish_only: bool,
    sharded: bool,
    pub(crate) node_protocol: Option<String>,
    /// Keeps classic pub/sub for exact channels on a cluster too: the streams bus's pub/sub side,
    /// where Node's streams adapter `PUBLISH`es what it does not put in the stream.
    pub(crate) classic_channels: bool,
}

impl std::fmt::Debug for RedisBusBuilder {
    // The URL may carry a password: it is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBusBuilder")
            .field("max_message_size", &self.max_message_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("message_buffer", &self.message_buffer)
            .field("max_pending_commands", &self.max_pending_commands)
            .field("count_receivers", &self.count_receivers)
            .field("publish_only", &self.publish_only)
            .field("sharded", &self.sharded)
            .field("node_protocol", &self.node_protocol)
            .finish_non_exhaustive()
    }
}

impl RedisBusBuilder {
    pub(crate) fn new(url: &str) -> Self {
        RedisBusBuilder {
            url: url.to_owned(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            operation_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            message_buffer: 16 * 1024,
            max_pending_commands: 64 * 1024,
            count_receivers: true,
            publish_only: false,
            sharded: false,
            node_protocol: None,
            classic_channels: false,
        }
    }

    /// The largest payload [`publish`](volley_cluster::PubSub::publish) accepts, in
    /// bytes; a larger one is refused with [`BusError::TooLarge`](volley_cluster::BusError::TooLarge)
    /// before anything is sent. Redis disconnects a subscriber whose output buffer grows past its
    /// `client-output-buffer-limit pubsub` (32 MiB hard by default), so keep this well below it.
    ///
    /// Default: 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a publish or a subscribe may wait for the server's answer before it fails with
    /// [`BusError::Unavailable`](volley_cluster::BusError::Unavailable). While the
    /// connection is known to be down, commands fail at once without waiting for this.
    ///
    /// Default: 2 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How long opening one TCP connection (and its `AUTH` / `SELECT`) may take.
    ///
    /// Default: 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The backoff between reconnection attempts after a connection is lost: `min` first, doubled
    /// at each failed attempt, never more than `max`, with a little jitter. Attempts never stop.
    ///
    /// Default: 100 ms to 5 s.
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// How many received messages may wait between the subscriber connection and the task that
    /// hands them to the sink. fred hands them over in a broadcast channel of this capacity that
    /// never waits: when the sink stays full for longer than this many messages, the oldest are
    /// lost and a warning (target `volley::cluster`) says how many. fred sizes all the event
    /// channels of the subscriber connection with it and reserves them up front: the default
    /// costs about 10 MB of memory per bus, 4 096 about 2.8 MB.
    ///
    /// Default: 16 384, enough for a subscriber receiving some 400 000 small messages a second
    /// from a local Redis without loss.
    pub fn message_buffer(mut self, messages: usize) -> Self {
        self.message_buffer = messages.max(1);
        self
    }

    /// How many commands may queue inside the client, waiting to be written, before further
    /// publishes fail at once with [`BusError::Unavailable`](volley_cluster::BusError::Unavailable)
    /// instead of growing the queue. `0` means no bound.
    ///
    /// Default: 65 536.
    pub fn max_pending_commands(mut self, commands: usize) -> Self {
        self.max_pending_commands = commands;
        self
    }

    /// Whether publishes report how many subscribers Redis handed them to (see
    /// [`PubSub::publish_counted`](volley_cluster::PubSub::publish_counted)), so that
    /// the cluster manager fails an emit some node was not subscribed to receive. `false` makes
    /// every publish Redis accepted count as done, as in Node's Redis adapter.
    ///
    /// Default: `true`.
    ///
    /// ```
    /// use volley_redis::RedisBus;
    ///
    /// let bus = RedisBus::builder("redis://127.0.0.1:6379")
    ///     .count_receivers(false)
    ///     .build()
    ///     .expect("a valid URL");
    /// # drop(bus);
    /// ```
    pub fn count_receivers(mut self, count: bool) -> Self {
        self.count_receivers = count;
        self
    }

    /// A bus that only publishes (a job worker's emitter): [`connect`](RedisBus::connect) opens
    /// the publishing connection alone, no subscriber connection (nor its
    /// [`message_buffer`](RedisBusBuilder::message_buffer)) is ever created, and
    /// [`subscribe`](volley_cluster::PubSub::subscribe) fails with
    /// [`BusError::Other`](volley_cluster::BusError::Other). Publishing is unchanged.
    ///
    /// Default: `false`.
    ///
    /// ```
    /// use volley_redis::RedisBus;
    ///
    /// let bus = RedisBus::builder("redis://127.0.0.1:6379")
    ///     .publish_only(true)
    ///     .build()
    ///     .expect("a valid URL");
    /// # drop(bus);
    /// ```
    pub fn publish_only(mut self, publish_only: bool) -> Self {
        self.publish_only = publish_only;
        self
    }

    /// Speaks the protocol of Node's classic Redis adapter (`@socket.io/redis-adapter` 8,
    /// `createAdapter(pub, sub, { key })`) with this `key` (Node's default is `socket.io`), so
    /// that Volley nodes and Node socket.io nodes form one cluster: every broadcast, room change,
    /// disconnection, fetch, server-side emit and ack crosses between them, both ways. Picked
    /// with `?protocol=node` in an adapter URL. See
    /// [`volley_protocol::cluster::classic`] for the channels and shapes.
    ///
    /// What changes beside the format: nodes are counted as Node counts them (the subscribers of
    /// a namespace's request channel), a broadcast is checked against that count (taken at most
    /// 2 s earlier, when there is one) rather than against the nodes heard from, and messages are
    /// published one by one (Node has no batches).
    ///
    /// With [`sharded`](RedisBusBuilder::sharded), it speaks instead the protocol of Node's
    /// sharded adapter (`createShardedAdapter(pub, sub, { channelPrefix })` of the same package,
    /// in its default `"dynamic"` subscription mode) with this `channelPrefix`: see
    /// [`sharded`](RedisBusBuilder::sharded).
    ///
    /// Default: off (Volley's own protocol, which batches and is faster).
    ///
    /// ```
    /// use volley_redis::RedisBus;
    ///
    /// let bus = RedisBus::builder("redis://127.0.0.1:6379")
    ///     .node_protocol("socket.io")
    ///     .build()
    ///     .expect("a valid URL");
    /// # drop(bus);
    /// ```
    pub fn node_protocol(mut self, key: impl Into<String>) -> Self {
        self.node_protocol = Some(key.into());
        self
    }

    /// Publishes and subscribes with Redis 7's sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`), and
    /// gives each room a channel that a node listens to only while it has members in that room:
    /// a broadcast to one room (without acks) reaches the nodes with members there, not every
    /// node. Everything else goes on the manager's channels, as sharded channels. Emitters'
    /// channels (prefix subscriptions) stay on classic pub/sub, where emitters publish. On Redis
    /// Cluster the channels spread over the shards. Picked with `?bus=sharded` in an adapter URL.
    ///
    /// A node starts listening to a room's channel when the room gains its first member here,
    /// in the background: a broadcast published on it in the instant between a remote join and
    /// that subscription is not received (as with Node's sharded adapter).
    ///
    /// With [`node_protocol`](RedisBusBuilder::node_protocol), the bus is a peer of Node's
    /// sharded adapter (`createShardedAdapter`, `subscriptionMode: "dynamic"`), Node's
    /// `channelPrefix` being the key given there: Node's channels (`{key}#{nsp}#` for every
    /// node, `{key}#{nsp}#{uid}#` for one node's answers, `{key}#{nsp}#{room}#` for a room), its
    /// messages (JSON, MessagePack when they hold binary) and its count of the nodes (`PUBSUB
    /// SHARDNUMSUB {key}#{nsp}#`). Emitters are not read then: Node's sharded adapter reads none.
    ///
    /// Default: off (classic pub/sub).
    ///
    /// ```
    /// use volley_redis::RedisBus;
    ///
    /// let bus = RedisBus::builder("redis://127.0.0.1:6379")
    ///     .sharded(true)
    ///     .build()
    ///     .expect("a valid URL");
    /// # drop(bus);
    /// ```
    pub fn sharded(mut self, sharded: bool) -> Self {
        self.sharded = sharded;
        self
    }

    /// Checks the URL and builds the bus. Nothing is connected yet: see [`RedisBus::connect`].
    ///
    /// The URL is `redis://[[user]:password@]host[:port][/db]` (or `valkey://`), port 6379 by
    /// default, or `redis-cluster://[[user]:password@]host:port[,host:port…]` (or
    /// `valkey-cluster://`) for Redis Cluster: the nodes given are where the cluster's layout is
    /// first read. TLS (`rediss://`), sentinels and Unix sockets are refused with
    /// [`RedisError::InvalidUrl`].
    ///
    /// On Redis Cluster, a bus that subscribes and speaks Volley's protocol publishes and
    /// subscribes its own channels (the channel of every node, each node's own) with sharded
    /// pub/sub even without [`sharded`](RedisBusBuilder::sharded): each channel then lives on the
    /// shard that owns its hash slot, which hands a message to every subscriber of the channel
    /// and counts them all, where a classic `PUBLISH` on a cluster is copied to every shard and
    /// counts the subscribers of one. So [`count_receivers`](RedisBusBuilder::count_receivers)
    /// means there what it means on one server. Rooms keep no channel of their own without
    /// `sharded`; emitters' channels (prefix subscriptions) stay on classic pub/sub, and so do a
    /// [publish-only](RedisBusBuilder::publish_only) bus's publishes (an emitter's). Node's
    /// classic protocol on a cluster keeps `PUBLISH`, as Node's adapter does, and checks
    /// broadcasts against its own count of the nodes.
    pub fn build(self) -> Result<RedisBus, RedisError> {
        let fred = self.fred_settings()?;
        Ok(RedisBus::from_settings(fred))
    }

    pub(crate) fn fred_settings(&self) -> Result<FredSettings, RedisError> {
        let config = parse_url(&self.url)?;
        let address = match &config.server {
            ServerConfig::Centralized { server } => match config.database {
                Some(db) => format!("{}:{}/{}", server.host, server.port, db),
                None => format!("{}:{}", server.host, server.port),
            },
            ServerConfig::Clustered { hosts, .. } => {
                let hosts: Vec<String> = hosts
                    .iter()
                    .map(|h| format!("{}:{}", h.host, h.port))
                    .collect();
                format!("cluster {}", hosts.join(","))
            }
            _ => return Err(RedisError::InvalidUrl("not a server or cluster URL".into())),
        };
        let clustered = config.server.is_clustered();
        // see `build`: Volley's channels on a cluster are shard channels
        let shard_channels = self.sharded
            || (clustered
                && self.node_protocol.is_none()
                && !self.publish_only
                && !self.classic_channels);

        let policy = ReconnectPolicy::new_exponential(
            0, // never stop trying
            millis(self.reconnect_min).max(1),
            millis(self.reconnect_max).max(1),
            2,
        );

        let connection = ConnectionConfig {
            connection_timeout: self.connect_timeout,
            internal_command_timeout: self.connect_timeout,
            max_command_buffer_len: self.max_pending_commands,
            tcp: TcpConfig {
                // fred already batches what is queued into one write; Nagle would only add delay.
                nodelay: Some(true),
                // Notice a peer that vanished without a FIN (host down, partition) on the
                // otherwise quiet subscriber connection: probes after 10 s idle, then every 5 s
                // (the kernel's count of probes, 9 on Linux, bounds it to about a minute).
                keepalive: Some(
                    TcpKeepalive::new()
                        .with_time(Duration::from_secs(10))
                        .with_interval(Duration::from_secs(5)),
                ),
                ..TcpConfig::default()
            },
            // A command unanswered this long means the connection is dead in a way TCP did not
            // report: close it and reconnect (subscriptions are restored afterwards).
            unresponsive: UnresponsiveConfig {
                max_timeout: Some(self.operation_timeout.max(Duration::from_secs(1)) * 5),
                interval: Duration::from_secs(1),
            },
            ..ConnectionConfig::default()
        };

        let publisher_perf = PerformanceConfig {
            default_command_timeout: self.operation_timeout,
            ..PerformanceConfig::default()
        };
        let subscriber_perf = PerformanceConfig {
            default_command_timeout: self.operation_timeout,
            broadcast_channel_capacity: self.message_buffer,
            ..PerformanceConfig::default()
        };

        let publish_options = Options {
            // Never wait for a reconnection: fail now, the caller decides.
            fail_fast: true,
            // At most once: a publish cut by a disconnection is not written again.
            max_attempts: Some(1),
            timeout: Some(self.operation_timeout),
            ..Options::default()
        };

        Ok(FredSettings {
            config,
            address,
            policy,
            connection,
            publisher_perf,
            subscriber_perf,
            publish_options,
            max_message_size: self.max_message_size,
            operation_timeout: self.operation_timeout,
            count_receivers: self.count_receivers && (shard_channels || !clustered),
            publish_only: self.publish_only,
            shard_channels,
            room_channels: self.sharded,
            node_protocol: self.node_protocol.clone(),
        })
    }
}

/// Everything [`RedisBus`] needs to create its two fred clients.
pub(crate) struct FredSettings {
    pub(crate) config: Config,
    pub(crate) address: String,
    pub(crate) policy: ReconnectPolicy,
    pub(crate) connection: ConnectionConfig,
    pub(crate) publisher_perf: PerformanceConfig,
    pub(crate) subscriber_perf: PerformanceConfig,
    pub(crate) publish_options: Options,
    pub(crate) max_message_size: usize,
    pub(crate) operation_timeout: Duration,
    pub(crate) count_receivers: bool,
    pub(crate) publish_only: bool,
    /// Whether the manager's channels are sharded pub/sub channels (`SPUBLISH`, `SSUBSCRIBE`).
    pub(crate) shard_channels: bool,
    /// Whether rooms get channels of their own (`?bus=sharded`).
    pub(crate) room_channels: bool,
    pub(crate) node_protocol: Option<String>,
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Parses `redis://[[user]:password@]host[:port][/db]` (or
/// `redis-cluster://[[user]:password@]host:port[,host:port…]`) into fred's configuration.
fn parse_url(url: &str) -> Result<Config, RedisError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(RedisError::InvalidUrl(
            "expected redis://host[:port][/db]".into(),
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "redis" | "valkey" => {}
        "redis-cluster" | "valkey-cluster" => return parse_cluster_url(rest),
        "rediss" | "valkeys" => {
            return Err(RedisError::InvalidUrl(
                "TLS (rediss://) is not supported by this transport".into(),
            ))
        }
        s if s.ends_with("-cluster") || s.ends_with("-sentinel") || s.ends_with("+unix") => {
            return Err(RedisError::InvalidUrl(format!(
                "the {s}:// scheme is not supported: use redis://host[:port][/db] of one server"
            )))
        }
        s => {
            return Err(RedisError::InvalidUrl(format!(
                "unknown scheme {s:?}: expected redis://host[:port][/db]"
            )))
        }
    }
    if rest.contains('?') {
        return Err(RedisError::InvalidUrl(
            "query parameters are not supported".into(),
        ));
    }
    let config = Config::from_url_centralized(url).map_err(|e| {
        // fred's messages name the part that is wrong, never the URL itself.
        RedisError::InvalidUrl(e.details().to_owned())
    })?;
    if let ServerConfig::Centralized { server } = &config.server {
        if server.host.is_empty() {
            return Err(RedisError::InvalidUrl("missing host".into()));
        }
        if server.port == 0 {
            return Err(RedisError::InvalidUrl("port 0 is not a valid port".into()));
        }
    }
    Ok(Config {
        // The first connection reports its failure to the caller instead of retrying forever:
        // `connect()` (or the lazy connection of the first publish) must not hang.
        fail_fast: true,
        ..config
    })
}

/// Parses the part after `redis-cluster://`: `[[user]:password@]host:port[,host:port…]`.
fn parse_cluster_url(rest: &str) -> Result<Config, RedisError> {
    if rest.contains('?') {
        return Err(RedisError::InvalidUrl(
            "query parameters are not supported".into(),
        ));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(RedisError::InvalidUrl(
            "a cluster has no database: no /db after the nodes".into(),
        ));
    }
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (Some(credentials), hosts),
        None => (None, rest),
    };
    let mut nodes = Vec::new();
    for host in hosts.split(',') {
        let Some((name, port)) = host.rsplit_once(':') else {
            return Err(RedisError::InvalidUrl(
                "each cluster node needs host:port".into(),
            ));
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = match port.parse() {
            Ok(port) if port != 0 => port,
            _ => return Err(RedisError::InvalidUrl("a node's port is not valid".into())),
        };
        if name.is_empty() || name.contains(['@', ' ']) {
            return Err(RedisError::InvalidUrl("a node's host is not valid".into()));
        }
        nodes.push((name.to_owned(), port));
    }
    let (username, password) = match credentials {
        None => (None, None),
        Some(c) => match c.split_once(':') {
            Some((user, password)) => (
                (!user.is_empty()).then(|| user.to_owned()),
                Some(password.to_owned()),
            ),
            None => (Some(c.to_owned()), None),
        },
    };
    Ok(Config {
        server: ServerConfig::new_clustered(nodes),
        username,
        password,
        fail_fast: true,
        ..Config::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_urls() {
        for url in [
            "redis://127.0.0.1",
            "redis://127.0.0.1:6380",
            "redis://localhost:6379/3",
            "redis://:secret@localhost:6379/0",
            "redis://user:secret@localhost/",
            "valkey://[::1]:6379",
            "REDIS://localhost",
        ] {
            assert!(parse_url(url).is_ok(), "{url}");
        }
        let config = parse_url("redis://u:p@h:7000/5").expect("valid");
        assert_eq!(config.database, Some(5));
        assert_eq!(config.username.as_deref(), Some("u"));
        assert_eq!(config.password.as_deref(), Some("p"));
    }

    #[test]
    fn accepts_cluster_urls() {
        let config = parse_url("redis-cluster://u:p@127.0.0.1:7000,[::1]:7001").expect("valid");
        assert_eq!(
            config.server,
            ServerConfig::new_clustered(vec![("127.0.0.1", 7000), ("::1", 7001)])
        );
        assert_eq!(config.username.as_deref(), Some("u"));
        assert_eq!(config.password.as_deref(), Some("p"));
        for url in [
            "redis-cluster://h",
            "redis-cluster://h:0",
            "redis-cluster://h:1,",
            "redis-cluster://h:1/2",
            "redis-cluster://h:1?node=x:2",
            "redis-cluster://:1",
        ] {
            assert!(parse_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "",
            "localhost:6379",
            "http://localhost:6379",
            "rediss://localhost:6379",
            "redis-sentinel://localhost:6379",
            "redis+unix:///tmp/redis.sock",
            "redis://",
            "redis://:6379",
            "redis://localhost:99999",
            "redis://localhost:0",
            "redis://localhost:port",
            "redis://localhost/abc",
            "redis://localhost/300",
            "redis://localhost/1/2",
            "redis://localhost?node=a:1",
            "redis://loc alhost",
        ] {
            match parse_url(url) {
                Err(RedisError::InvalidUrl(msg)) => assert!(!msg.is_empty(), "{url}"),
                other => panic!("{url:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn errors_never_repeat_the_password() {
        for url in [
            "rediss://u:hunter2@h",
            "redis://u:hunter2@h/xx",
            "foo://u:hunter2@h",
        ] {
            let err = parse_url(url).expect_err(url).to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
