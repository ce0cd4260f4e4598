//! The addresses other nodes advertise in their heartbeats (see [`ClusterConfig::advertise`]),
//! by the tag their session ids end with: where to forward a request for a session this node
//! does not hold, when the load balancer has no sticky sessions.
//!
//! A node's tag is the start of its uid, which is random: two nodes of one cluster share a tag
//! with a chance of about n² in 2^25 for n nodes. The later one is then not learnt (and a
//! warning says so): the requests of its sessions that reach another node fail as for an
//! unknown session, and their clients reconnect.
//!
//! [`ClusterConfig::advertise`]: super::ClusterConfig::advertise

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::engine::Sid;

/// Nodes whose addresses are kept, at most: beyond it (a bus carrying messages from that many
/// uids is not a cluster) new ones are not learnt.
const MAX_NODES: usize = 4096;

/// The tag of the session ids of the node `uid`, when its uid is long enough to give one.
pub(crate) fn tag_of(uid: &str) -> Option<&str> {
    uid.get(..Sid::TAG_LEN).filter(|tag| Sid::is_tag(tag))
}

/// What one node advertised.
struct Advertised {
    uid: String,
    address: String,
}

/// The advertised addresses, by tag.
#[derive(Default)]
pub(crate) struct Addresses {
    by_tag: RwLock<HashMap<String, Advertised>>,
}

impl Addresses {
    /// Node `uid` advertised `address` (or stopped advertising one, with `None`).
    pub(crate) fn learn(&self, uid: &str, address: Option<&str>) {
        let Some(tag) = tag_of(uid) else { return };
        let mut by_tag = self.by_tag.write().unwrap_or_else(PoisonError::into_inner);
        let Some(address) = address else {
            if by_tag.get(tag).is_some_and(|known| known.uid == uid) {
                by_tag.remove(tag);
            }
            return;
        };
        let full = by_tag.len() >= MAX_NODES;
        match by_tag.get_mut(tag) {
            Some(known) if known.uid == uid => {
                if known.address != address {
                    known.address = address.to_owned();
                }
            }
            Some(known) => {
                tracing::warn!(
                    target: "volley::cluster",
                    node = uid,
                    other = %known.uid,
                    "two nodes share a session tag: requests for this node's sessions are not forwarded"
                );
            }
            None if full => {}
            None => {
                tracing::debug!(target: "volley::cluster", node = uid, address, "node advertises an address");
                by_tag.insert(
                    tag.to_owned(),
                    Advertised {
                        uid: uid.to_owned(),
                        address: address.to_owned(),
                    },
                );
            }
        }
    }

    /// Node `uid` left or died.
    pub(crate) fn forget(&self, uid: &str) {
        self.learn(uid, None);
    }

    /// The address of the node whose session ids end with `tag`.
    pub(crate) fn get(&self, tag: &str) -> Option<String> {
        let by_tag = self.by_tag.read().unwrap_or_else(PoisonError::into_inner);
        by_tag.get(tag).map(|known| known.address.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_found_by_its_tag_until_it_goes() {
        let addresses = Addresses::default();
        addresses.learn("a1b2c3d4e5f60718", Some("10.0.0.1:3000"));
        assert_eq!(addresses.get("a1b2c3").as_deref(), Some("10.0.0.1:3000"));
        assert_eq!(addresses.get("a1b2c4"), None);
        // a node with the same tag does not take the first one's place
        addresses.learn("a1b2c3ffffffffff", Some("10.0.0.2:3000"));
        assert_eq!(addresses.get("a1b2c3").as_deref(), Some("10.0.0.1:3000"));
        // nor does its leaving remove it
        addresses.forget("a1b2c3ffffffffff");
        assert_eq!(addresses.get("a1b2c3").as_deref(), Some("10.0.0.1:3000"));
        addresses.forget("a1b2c3d4e5f60718");
        assert_eq!(addresses.get("a1b2c3"), None);
    }

    #[test]
    fn uids_without_a_tag_are_not_learnt() {
        let addresses = Addresses::default();
        addresses.learn("ab", Some("10.0.0.1:3000"));
        addresses.learn("a b c d e f g", Some("10.0.0.1:3000"));
        assert!(addresses.get("a b c ").is_none());
    }
}
