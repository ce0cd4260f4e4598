//! The Engine.IO endpoint: the session table and the routing of one HTTP request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, Request};
use tokio::sync::Notify;

use super::compress::Negotiated;
use super::forward::{Forwarder, FORWARDED};
use super::heartbeat::{self, Schedule};
use super::socket::Version;
use super::{
    polling, websocket, EngineConfig, EngineHandler, EngineSocket, RequestError, RequestInfo, Sid,
    Transport,
};

/// An Engine.IO endpoint: settings, the open sessions and the handler above them.
pub struct Engine<H: EngineHandler> {
    /// The settings.
    pub config: EngineConfig,
    /// The layer above.
    pub handler: H,
    sessions: RwLock<HashMap<Sid, Arc<EngineSocket<H::Data>>>>,
    closing: AtomicBool,
    session_ended: Notify,
    /// Every session's next ping or pong deadline.
    pub(crate) heartbeats: Arc<Schedule>,
    /// Hands requests for other nodes' sessions to them.
    forwarder: Forwarder,
}

impl<H: EngineHandler> Drop for Engine<H> {
    fn drop(&mut self) {
        // its heartbeat task sees the endpoint gone and ends
        self.heartbeats.wake();
    }
}

impl<H: EngineHandler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("sessions", &self.session_count())
            .finish()
    }
}

/// The query parameters every Engine.IO request carries.
struct Query {
    transport: Transport,
    version: Version,
    sid: Option<Sid>,
    /// Set when a `sid` was given but is not of the right form: it cannot name a session.
    bad_sid: bool,
}

/// The Engine.IO parameters of a request's query as sent, decoded; the last of a repeated one.
#[derive(Default)]
pub(crate) struct QueryParams<'a> {
    pub(crate) eio: Option<Cow<'a, str>>,
    pub(crate) transport: Option<Cow<'a, str>>,
    pub(crate) sid: Option<Cow<'a, str>>,
    /// Engine.IO v3 only: the client wants binary as base64 in polling payloads.
    pub(crate) b64: Option<Cow<'a, str>>,
}

impl<'a> QueryParams<'a> {
    /// Reads them from a query string (without its `?`).
    pub(crate) fn read(query: &'a [u8]) -> Self {
        let mut params = QueryParams::default();
        for (k, v) in form_urlencoded::parse(query) {
            match &*k {
                "EIO" => params.eio = Some(v),
                "transport" => params.transport = Some(v),
                "sid" => params.sid = Some(v),
                "b64" => params.b64 = Some(v),
                _ => {}
            }
        }
        params
    }
}

fn parse_query(query: Option<&str>, config: &EngineConfig) -> Result<Query, RequestError> {
    let QueryParams {
        eio,
        transport,
        sid,
        b64,
    } = QueryParams::read(query.unwrap_or("").as_bytes());
    let version = match eio.as_deref() {
        Some("4") => Version::default(),
        Some("3") if config.allow_eio3 => Version {
            eio3: true,
            // any value, as the reference server reads it
            b64: b64.is_some(),
        },
        _ => return Err(RequestError::UnsupportedProtocolVersion),
    };
    let transport = transport
        .as_deref()
        .and_then(Transport::parse)
        .filter(|t| config.allows(*t))
        .ok_or(RequestError::UnknownTransport)?;
    let parsed = sid.as_deref().map(Sid::parse);
    Ok(Query {
        transport,
        version,
        sid: parsed.flatten(),
        bad_sid: matches!(parsed, Some(None)),
    })
}

impl<H: EngineHandler> Engine<H> {
    /// A new endpoint.
    pub fn new(config: EngineConfig, handler: H) -> Arc<Self> {
        Arc::new(Engine {
            config,
            handler,
            sessions: RwLock::new(HashMap::new()),
            closing: AtomicBool::new(false),
            session_ended: Notify::new(),
            heartbeats: Schedule::new(),
            forwarder: Forwarder::default(),
        })
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions.read().map(|s| s.len()).unwrap_or(0)
    }

    /// The open session with this id.
    pub fn session(&self, sid: Sid) -> Option<Arc<EngineSocket<H::Data>>> {
        let sessions = self.sessions.read().ok()?;
        sessions.get(&sid).filter(|s| !s.is_closed()).cloned()
    }

    /// Every open session.
    pub fn sessions(&self) -> Vec<Arc<EngineSocket<H::Data>>> {
        self.sessions
            .read()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Refuses new sessions from now on (HTTP 503); open ones go on.
    pub fn refuse_new_sessions(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Waits until no session is open, or `timeout` passes; `true` when none is left.
    pub async fn wait_empty(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ended = self.session_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.session_count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return self.session_count() == 0;
            }
        }
    }

