//! The seam between Volley's cluster manager and a message broker, with nothing of HTTP in it.
//!
//! A bus carries bytes on named channels: [`PubSub::publish`] and [`PubSub::subscribe`] are all
//! an adapter must write; the optional methods let a bus that can do more (count its peers, keep
//! disconnected sessions, number broadcasts) say so. The cluster logic that runs over a bus is
//! written once, in `volley`'s `ClusterManager`; the adapters (`volley-redis`, `volley-amqp`,
//! `volley-kafka`) and the emitter (`volley-emitter`) depend on this crate, not on the server.
//!
//! ```
//! use bytes::Bytes;
//! use tokio::sync::mpsc;
//! use volley_cluster::{MemoryBus, PubSub, Subscription};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let bus = MemoryBus::new();
//! let (tx, mut rx) = mpsc::channel(16);
//! bus.subscribe(&[Subscription::Channel("volley#".into())], tx).await.unwrap();
//! bus.publish("volley#", Bytes::from_static(b"hello")).await.unwrap();
//! assert_eq!(rx.recv().await.unwrap().payload, Bytes::from_static(b"hello"));
//! # });
//! ```

mod bus;
mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod memory_bus;
mod side_channel;
mod tasks;

pub use bus::{
    publish_counted_each, BusError, BusMessage, MissedBroadcast, PubSub, RestoredSession,
    StoredSession, Subscription,
};
pub use config::ClusterConfig;
pub use memory_bus::MemoryBus;
pub use side_channel::SideChannel;
pub use tasks::BusTasks;
