//! Naming the targets of an emit: one room, a socket id, or several.

use crate::engine::Sid;

/// One or more room names. Socket ids are rooms too: every socket is alone in the room named by
/// its id.
///
/// ```
/// # async fn f(io: volley::Server, a: volley::Sid, b: volley::Sid) -> Result<(), volley::EmitError> {
/// io.of("/").to("lobby").emit("hi", &()).await?;
/// io.of("/").to(["lobby", "hall"]).except(vec![a, b]).emit("hi", &()).await?;
/// # Ok(()) }
/// ```
pub trait IntoRooms {
    /// Appends the room names to `out`.
    fn into_rooms(self, out: &mut Vec<String>);
}

impl IntoRooms for &str {
    fn into_rooms(self, out: &mut Vec<String>) {
        out.push(self.to_owned());
    }
}

impl IntoRooms for String {
    fn into_rooms(self, out: &mut Vec<String>) {
        out.push(self);
    }
}

impl IntoRooms for &String {
    fn into_rooms(self, out: &mut Vec<String>) {
        out.push(self.clone());
    }
}

impl IntoRooms for Sid {
    fn into_rooms(self, out: &mut Vec<String>) {
        out.push(self.as_str().to_owned());
    }
}

impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self, out: &mut Vec<String>) {
        self.into_iter().for_each(|r| r.into_rooms(out));
    }
}

impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self, out: &mut Vec<String>) {
        self.into_iter().for_each(|r| r.into_rooms(out));
    }
}

impl<T: IntoRooms + Clone> IntoRooms for &[T] {
    fn into_rooms(self, out: &mut Vec<String>) {
        self.iter().cloned().for_each(|r| r.into_rooms(out));
    }
}

/// Collects rooms into a list.
pub(crate) fn rooms(r: impl IntoRooms) -> Vec<String> {
    let mut out = Vec::new();
    r.into_rooms(&mut out);
    out
}
