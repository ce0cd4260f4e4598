//! The Engine.IO v4 layer (and v3, for old clients, when allowed): sessions over long-polling and WebSocket, the upgrade between them,
//! heartbeats, and the HTTP errors of the reference server. It knows nothing of Socket.IO: the
//! layer above implements [`EngineHandler`].

mod compress;
mod config;
mod endpoint;
mod error;
mod forward;
mod frame;
mod handler;
mod heartbeat;
mod polling;
mod queue;
mod reason;
mod request;
mod sid;
mod socket;
mod v3;
mod websocket;

pub use compress::HttpCompression;
pub use config::{EngineConfig, Transport};
pub use endpoint::Engine;
pub(crate) use endpoint::QueryParams;
pub use error::RequestError;
pub use forward::{CONNECT_TIMEOUT, FORWARDED, IDLE_PER_NODE};
pub use frame::{Frame, Group};
pub use handler::{EngineHandler, Pause};
pub use reason::CloseReason;
pub use request::RequestInfo;
pub use sid::Sid;
pub use socket::{EngineSocket, SendError};
