//! Per-socket session: several values, one per type, saved, read back, or edited through a guard
//! that writes back on drop; they follow a socket recovered on another node.
//!
//! Each value is kept as it is, with the function that serializes it. When connection state
//! recovery hands a socket over to another node, every value travels serialized under its type's
//! name ([`std::any::type_name`]); the receiving node keeps them in that form until a reader asks
//! for a type of that name, and deserializes it then. The nodes must therefore run the same code
//! (the same type names).

use std::any::{type_name, Any, TypeId};
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use volley_protocol::Value;

use crate::Socket;

/// What a session value must be: serializable (to follow a recovered socket to another node),
/// cloneable (readers get copies) and shareable across threads. Every such type is one.
///
/// ```
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Profile { nick: String }
///
/// fn is_session_value<T: volley::SessionValue>() {}
/// is_session_value::<Profile>();
/// is_session_value::<String>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a session value",
    note = "a session value is `Serialize + DeserializeOwned + Clone + Send + Sync + 'static` (derive serde's traits for it)"
)]
pub trait SessionValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> SessionValue for T {}

/// One saved value and how to serialize it.
struct Entry {
    id: TypeId,
    key: &'static str,
    value: Box<dyn Any + Send + Sync>,
    encode: fn(&(dyn Any + Send + Sync)) -> Option<Value>,
}

fn encode<T: SessionValue>(value: &(dyn Any + Send + Sync)) -> Option<Value> {
    volley_protocol::args::to_value(value.downcast_ref::<T>()?).ok()
}

/// The session of one socket.
#[derive(Default)]
pub(crate) struct SessionMap {
    values: Vec<Entry>,
    /// Values that came serialized from another node, by type name, until they are read.
    carried: Vec<(String, Value)>,
}

impl SessionMap {
    fn is_empty(&self) -> bool {
        self.values.is_empty() && self.carried.is_empty()
    }

    fn save<T: SessionValue>(&mut self, value: T) {
        let key = type_name::<T>();
        self.carried.retain(|(k, _)| k != key);
        let entry = Entry {
            id: TypeId::of::<T>(),
            key,
            value: Box::new(value),
            encode: encode::<T>,
        };
        match self.values.iter_mut().find(|e| e.id == entry.id) {
            Some(old) => *old = entry,
            None => self.values.push(entry),
        }
    }

    fn get<T: SessionValue>(&mut self) -> Option<T> {
        let id = TypeId::of::<T>();
        if let Some(entry) = self.values.iter().find(|e| e.id == id) {
            return entry.value.downcast_ref::<T>().cloned();
        }
        let key = type_name::<T>();
        let at = self.carried.iter().position(|(k, _)| k == key)?;
        match volley_protocol::args::from_value::<T>(self.carried[at].1.clone()) {
            Ok(value) => {
                self.carried.remove(at);
                self.save(value.clone());
                Some(value)
            }
            Err(e) => {
                tracing::debug!(target: "volley::socketio", key, error = %e, "a session value from another node does not fit its type");
                None
            }
        }
    }

    fn remove<T: SessionValue>(&mut self) -> Option<T> {
        let value = self.get::<T>();
        let id = TypeId::of::<T>();
        self.values.retain(|e| e.id != id);
        value
    }

    /// Every value, serialized by type name.
    fn to_value(&self) -> Value {
        let mut map: Vec<(Value, Value)> =
            Vec::with_capacity(self.values.len() + self.carried.len());
        for entry in &self.values {
            match (entry.encode)(entry.value.as_ref()) {
                Some(v) => map.push((Value::from(entry.key), v)),
                None => {
                    tracing::debug!(target: "volley::socketio", key = entry.key, "a session value cannot be serialized, it stays behind")
                }
            }
        }
        for (key, value) in &self.carried {
            map.push((Value::from(key.as_str()), value.clone()));
        }
        Value::Map(map)
    }
}

/// The session slot of one socket.
#[derive(Default)]
pub(crate) struct SessionSlot(Mutex<SessionMap>);

impl SessionSlot {
    fn lock(&self) -> MutexGuard<'_, SessionMap> {
        // Nothing panics while holding it; a poisoned map is still a valid one.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn save<T: SessionValue>(&self, value: T) {
        self.lock().save(value);
    }

    pub(crate) fn get<T: SessionValue>(&self) -> Option<T> {
        self.lock().get()
    }

    pub(crate) fn remove<T: SessionValue>(&self) -> Option<T> {
        self.lock().remove()
    }

    /// Takes the values out, for a socket that may be recovered.
    pub(crate) fn take(&self) -> Option<Box<dyn Any + Send + Sync>> {
        let map = std::mem::take(&mut *self.lock());
        (!map.is_empty()).then(|| Box::new(map) as Box<dyn Any + Send + Sync>)
    }

    /// Puts back a recovered socket's values.
    pub(crate) fn put(&self, values: Option<Box<dyn Any + Send + Sync>>) {
        if let Some(map) = values.and_then(|v| v.downcast::<SessionMap>().ok()) {
            *self.lock() = *map;
        }
    }

    pub(crate) fn clear(&self) {
        *self.lock() = SessionMap::default();
    }
}

