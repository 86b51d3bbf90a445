//! Test harnesses for deckhand: the console `Tester` that drives the real engine, and
//! fake Slack and Discord servers on 127.0.0.1 that speak their documented wire formats.

pub mod console;

pub use console::Tester;
pub mod discord;
pub mod slack;
