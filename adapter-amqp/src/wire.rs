//! How Volley's bus maps onto AMQP 0.9.1: what any publisher must do to reach a Volley cluster
//! over RabbitMQ without this crate (an emitter in another process or language), and what it
//! will see if it listens.
//!
//! - **One fanout exchange** per cluster, named [`DEFAULT_EXCHANGE`] unless configured. Everyone
//!   declares it the same way before use: type [`EXCHANGE_KIND`], durable
//!   [`EXCHANGE_DURABLE`], auto-delete [`EXCHANGE_AUTO_DELETE`], not internal, no arguments.
//!   A declaration with other flags fails with `PRECONDITION_FAILED` (406) and closes the
//!   channel.
//! - **The routing key is the bus channel** (`volley#`, `volley#<uid>#`, `socket.io#/#`, …), at
//!   most [`MAX_NAME_LEN`] bytes. The fanout exchange ignores it for routing: every node
//!   receives every message (its own included) and keeps those its subscriptions match (exact
//!   channel or prefix). A topic exchange could not stand in: `#` (in every Volley channel) and
//!   `.` are special in its binding keys, and prefixes are not words.
//! - **The body is the payload**, byte for byte (Volley's cluster messages are msgpack). No
//!   properties or headers are needed: messages are transient (no `delivery_mode`, or `1`),
//!   published with `mandatory` and `immediate` off.
//! - **Each node** has its own server-named, exclusive, auto-delete, non-durable queue bound to
//!   the exchange with an empty binding key, so it lives exactly as long as the node's
//!   connection; its `x-max-length` bounds what a stalled node can pile up.
//!
//! ```
//! use volley_amqp::wire;
//!
//! assert_eq!(wire::DEFAULT_EXCHANGE, "volley");
//! assert_eq!(wire::EXCHANGE_KIND, "fanout");
//! assert!(!wire::EXCHANGE_DURABLE && !wire::EXCHANGE_AUTO_DELETE);
//! ```

/// The exchange name used when none is configured.
pub const DEFAULT_EXCHANGE: &str = "volley";

/// The exchange type: every bound queue (one per node) gets every message.
pub const EXCHANGE_KIND: &str = "fanout";

/// Whether the exchange is declared durable: no. Nothing durable travels on it (transient
/// messages, exclusive queues that die with their node), so it need not survive a broker
/// restart: every node and emitter declares it again when it (re)connects, and a test or a
/// short-lived cluster leaves nothing behind on the broker's disk.
pub const EXCHANGE_DURABLE: bool = false;

/// Whether the exchange is declared auto-delete: no. An auto-delete exchange disappears when its
/// last node's queue goes, and an emitter publishing at that moment would get `NOT_FOUND` (404)
/// and lose its channel; a non-durable exchange that stays until the broker restarts avoids it.
pub const EXCHANGE_AUTO_DELETE: bool = false;

/// The longest routing key, exchange or queue name, in bytes (an AMQP short string): a bus
/// channel longer than this cannot be published.
pub const MAX_NAME_LEN: usize = 255;

/// The routing key of a message published on bus channel `channel`: the channel itself (when it
/// is at most [`MAX_NAME_LEN`] bytes long).
///
/// ```
/// assert_eq!(volley_amqp::wire::routing_key("volley#"), Some("volley#"));
/// assert_eq!(volley_amqp::wire::routing_key(&"x".repeat(256)), None);
/// ```
pub fn routing_key(channel: &str) -> Option<&str> {
    (channel.len() <= MAX_NAME_LEN).then_some(channel)
}
