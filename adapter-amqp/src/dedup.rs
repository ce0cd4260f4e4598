//! Remembers which messages (publisher, sequence number) this node has delivered, so that a
//! message the broker delivers again after a reconnection is dropped. Bounded: a window of
//! sequence numbers per publisher, and a bounded number of publishers.

use std::collections::HashMap;

/// How many publishers are remembered; past it, the one heard from least recently is forgotten.
const MAX_PUBLISHERS: usize = 1024;

/// The delivered messages of recent publishers.
pub(crate) struct Dedup {
    /// Sequence numbers remembered per publisher: a multiple of 64.
    window: u64,
    publishers: HashMap<u64, Seen>,
    /// Increases with every message: when each publisher was last heard from.
    clock: u64,
}

/// What one publisher's messages this node delivered: the highest sequence number, and which of
/// the `window` numbers up to it (a ring of bits indexed by `seq % window`).
struct Seen {
    max: u64,
    bits: Vec<u64>,
    heard: u64,
}

impl Seen {
    fn bit(&self, window: u64, seq: u64) -> (usize, u64) {
        let i = seq % window;
        // `i / 64` < `bits.len()`, which fits a usize.
        (usize::try_from(i / 64).unwrap_or(0), 1u64 << (i % 64))
    }

    fn get(&self, window: u64, seq: u64) -> bool {
        let (word, mask) = self.bit(window, seq);
        self.bits.get(word).is_some_and(|w| w & mask != 0)
    }

    fn set(&mut self, window: u64, seq: u64, on: bool) {
        let (word, mask) = self.bit(window, seq);
        if let Some(w) = self.bits.get_mut(word) {
            if on {
                *w |= mask;
            } else {
                *w &= !mask;
            }
        }
    }
}

impl Dedup {
    /// Remembers the last `window` sequence numbers of each publisher (at least 4 096). It must
    /// exceed how many messages the broker may redeliver (the prefetch) plus how far apart
    /// concurrent publishes of one publisher may arrive.
    pub(crate) fn new(window: u64) -> Dedup {
        Dedup {
            window: window.max(4096).div_ceil(64) * 64,
            publishers: HashMap::new(),
            clock: 0,
        }
    }

    /// Whether `(publisher, seq)` is delivered for the first time (and remembers it). A number
    /// older than the window is taken for one delivered already.
    pub(crate) fn first_time(&mut self, publisher: u64, seq: u64) -> bool {
        self.clock += 1;
        let window = self.window;
        if !self.publishers.contains_key(&publisher) && self.publishers.len() >= MAX_PUBLISHERS {
            self.forget_oldest();
        }
        let words = usize::try_from(window / 64).unwrap_or(64);
        let seen = self.publishers.entry(publisher).or_insert_with(|| Seen {
            max: seq,
            bits: vec![0; words],
            heard: 0,
        });
        seen.heard = self.clock;
        if seq > seen.max {
            if seq - seen.max >= window {
                seen.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                for stale in seen.max + 1..seq {
                    seen.set(window, stale, false);
                }
            }
            seen.max = seq;
            seen.set(window, seq, true);
            return true;
        }
        if seen.max - seq >= window || seen.get(window, seq) {
            return false;
        }
        seen.set(window, seq, true);
        true
    }

    fn forget_oldest(&mut self) {
        if let Some(oldest) = self
            .publishers
            .iter()
            .min_by_key(|(_, seen)| seen.heard)
            .map(|(id, _)| *id)
        {
            self.publishers.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_what_it_saw_and_keeps_the_rest() {
        let mut d = Dedup::new(100);
        assert_eq!(d.window, 4096);
        for seq in 0..10 {
            assert!(d.first_time(1, seq));
        }
        // a redelivery of the whole lot
        for seq in 0..10 {
            assert!(!d.first_time(1, seq));
        }
        // another publisher is independent
        assert!(d.first_time(2, 3));
        // out of order within the window
        assert!(d.first_time(1, 20));
        assert!(d.first_time(1, 15));
        assert!(!d.first_time(1, 15));
        assert!(d.first_time(1, 11));
        // a jump larger than the window forgets everything below it
        assert!(d.first_time(1, 20 + 10_000));
        assert!(!d.first_time(1, 20));
        assert!(d.first_time(1, 20 + 9_999));
        // the ring's reused bits were cleared: a number that maps to the bit of an old one
        assert!(d.first_time(1, 20 + 10_000 + 4096 - 1));
        assert!(d.first_time(1, 20 + 10_000 + 4096 + 1));
    }

    #[test]
    fn the_number_of_publishers_is_bounded() {
        let mut d = Dedup::new(0);
        for p in 0..(MAX_PUBLISHERS as u64 + 10) {
            assert!(d.first_time(p, 0));
        }
        assert_eq!(d.publishers.len(), MAX_PUBLISHERS);
        // the latest ones are remembered, the first forgotten
        assert!(!d.first_time(MAX_PUBLISHERS as u64 + 9, 0));
        assert!(d.first_time(0, 0));
    }
}
