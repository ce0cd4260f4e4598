//! Values shared by every handler of a server, set once on the builder and read by type.

use std::any::{Any, TypeId};
use std::sync::Arc;

type Entry = (TypeId, Box<dyn Any + Send + Sync>);

/// The server's shared values, one per type (a handful: a list beats a hash table).
#[derive(Clone, Default)]
pub(crate) struct States(Arc<[Entry]>);

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("States")
            .field("values", &self.0.len())
            .finish()
    }
}

impl States {
    /// The values set on the builder, in order; a later value replaces an earlier one of its type.
    pub(crate) fn new(values: Vec<Entry>) -> Self {
        let mut kept: Vec<Entry> = Vec::with_capacity(values.len());
        for (id, value) in values {
            kept.retain(|(t, _)| *t != id);
            kept.push((id, value));
        }
        States(kept.into())
    }

    /// An entry for [`States::new`].
    pub(crate) fn entry<T: Send + Sync + 'static>(value: T) -> Entry {
        (TypeId::of::<T>(), Box::new(value))
    }

    /// The value of type `T`, if one was set.
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.0
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref())
    }
}
