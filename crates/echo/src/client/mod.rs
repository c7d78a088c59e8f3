//! The echo client: one-shot, interactive, and the [`bench`] load generator.

pub mod bench;
mod error;
mod interactive;
mod oneshot;

pub use error::ClientError;
pub use interactive::interactive;
pub use oneshot::{one_shot, one_shot_udp};
