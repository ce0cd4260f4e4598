//! Per-socket session data: saved, read back, or edited through a guard that writes back on drop.

use std::any::Any;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use crate::Socket;

/// The session slot of one socket: any one value, typed by its reader.
#[derive(Default)]
pub(crate) struct SessionSlot(Mutex<Option<Box<dyn Any + Send + Sync>>>);

impl SessionSlot {
    pub(crate) fn save<T: Send + Sync + 'static>(&self, value: T) {
        let mut slot = match self.0.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Some(Box::new(value));
    }

    pub(crate) fn get<T: Clone + 'static>(&self) -> Option<T> {
        let slot = match self.0.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.as_ref()?.downcast_ref::<T>().cloned()
    }

    /// Takes the value out, for a socket that may be recovered.
    pub(crate) fn take(&self) -> Option<Box<dyn Any + Send + Sync>> {
        match self.0.lock() {
            Ok(mut s) => s.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// Puts back a recovered socket's value.
    pub(crate) fn put(&self, value: Option<Box<dyn Any + Send + Sync>>) {
        match self.0.lock() {
            Ok(mut s) => *s = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = None;
        }
    }
}

/// A session as it travels to another node with a recovered socket: `[kind, value]`, for the
/// session types that can travel (a [`volley_protocol::Value`] or a `String`); `Nil` otherwise.
pub(crate) fn to_transfer(session: Option<Box<dyn Any + Send + Sync>>) -> volley_protocol::Value {
    use volley_protocol::Value;
    let Some(session) = session else {
        return Value::Nil;
    };
    match session.downcast::<Value>() {
        Ok(v) => Value::Array(vec![Value::from("value"), *v]),
        Err(s) => match s.downcast::<String>() {
            Ok(s) => Value::Array(vec![Value::from("string"), Value::from(*s)]),
            Err(_) => Value::Nil,
        },
    }
}

/// A session received with a socket recovered from another node (see [`to_transfer`]).
pub(crate) fn from_transfer(value: volley_protocol::Value) -> Option<Box<dyn Any + Send + Sync>> {
    use volley_protocol::Value;
    let Value::Array(mut parts) = value else {
        return None;
    };
    let value = parts.pop()?;
    match (parts.pop()?.as_str()?, value) {
        ("value", v) => Some(Box::new(v)),
        ("string", Value::String(s)) => Some(Box::new(s.into_str()?)),
        _ => None,
    }
}

/// A copy of a socket's session that is saved back when the guard is dropped.
///
/// ```
/// # fn f(socket: volley::Socket) {
/// #[derive(Clone, Default)]
/// struct Profile { nick: String, messages: u32 }
///
/// {
///     let mut profile = socket.session::<Profile>();
///     profile.messages += 1;
/// } // saved here
/// assert_eq!(socket.get_session::<Profile>().map(|p| p.messages), Some(1));
/// # }
/// ```
#[must_use = "the session is saved when the guard is dropped"]
pub struct SessionGuard<T: Send + Sync + 'static> {
    socket: Socket,
    value: Option<T>,
}

impl<T: Send + Sync + 'static> SessionGuard<T> {
    pub(crate) fn new(socket: Socket, value: T) -> Self {
        SessionGuard {
            socket,
            value: Some(value),
        }
    }
}

impl<T: Send + Sync + 'static> Deref for SessionGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Only `drop` takes the value out.
        self.value.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<T: Send + Sync + 'static> DerefMut for SessionGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T: Send + Sync + 'static> Drop for SessionGuard<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            if self.socket.connected() {
                self.socket.save_session(value);
            }
        }
    }
}

impl<T: Send + Sync + std::fmt::Debug + 'static> std::fmt::Debug for SessionGuard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionGuard").field(&self.value).finish()
    }
}
