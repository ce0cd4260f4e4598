//! Event names Socket.IO gives a meaning of its own: no server, emitter or Admin UI sends them
//! to clients as events (a client would take them for its own lifecycle events).

/// The reserved event names, as Node's socket.io lists them.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `event` is one of the [`RESERVED_EVENTS`].
///
/// ```
/// use volley_protocol::is_reserved_event;
/// assert!(is_reserved_event("disconnect"));
/// assert!(!is_reserved_event("chat"));
/// ```
pub fn is_reserved_event(event: &str) -> bool {
    // most events are not reserved: the length check settles them without comparing bytes
    event.len() <= 14 && RESERVED_EVENTS.contains(&event)
}
