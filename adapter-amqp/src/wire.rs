//! How Volley's bus maps onto AMQP 0.9.1: what any publisher must do to reach a Volley cluster
//! over RabbitMQ without this crate (an emitter in another process or language), and what it
//! will see if it listens.
//!
//! - **One fanout exchange** per cluster, named [`DEFAULT_EXCHANGE`] unless configured. Everyone
//!   declares it the same way before use: type [`EXCHANGE_KIND`], durable [`EXCHANGE_DURABLE`],
//!   auto-delete [`EXCHANGE_AUTO_DELETE`], not internal, no arguments. A declaration with other
//!   flags than an existing exchange's fails with `PRECONDITION_FAILED` (406) and closes the
//!   channel; Volley's nodes and emitter then declare it once more, non-durable, so that they
//!   work on an exchange that an earlier version declared non-durable (until the broker
//!   restarts: bindings to a non-durable exchange do not survive it).
//! - **The routing key is the bus channel** (`volley#`, `volley#<uid>#`, `socket.io#/#`, …), at
//!   most [`MAX_NAME_LEN`] bytes. The fanout exchange ignores it for routing: every node
//!   receives every message (its own included) and keeps those its subscriptions match (exact
//!   channel or prefix). A topic exchange could not stand in: `#` (in every Volley channel) and
//!   `.` are special in its binding keys, and prefixes are not words.
//! - **The body is the payload**, byte for byte (Volley's cluster messages are msgpack). No
//!   property or header is required. Volley's nodes publish with `mandatory` on (a message that
//!   reaches no queue is returned and the publish fails), persistent (`delivery_mode` 2) unless
//!   configured otherwise, and with a `message_id` (see [`message_id`]) that lets a node drop a
//!   message the broker delivers twice (after a reconnection, the messages it had delivered but
//!   not seen acknowledged come again). Messages without one are delivered as they come.
//! - **Each node** has its own queue, named `<exchange>.node.<32 random hex digits>` (one name per
//!   node process, kept across its reconnections), non-exclusive, not auto-delete, durable
//!   unless configured otherwise, bound to the exchange with an empty binding key and consumed by
//!   that node alone (exclusive consumer). Its arguments: `x-expires` (the grace period after
//!   which the broker deletes a queue nobody consumes: a node back within it finds everything
//!   published meanwhile), `x-max-length` and `x-max-length-bytes` with `x-overflow` =
//!   `drop-head` (a stalled or absent node loses its oldest messages, nobody else is held back).
//!   A node that closes its bus deletes its queue.
//!
//! ```
//! use volley_amqp::wire;
//!
//! assert_eq!(wire::DEFAULT_EXCHANGE, "volley");
//! assert_eq!(wire::EXCHANGE_KIND, "fanout");
//! assert!(wire::EXCHANGE_DURABLE && !wire::EXCHANGE_AUTO_DELETE);
//! ```

/// The exchange name used when none is configured.
pub const DEFAULT_EXCHANGE: &str = "volley";

/// The exchange type: every bound queue (one per node) gets every message.
pub const EXCHANGE_KIND: &str = "fanout";

/// Whether the exchange is declared durable: yes, so that the bindings of the nodes' durable
/// queues survive a broker restart: a message published after the restart reaches every node's
/// queue, also of the nodes that have not reconnected yet.
pub const EXCHANGE_DURABLE: bool = true;

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

/// The `message_id` property of the `seq`-th message of publisher `publisher`:
/// `<publisher as 16 hex digits>.<seq in hex>`. A publisher picks a random 64-bit id when it
/// starts and numbers its messages from 0; a receiver that saw that pair already drops the
/// message.
///
/// ```
/// use volley_amqp::wire;
///
/// let id = wire::message_id(0xabc, 255);
/// assert_eq!(id, "0000000000000abc.ff");
/// assert_eq!(wire::parse_message_id(&id), Some((0xabc, 255)));
/// assert_eq!(wire::parse_message_id("from-another-client"), None);
/// ```
pub fn message_id(publisher: u64, seq: u64) -> String {
    format!("{publisher:016x}.{seq:x}")
}

/// The publisher and sequence number of a [`message_id`], if it is one.
pub fn parse_message_id(id: &str) -> Option<(u64, u64)> {
    let (publisher, seq) = id.split_once('.')?;
    if publisher.len() != 16 || seq.is_empty() || seq.len() > 16 {
        return None;
    }
    Some((
        u64::from_str_radix(publisher, 16).ok()?,
        u64::from_str_radix(seq, 16).ok()?,
    ))
}
