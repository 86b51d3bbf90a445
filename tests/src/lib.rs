//! Test harnesses for deckhand: the console `Tester` that drives the real engine, and
//! (as platforms arrive) fake Slack, Discord and GitHub servers on 127.0.0.1.

pub mod console;

pub use console::Tester;
pub mod discord;
pub mod slack;
