//! Which sockets an emit is for: the same type travels between nodes.

/// The targets of an emit: rooms (socket ids count as rooms of one), rooms to leave out, and
/// whether delivery may be dropped for a slow client.
pub use volley_protocol::cluster::BroadcastOpts as BroadcastOptions;

/// A socket's id, namespace, rooms and handshake, wherever in the cluster it lives.
pub use volley_protocol::cluster::RemoteSocket as SocketInfo;
