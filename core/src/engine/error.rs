//! Errors of the Engine.IO HTTP surface, each with the status and body the reference server sends.

use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};

/// A request the Engine.IO endpoint refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `transport` missing, unknown or disabled.
    #[error("Transport unknown")]
    UnknownTransport,
    /// `sid` unknown or already closed.
    #[error("Session ID unknown")]
    UnknownSid,
    /// A new session was asked for with a method other than GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Anything else the protocol does not allow (overlapping polls, bad body, upgrade misuse).
    #[error("Bad request")]
    BadRequest,
    /// `EIO` missing or not `4` (nor `3`, when v3 clients are allowed).
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// The `Origin` is not allowed by the CORS settings.
    #[error("Not an accepted origin.")]
    ForbiddenOrigin,
    /// The server is shutting down and takes no new sessions.
    #[error("Server shutting down")]
    ShuttingDown,
    /// A polling body larger than `maxPayload`.
    #[error("Payload too large")]
    PayloadTooLarge,
}

impl RequestError {
    /// The numeric code of the reference server's error body.
    pub fn code(self) -> u8 {
        match self {
            RequestError::UnknownTransport => 0,
            RequestError::UnknownSid => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest
            | RequestError::PayloadTooLarge
            | RequestError::ShuttingDown => 3,
            RequestError::ForbiddenOrigin => 4,
            RequestError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The HTTP status sent for this error.
    pub fn status(self) -> StatusCode {
        match self {
            RequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        tracing::debug!(target: "volley::engine", error = %self, "request refused");
        let body = format!(r#"{{"code":{},"message":"{}"}}"#, self.code(), self);
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}
