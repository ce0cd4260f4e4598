//! What [`crate::Server::instrument`] is told, and what can go wrong.

use std::time::Duration;

/// How the Admin UI's users log in: one username and password.
///
/// The password is either plain text or a bcrypt hash (`$2a$…`, `$2b$…`, `$2y$…`, as the Admin
/// UI's documentation shows them), which keeps the plain password out of the configuration.
///
/// ```
/// use volley::admin::AdminAuth;
/// let plain = AdminAuth::new("admin", "changeit");
/// // a bcrypt hash of "changeit" (made with `htpasswd -bnBC 10 "" changeit`, for instance)
/// let hashed = AdminAuth::new("admin", "$2a$10$1nPSmZm6Mj36h.8bBDAFYOK7zK93OdTbB.fkWttwO08OCPBbTvenG");
/// assert!(hashed.is_hashed() && !plain.is_hashed());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAuth {
    /// The username the UI must send.
    pub username: String,
    /// The password: plain, or a bcrypt hash of it.
    pub password: String,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("username", &self.username)
            .field("password", &"…")
            .finish()
    }
}

impl AdminAuth {
    /// Credentials from a username and a password (plain or a bcrypt hash).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        AdminAuth {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Whether the password is given as a bcrypt hash.
    pub fn is_hashed(&self) -> bool {
        ["$2a$", "$2b$", "$2y$", "$2x$"]
            .iter()
            .any(|p| self.password.starts_with(p))
    }
}

/// How much the Admin UI is told, as the reference server's `mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminMode {
    /// Every socket, room change and event (`all_sockets`, `socket_connected`, `event_received`,
    /// …) besides the server statistics. The reference server's default.
    #[default]
    Development,
    /// Only the server statistics (`server_stats` with its aggregated events): nothing is sent
    /// per socket or per event, so a busy server pays little for being watched.
    Production,
}

/// The settings of [`crate::Server::instrument`].
///
/// ```
/// use volley::admin::{AdminAuth, AdminOptions};
/// let options = AdminOptions {
///     auth: Some(AdminAuth::new("admin", "changeit")),
///     read_only: true,
///     ..AdminOptions::default()
/// };
/// assert_eq!(options.namespace, "/admin");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOptions {
    /// The credentials the UI must send; `None` lets anyone who reaches the server in (the
    /// reference's `auth: false`): use it only on a trusted network.
    pub auth: Option<AdminAuth>,
    /// The namespace the UI connects to (default `/admin`).
    pub namespace: String,
    /// When set, the UI may only watch: its commands (emit, join, leave, disconnect) are not
    /// offered and are ignored if sent.
    pub read_only: bool,
    /// This node's name in the UI (default: the host name). Nodes of a cluster that share a host
    /// need one each, or the UI shows them as one server.
    pub server_id: Option<String>,
    /// How much the UI is told (default [`AdminMode::Development`]).
    pub mode: AdminMode,
    /// How failed logins slow down further ones from the same address (see [`LoginThrottle`]).
    pub login_throttle: LoginThrottle,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            auth: None,
            namespace: "/admin".to_owned(),
            read_only: false,
            server_id: None,
            mode: AdminMode::Development,
            login_throttle: LoginThrottle::default(),
        }
    }
}

/// How failed Admin UI logins slow down further attempts from the same client address.
///
/// ```
/// use std::time::Duration;
/// use volley::admin::{AdminOptions, LoginThrottle};
/// let options = AdminOptions {
///     login_throttle: LoginThrottle {
///         free_failures: 3,
///         max_lockout: Duration::from_secs(300),
///         ..LoginThrottle::default()
///     },
///     ..AdminOptions::default()
/// };
/// assert_eq!(options.login_throttle.first_lockout, Duration::from_secs(1));
/// ```
///
/// After [`free_failures`](Self::free_failures) failed logins in a row, the address is locked out
/// for [`first_lockout`](Self::first_lockout), and each further failure doubles that, up to
/// [`max_lockout`](Self::max_lockout). A login attempt during a lockout is refused without being
/// checked, even with the right password, with the connect error
/// `"too many failed logins, retry in N s"`, and logged at warn level with the address (never
/// the password). A successful login forgets the address's failures; so does
/// [`forget_after`](Self::forget_after) without a failure. A session id the UI sends back
/// instead of the password is an attempt like any other.
///
/// The address is the peer's IP address as the handshake saw it (serve with connect info, such
/// as [`PeerAddr`](crate::serve::PeerAddr)): IPv6 addresses count by their /64 prefix, which one
/// client usually owns whole; forwarding headers are not trusted, so behind a proxy every
/// client shares the proxy's address. Without connect info every client shares one record.
///
/// At most [`max_addresses`](Self::max_addresses) addresses are tracked: past that, a stale
/// record is dropped, else the one least recently used, so the table stays bounded whatever the
/// number of addresses an attacker has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failed logins in a row an address may make before it is locked out (default 5).
    pub free_failures: u32,
    /// The first lockout (default 1 s); each further failure doubles it.
    pub first_lockout: Duration,
    /// The longest lockout (default 60 s): past the free failures, an address may try about
    /// once per this long.
    pub max_lockout: Duration,
    /// How long after its last failed login an address's failures are forgotten (default
    /// 15 min).
    pub forget_after: Duration,
    /// How many addresses are tracked at once, at most (default 1024: some 100 KB).
    pub max_addresses: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            free_failures: 5,
            first_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(60),
            forget_after: Duration::from_secs(15 * 60),
            max_addresses: 1024,
        }
    }
}

/// Why [`crate::Server::instrument`] refused its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The password looks like a bcrypt hash but is not a valid one.
    #[error("the admin password is not a valid bcrypt hash: {0}")]
    BadHash(String),
    /// The namespace is not a name the UI can connect to (empty, or `*`).
    #[error("{0:?} is not a namespace name for the Admin UI")]
    BadNamespace(String),
    /// The namespace already has handlers: the server is already instrumented, or the
    /// application uses that namespace.
    #[error("the namespace {0} already has handlers (is the server already instrumented?)")]
    NamespaceInUse(String),
    /// `instrument` was called outside a Tokio runtime (it starts the statistics task).
    #[error("instrument() must be called within a Tokio runtime")]
    NoRuntime,
}
