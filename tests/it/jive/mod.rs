//! The Jive provider against the Jive simulator over HTTP.

mod crash;
mod harness;
mod stream;
mod windows;
mod wire;
