//! The connect gate: what a socket holds while its namespace's connect handler decides.
//!
//! A socket exists as soon as a client's CONNECT arrives (so that the connect handler can emit to
//! it and put it in rooms), but nothing the client sends may run before the handler accepts it:
//! an event, an ack or a DISCONNECT that arrives meanwhile waits here, in order, and so do the
//! frames the server emits to the socket, so that the client sees the CONNECT acknowledgement
//! first. On acceptance the acknowledgement and the held frames go out, then the held packets are
//! handled as if they had just arrived; on refusal everything held is dropped.
//!
//! Both directions are bounded. Past [`Limits::pending_packets`] packets (or
//! [`Limits::pending_bytes`] bytes) from the client, the client is disconnected with
//! [`Limit::PendingPackets`]; past the outgoing queue's own bounds, the session is closed as a slow
//! client, as a full queue would.

use std::collections::VecDeque;

use volley_protocol::packet::Packet;

use super::limits::Limits;
use crate::engine::{Frame, SendError};
use crate::Limit;

/// What waits for the connect handler's decision.
#[derive(Default)]
pub(crate) struct Gate {
    /// The CONNECT acknowledgement went out: frames are sent directly, and the held packets are
    /// being handled (packets that arrive meanwhile queue behind them).
    confirmed: bool,
    /// Frames emitted to the client before the acknowledgement.
    outgoing: Vec<Frame>,
    outgoing_bytes: usize,
    /// Packets from the client, in arrival order, with their size on the wire.
    incoming: VecDeque<Packet>,
    incoming_bytes: usize,
}

/// The outgoing queue's bounds, which held frames also respect.
pub(crate) struct QueueBounds {
    pub(crate) frames: usize,
    pub(crate) bytes: usize,
}

impl Gate {
    /// Holds a packet from the client; refuses it past the pending bounds.
    pub(crate) fn hold_incoming(
        &mut self,
        packet: Packet,
        len: usize,
        limits: &Limits,
    ) -> Result<(), Limit> {
        if self.incoming.len() >= limits.pending_packets
            || self.incoming_bytes.saturating_add(len) > limits.pending_bytes
        {
            return Err(Limit::PendingPackets);
        }
        self.incoming_bytes += len;
        self.incoming.push_back(packet);
        Ok(())
    }

    /// Holds a frame for the client until the acknowledgement, or says it can go now (`Ok(Some)`).
    pub(crate) fn hold_outgoing(
        &mut self,
        frame: Frame,
        bounds: &QueueBounds,
    ) -> Result<Option<Frame>, SendError> {
        if self.confirmed {
            return Ok(Some(frame));
        }
        let len = frame.wire_len();
        if self.outgoing.len() >= bounds.frames
            || (!self.outgoing.is_empty() && self.outgoing_bytes.saturating_add(len) > bounds.bytes)
        {
            return Err(SendError::QueueFull);
        }
        self.outgoing_bytes += len;
        self.outgoing.push(frame);
        Ok(None)
    }

    /// Marks the acknowledgement sent and gives the frames held for after it.
    pub(crate) fn confirm(&mut self) -> Vec<Frame> {
        self.confirmed = true;
        self.outgoing_bytes = 0;
        std::mem::take(&mut self.outgoing)
    }

    /// The next held packet to handle, oldest first.
    pub(crate) fn next_incoming(&mut self) -> Option<Packet> {
        self.incoming.pop_front()
    }
}