/// A session as it travels to another node with a recovered socket: a map from type name to
/// serialized value (`Nil` for no session).
pub(crate) fn to_transfer(session: Option<Box<dyn Any + Send + Sync>>) -> Value {
    match session.and_then(|s| s.downcast::<SessionMap>().ok()) {
        Some(map) if !map.is_empty() => map.to_value(),
        _ => Value::Nil,
    }
}

/// A session received with a socket recovered from another node (see [`to_transfer`]). Also
/// reads the form of earlier versions, `["string", s]` or `["value", v]`, which carried one
/// `String` or one [`Value`].
pub(crate) fn from_transfer(value: Value) -> Option<Box<dyn Any + Send + Sync>> {
    let carried = match value {
        Value::Map(entries) => entries
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
            .collect(),
        Value::Array(mut parts) if parts.len() == 2 => {
            let value = parts.pop()?;
            let key = match parts.pop()?.as_str()? {
                "string" => type_name::<String>(),
                "value" => type_name::<Value>(),
                _ => return None,
            };
            vec![(key.to_owned(), value)]
        }
        _ => return None,
    };
    let map = SessionMap {
        values: Vec::new(),
        carried,
    };
    (!map.is_empty()).then(|| Box::new(map) as Box<dyn Any + Send + Sync>)
}

/// A copy of one of a socket's session values that is saved back when the guard is dropped.
///
/// ```
/// # fn f(socket: volley::Socket) {
/// #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
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
pub struct SessionGuard<T: SessionValue> {
    socket: Socket,
    value: Option<T>,
}

impl<T: SessionValue> SessionGuard<T> {
    pub(crate) fn new(socket: Socket, value: T) -> Self {
        SessionGuard {
            socket,
            value: Some(value),
        }
    }
}

impl<T: SessionValue> Deref for SessionGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Only `drop` takes the value out.
        self.value.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<T: SessionValue> DerefMut for SessionGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T: SessionValue> Drop for SessionGuard<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            if self.socket.connected() {
                self.socket.save_session(value);
            }
        }
    }
}

impl<T: SessionValue + std::fmt::Debug> std::fmt::Debug for SessionGuard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionGuard").field(&self.value).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Profile {
        nick: String,
        messages: u32,
    }

    #[test]
    fn several_values_one_per_type() {
        let slot = SessionSlot::default();
        assert_eq!(slot.get::<String>(), None);
        slot.save(String::from("ada"));
        slot.save(Profile {
            nick: "ada".into(),
            messages: 2,
        });
        slot.save(String::from("grace"));
        assert_eq!(slot.get::<String>().as_deref(), Some("grace"));
        assert_eq!(slot.get::<Profile>().map(|p| p.messages), Some(2));
        assert_eq!(slot.remove::<String>().as_deref(), Some("grace"));
        assert_eq!(slot.get::<String>(), None);
        assert!(slot.get::<Profile>().is_some());
    }

    #[test]
    fn values_cross_in_serialized_form_and_are_read_by_type() {
        let slot = SessionSlot::default();
        let profile = Profile {
            nick: "ada".into(),
            messages: 7,
        };
        slot.save(profile.clone());
        slot.save(42u64);
        let wire = to_transfer(slot.take());
        assert!(slot.get::<Profile>().is_none(), "taken");
        let there = SessionSlot::default();
        there.put(from_transfer(wire.clone()));
        assert_eq!(there.get::<Profile>(), Some(profile.clone()));
        assert_eq!(there.get::<u64>(), Some(42));
        // a value not read yet travels on as it came
        let there = SessionSlot::default();
        there.put(from_transfer(wire));
        assert_eq!(there.get::<u64>(), Some(42));
        let again = SessionSlot::default();
        again.put(from_transfer(to_transfer(there.take())));
        assert_eq!(again.get::<Profile>(), Some(profile));
    }

    #[test]
    fn the_older_single_value_form_is_read() {
        let slot = SessionSlot::default();
        slot.put(from_transfer(Value::Array(vec![
            Value::from("string"),
            Value::from("ada"),
        ])));
        assert_eq!(slot.get::<String>().as_deref(), Some("ada"));
        assert!(from_transfer(Value::Nil).is_none());
        assert!(from_transfer(Value::from(3)).is_none());
        assert_eq!(to_transfer(None), Value::Nil);
    }
}
