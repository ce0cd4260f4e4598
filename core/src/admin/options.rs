//! What [`crate::Server::instrument`] is told, and what can go wrong.

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
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            auth: None,
            namespace: "/admin".to_owned(),
            read_only: false,
            server_id: None,
            mode: AdminMode::Development,
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
