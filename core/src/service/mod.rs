//! HTTP integration: the tower `Layer`/`Service` that routes the Socket.IO path to the server,
//! mapped static files to the disk, and everything else to a wrapped app, and the CORS check in
//! front of it.

mod cors;
mod layer;
mod not_found;
mod static_files;

pub(crate) use cors::Cors;
pub use cors::CorsOrigins;
pub use layer::{VolleyLayer, VolleyService};
pub use not_found::NotFound;
pub use static_files::StaticFiles;