    /// Answers one HTTP request addressed to the endpoint's path.
    pub async fn handle(self: Arc<Self>, req: Request<Body>) -> Response {
        match self.route(req).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        }
    }

    async fn route(self: Arc<Self>, req: Request<Body>) -> Result<Response, RequestError> {
        let query = parse_query(req.uri().query(), &self.config)?;
        if query.bad_sid {
            return Err(RequestError::UnknownSid);
        }
        if query.sid.is_none() && self.closing.load(Ordering::Acquire) {
            return Err(RequestError::ShuttingDown);
        }
        if let Some(owner) = query.sid.and_then(|sid| self.owner_elsewhere(sid, &req)) {
            let wait = self.config.ping_interval + self.config.ping_timeout;
            return Ok(self.forwarder.forward(req, &owner, wait).await);
        }
        match (query.transport, query.sid, req.method()) {
            (Transport::Polling, None, &Method::GET) => {
                Ok(polling::open(self, req, query.version).await)
            }
            (Transport::Polling, None, _) => Err(RequestError::BadHandshakeMethod),
            (Transport::Polling, Some(sid), &Method::GET) => {
                let socket = self.session(sid).ok_or(RequestError::UnknownSid)?;
                let compression = Negotiated::new(self.config.http_compression, req.headers());
                polling::poll(&self, socket, compression).await
            }
            (Transport::Polling, Some(sid), &Method::POST) => {
                let socket = self.session(sid).ok_or(RequestError::UnknownSid)?;
                polling::post(&self, socket, req).await
            }
            (Transport::Polling, Some(_), _) => Err(RequestError::BadHandshakeMethod),
            (Transport::Websocket, sid, &Method::GET) => {
                let socket = match sid {
                    Some(sid) => Some(self.session(sid).ok_or(RequestError::UnknownSid)?),
                    None => None,
                };
                websocket::accept(self, req, socket, query.version).await
            }
            (Transport::Websocket, _, _) => Err(RequestError::BadRequest),
        }
    }

    /// Where to forward a request for session `sid`, when another node holds it: its id carries
    /// another node's tag, this node does not hold it, the request was not forwarded already,
    /// and that node advertised an address.
    fn owner_elsewhere(&self, sid: Sid, req: &Request<Body>) -> Option<String> {
        let own = self.handler.session_tag()?;
        if sid.tag() == own || req.headers().contains_key(FORWARDED) || self.session(sid).is_some()
        {
            return None;
        }
        self.handler.session_owner(sid.tag())
    }

    /// Creates a session, registers it and schedules its first ping. The transport that opened
    /// it finishes it once closed: a task of its own for a polling session, the connection task
    /// for a WebSocket one.
    pub(crate) fn open_session(
        self: &Arc<Self>,
        (transport, version): (Transport, Version),
        request: RequestInfo,
    ) -> Arc<EngineSocket<H::Data>> {
        let sid = self
            .handler
            .session_tag()
            .and_then(Sid::tagged)
            .unwrap_or_default();
        let socket = Arc::new(EngineSocket::new(
            sid,
            (transport, version),
            (self.config.queue_capacity, self.config.queue_bytes),
            request,
            H::Data::default(),
        ));
        if let Ok(mut sessions) = self.sessions.write() {
            sessions.insert(sid, socket.clone());
        }
        heartbeat::start(self, sid, version.eio3);
        tracing::debug!(target: "volley::engine", %sid, transport = transport.as_str(), "session opened");
        socket
    }

    /// Removes a closed session and tells the handler; called once, by the task that waits for
    /// a polling session to close, by the connection task of one opened over WebSocket.
    pub(crate) fn finish_session(&self, socket: &Arc<EngineSocket<H::Data>>) {
        if let Ok(mut sessions) = self.sessions.write() {
            sessions.remove(&socket.sid());
        }
        self.session_ended.notify_waiters();
        let reason = socket
            .close_reason()
            .unwrap_or(super::CloseReason::ServerClose);
        self.handler.on_close(socket, reason);
    }

    pub(crate) fn handshake(&self, sid: Sid, transport: Transport) -> String {
        let upgrades: &[&str] = if transport == Transport::Polling && self.config.websocket {
            &["websocket"]
        } else {
            &[]
        };
        volley_protocol::engine::Handshake {
            sid: sid.as_str(),
            upgrades,
            ping_interval_ms: self.config.ping_interval.as_millis() as u64,
            ping_timeout_ms: self.config.ping_timeout.as_millis() as u64,
            max_payload: self.config.max_payload,
        }
        .to_packet()
    }

    /// Handles one packet from a client.
    pub(crate) fn on_packet(
        &self,
        socket: &Arc<EngineSocket<H::Data>>,
        packet: volley_protocol::engine::Packet<'_>,
    ) {
        use volley_protocol::engine::Packet;
        match packet {
            Packet::Message(msg) => self.handler.on_message(socket, msg),
            Packet::Pong(_) => socket.record_pong(self.heartbeats.pong_ms()),
            Packet::Close => socket.close(super::CloseReason::ClientClose),
            // a v3 client pings, the server answers
            Packet::Ping(data) if socket.eio3() => super::v3::on_ping(self, socket, data),
            Packet::Ping(_) | Packet::Noop | Packet::Upgrade | Packet::Open => {}
        }
    }

    /// Decodes and handles one text frame; `false` when it was invalid and the session closed.
    pub(crate) fn on_text(&self, socket: &Arc<EngineSocket<H::Data>>, text: &str) -> bool {
        match volley_protocol::engine::decode_text(text) {
            Ok(packet) => {
                self.on_packet(socket, packet);
                true
            }
            Err(e) => {
                tracing::debug!(target: "volley::engine", sid = %socket.sid(), error = %e, "invalid packet");
                socket.close(super::CloseReason::TransportError);
                false
            }
        }
    }
}
