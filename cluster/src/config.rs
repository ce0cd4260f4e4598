//! Settings of a cluster manager.

use std::time::Duration;

/// How a node behaves in its cluster. The defaults follow Node's cluster adapters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Prefix of the bus channels of Volley's own cluster protocol (default `volley`).
    pub prefix: String,
    /// A node that has published nothing for this long sends a heartbeat (default 5 s).
    pub heartbeat_interval: Duration,
    /// A node not heard from for this long counts as dead (default 10 s). Dead nodes are found
    /// within `heartbeat_timeout` plus one sweep (at most 1 s).
    pub heartbeat_timeout: Duration,
    /// How long a request to other nodes (fetching sockets, server-side calls) waits (default 5 s).
    pub request_timeout: Duration,
    /// Also accept what emitters written for Node publish, on the channels of Node's Redis
    /// adapter with this key (default `Some("socket.io")`; `None` to ignore them).
    pub node_compat_key: Option<String>,
    /// Also take part in a python-socketio cluster: the channel its pub/sub managers use
    /// (`socketio` by default in python-socketio; default here `None`, off). The node applies
    /// what they publish there (emits, with acks; room changes; disconnections) and publishes
    /// its own broadcasts, and the room changes and disconnections of single sockets, there too
    /// in python's format. On AMQP and Kafka the bus must carry the channel on python's exchange
    /// or topic: the adapter URL's `?python=NAME` sets both up.
    pub python_channel: Option<String>,
    /// Messages received but not yet dispatched, at most (default 4096). The bus waits while the
    /// buffer is full.
    pub receive_buffer: usize,
    /// Messages for one bus channel that queue up while the previous publish is in flight go out
    /// together as one bus message of at most this many bytes (default 64 KiB, capped by the
    /// bus's own limit); `0` publishes every message alone. Nothing waits for a batch to fill:
    /// an idle node publishes each message at once.
    pub batch_bytes: usize,
    /// Messages waiting to be published, at most (default 4096); further emits wait for room.
    pub publish_buffer: usize,
    /// Answers to other nodes' requests (replies, server-side handlers, acks of remote
    /// broadcasts) in progress at once, at most (default 1024). A request that arrives past it
    /// is not answered and logged at warn level: its sender sees this node as missing once its
    /// own request timeout passes, as for a node that is down.
    pub answers_in_flight: usize,
    /// Where the other nodes reach this node's HTTP endpoint (`host:port`, on the network the
    /// nodes share), advertised in its heartbeats (default `None`). Set on every node, it lets
    /// a load balancer spread requests without sticky sessions: a node that gets a request for
    /// a session another node holds hands it to that node, WebSocket upgrades included (see
    /// the server's `docs/no-sticky-sessions.md`). The address takes the same requests as the
    /// public one; it should not need to be reachable from outside.
    pub advertise: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            prefix: "volley".to_owned(),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            node_compat_key: Some("socket.io".to_owned()),
            python_channel: None,
            receive_buffer: 4096,
            batch_bytes: 64 * 1024,
            publish_buffer: 4096,
            answers_in_flight: 1024,
            advertise: None,
        }
    }
}

impl ClusterConfig {
    /// Sets the channel prefix (so that several clusters can share one broker).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the heartbeat interval and the time after which a silent node counts as dead.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.heartbeat_timeout = timeout;
        self
    }

    /// Sets the timeout of requests to other nodes.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how many answers to other nodes' requests may be in progress at once.
    ///
    /// ```
    /// use volley_cluster::ClusterConfig;
    /// let config = ClusterConfig::default().answers_in_flight(256);
    /// assert_eq!(config.answers_in_flight, 256);
    /// ```
    pub fn answers_in_flight(mut self, answers: usize) -> Self {
        self.answers_in_flight = answers;
        self
    }

    /// Sets the largest batch of messages published as one bus message (`0`: no batches).
    ///
    /// ```
    /// use volley_cluster::ClusterConfig;
    /// let config = ClusterConfig::default().batch_bytes(0);
    /// assert_eq!(config.batch_bytes, 0);
    /// ```
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// Sets (or, with `None`, turns off) the channel of python-socketio's managers this node
    /// also speaks (see [`ClusterConfig::python_channel`]).
    ///
    /// ```
    /// use volley_cluster::ClusterConfig;
    /// let config = ClusterConfig::default().python_channel(Some("socketio".into()));
    /// assert_eq!(config.python_channel.as_deref(), Some("socketio"));
    /// ```
    pub fn python_channel(mut self, channel: Option<String>) -> Self {
        self.python_channel = channel;
        self
    }

    /// Sets (or, with `None`, turns off) the address this node advertises to the others, so
    /// that they forward it the requests of its sessions (see [`ClusterConfig::advertise`]).
    ///
    /// ```
    /// use volley_cluster::ClusterConfig;
    /// let config = ClusterConfig::default().advertise(Some("10.0.0.5:3000".into()));
    /// assert_eq!(config.advertise.as_deref(), Some("10.0.0.5:3000"));
    /// ```
    pub fn advertise(mut self, address: Option<String>) -> Self {
        self.advertise = address;
        self
    }

    /// Sets (or, with `None`, turns off) the key of Node's Redis channels accepted from emitters.
    pub fn node_compat_key(mut self, key: Option<String>) -> Self {
        self.node_compat_key = key;
        self
    }
}
