//! Errors of the AMQP transport, and how lapin's errors map to [`BusError`].

use lapin::protocol::AMQPErrorKind;
use lapin::ErrorKind;
use volley_cluster::BusError;

/// Why an [`AmqpBus`](crate::AmqpBus) cannot be built or cannot connect.
///
/// ```
/// use volley_amqp::{AmqpBus, AmqpError};
///
/// let err = AmqpBus::new("http://127.0.0.1:5672").unwrap_err();
/// assert!(matches!(err, AmqpError::InvalidUrl(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmqpError {
    /// The URL is not an `amqp://host[:port][/vhost]` URL this transport can use. The message
    /// never repeats the URL, which may hold a password.
    #[error("invalid AMQP URL: {0}")]
    InvalidUrl(String),
    /// The exchange name cannot be declared (too long, or reserved by the broker).
    #[error("invalid AMQP exchange name: {0}")]
    InvalidExchange(String),
    /// The connection to the broker failed (refused, timed out, wrong credentials or vhost, …).
    #[error("cannot connect to RabbitMQ: {0}")]
    Connect(String),
    /// Connected, but the broker refused to declare the exchange or the queue: typically an
    /// exchange of this name that exists with another type or other flags than
    /// [`wire`](crate::wire) states (`PRECONDITION_FAILED`), or missing permissions.
    #[error("RabbitMQ refused a declaration: {0}")]
    Declare(String),
    /// The bus was closed with [`AmqpBus::close`](crate::AmqpBus::close).
    #[error("the AMQP bus is closed")]
    Closed,
}

impl From<AmqpError> for BusError {
    fn from(err: AmqpError) -> Self {
        match err {
            AmqpError::Connect(_) | AmqpError::Closed => BusError::Unavailable(err.to_string()),
            AmqpError::InvalidUrl(_) | AmqpError::InvalidExchange(_) | AmqpError::Declare(_) => {
                BusError::Other(err.to_string())
            }
        }
    }
}

/// Maps a lapin error to what the cluster manager needs to know: can it retry later
/// (`Unavailable`: the connection or channel is gone, the transport reconnects), or did the
/// broker refuse this operation (`Other`).
pub(crate) fn bus_error(err: &lapin::Error) -> BusError {
    match err.kind() {
        ErrorKind::ProtocolError(e) if matches!(e.kind(), AMQPErrorKind::Soft(_)) => {
            BusError::Other(describe(err))
        }
        _ => BusError::Unavailable(describe(err)),
    }
}

/// Whether a failed declaration is the broker's refusal (not a lost connection).
pub(crate) fn is_refusal(err: &lapin::Error) -> bool {
    matches!(err.kind(), ErrorKind::ProtocolError(e) if matches!(e.kind(), AMQPErrorKind::Soft(_)))
}

/// Whether the broker answered `NOT_FOUND` (404): no such exchange or queue.
pub(crate) fn is_not_found(err: &lapin::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ProtocolError(e)
            if matches!(e.kind(), AMQPErrorKind::Soft(lapin::protocol::AMQPSoftError::NOTFOUND))
    )
}

/// Whether the broker answered `PRECONDITION_FAILED` (406): declared with other flags.
pub(crate) fn is_precondition_failed(err: &lapin::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ProtocolError(e)
            if matches!(
                e.kind(),
                AMQPErrorKind::Soft(lapin::protocol::AMQPSoftError::PRECONDITIONFAILED)
            )
    )
}

/// A one-line description of a lapin error.
pub(crate) fn describe(err: &lapin::Error) -> String {
    err.to_string()
}
