//! The trait through which the Engine.IO layer hands sessions and messages to the layer above.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{CloseReason, EngineSocket};

/// What a paused session waits for before it reads again (see [`EngineHandler::pause`]).
pub type Pause = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Receives the events of every Engine.IO session of one endpoint.
///
/// Calls for one session never overlap: messages arrive in order from one reader at a time.
/// The methods must not block; spawn a task for long work.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session data, created when the session opens.
    type Data: Default + Send + Sync + 'static;

    /// A session opened (its handshake packet is on its way).
    fn on_open(&self, socket: &Arc<EngineSocket<Self::Data>>);

    /// A text message arrived.
    fn on_message(&self, socket: &Arc<EngineSocket<Self::Data>>, text: &str);

    /// A binary message arrived.
    fn on_binary(&self, socket: &Arc<EngineSocket<Self::Data>>, data: Bytes);

    /// How long after a session opens [`on_open_check`](EngineHandler::on_open_check) is called
    /// for it; `None` (the default): never. Read once per session.
    fn open_check_after(&self) -> Option<Duration> {
        None
    }

    /// Called once, [`open_check_after`](EngineHandler::open_check_after) after the session
    /// opened, if it is still open (the Socket.IO layer closes a session that joined no
    /// namespace by then). From the endpoint's timer task, not a task per session.
    fn on_open_check(&self, socket: &Arc<EngineSocket<Self::Data>>) {
        let _ = socket;
    }

    /// Asked before each message is read: `Some` pauses the session's reads until the future
    /// resolves (the client's writes then wait in TCP). The default never pauses. The Socket.IO
    /// layer pauses a connection whose handlers are backlogged.
    fn pause(&self, socket: &Arc<EngineSocket<Self::Data>>) -> Option<Pause> {
        let _ = socket;
        None
    }

    /// The tag every session id this endpoint makes ends with ([`Sid::tagged`]), when other
    /// nodes forward it the requests of its sessions; `None` (the default): ids are wholly
    /// random, and a request for a session held elsewhere is refused as unknown.
    ///
    /// [`Sid::tagged`]: super::Sid::tagged
    fn session_tag(&self) -> Option<&str> {
        None
    }

    /// Where the node that holds the sessions whose ids end with `tag` takes requests
    /// (`host:port`), to forward it a request for one of them; `None`: no node known.
    fn session_owner(&self, tag: &str) -> Option<String> {
        let _ = tag;
        None
    }

    /// The session moved from polling to WebSocket.
    fn on_upgrade(&self, socket: &Arc<EngineSocket<Self::Data>>) {
        let _ = socket;
    }

    /// The session closed; called once.
    fn on_close(&self, socket: &Arc<EngineSocket<Self::Data>>, reason: CloseReason);
}
