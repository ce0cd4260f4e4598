//! The Socket.IO v5 layer: servers, namespaces, sockets, handlers and emits.

mod args;
mod broadcast;
mod budget;
mod builder;
mod client;
mod error;
mod gate;
pub mod handler;
mod limits;
mod namespace;
mod observer;
mod parser;
mod reason;
mod registry;
mod rooms;
mod server;
mod session;
mod socket;
mod state;
mod v2;

pub use args::Args;
pub use broadcast::{AckResponse, BroadcastOperator};
pub use builder::ServerBuilder;
pub use client::Client;
pub use error::{AckError, ConnectError, EmitError};
pub use namespace::Namespace;
pub use observer::Observer;
pub(crate) use observer::Observers;
pub use parser::Parser;
pub use reason::{DisconnectReason, Limit};
pub use rooms::IntoRooms;
pub use server::Server;
pub(crate) use session::to_transfer as session_transfer;
pub use session::{SessionGuard, SessionValue};
pub use socket::Socket;
