//! Errors of the Socket.IO surface: emitting, awaiting acks, refusing a connection.

use serde::Serialize;
use volley_protocol::{EncodeError, Value};

/// An emit that could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The data could not be serialized.
    #[error("cannot encode the packet: {0}")]
    Encode(#[from] EncodeError),
    /// Socket.IO reserves this event name for its own lifecycle (`connect`, `disconnect`, …; see
    /// [`volley_protocol::RESERVED_EVENTS`]): clients would take it for theirs.
    #[error("{0:?} is a reserved event name")]
    ReservedEvent(String),
    /// The target socket is not connected.
    #[error("the socket is not connected")]
    SocketGone,
    /// The client manager could not deliver the packet (a broker is unreachable, …).
    #[error("the client manager failed: {0}")]
    Manager(String),
    /// Some nodes of the cluster did not answer a request in time.
    #[error("{missing} node(s) did not answer within the timeout")]
    Timeout {
        /// How many nodes did not answer.
        missing: usize,
    },
}

/// Refuses a reserved event name (see [`EmitError::ReservedEvent`]).
pub(crate) fn refuse_reserved(event: &str) -> Result<(), EmitError> {
    if volley_protocol::is_reserved_event(event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    Ok(())
}

/// Why an awaited acknowledgement did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No ack arrived in time.
    #[error("no acknowledgement within the timeout")]
    Timeout,
    /// The socket disconnected before acknowledging.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    /// The emit itself failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The ack's arguments did not fit the requested type.
    #[error("unexpected acknowledgement data: {0}")]
    Decode(#[from] volley_protocol::DecodeError),
}

/// A connect handler's refusal; its message (and data) reach the client in CONNECT_ERROR, as
/// `err.message` and `err.data` of the JavaScript client's `connect_error` event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("connection refused: {message}")]
pub struct ConnectError {
    message: String,
    data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    ///
    /// ```
    /// let err = volley::ConnectError::new("authentication failed").with_data(&[1, 2]);
    /// assert_eq!(err.message(), "authentication failed");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data that the client receives beside the message. Data that cannot be serialized is
    /// left out.
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = volley_protocol::args::to_value(data).ok();
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The data, if any.
    pub(crate) fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }

    /// The CONNECT_ERROR payload: `{"message": …, "data": …}`.
    pub(crate) fn to_value(&self) -> Value {
        let mut map = vec![(Value::from("message"), Value::from(self.message.as_str()))];
        if let Some(data) = &self.data {
            map.push((Value::from("data"), data.clone()));
        }
        Value::Map(map)
    }
}
