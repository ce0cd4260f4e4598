//! The hostile-client suite: what a stranger on the internet can send a Volley node, over real
//! sockets, and the bound or refusal each attempt must meet. One module per kind of abuse; the
//! limits they check are listed with their defaults in the README's "Limits" section.

mod admin_login;
mod args_mismatch;
mod backpressure;
mod binary_attachments;
mod connect_gate;
mod official_cases;
mod outgoing_bytes;
mod slow_http;
mod support;
