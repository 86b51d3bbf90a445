//! Test harnesses for deckhand: the console `Tester` that drives the real engine, fake
//! Slack and Discord servers on 127.0.0.1 that speak their documented wire formats, and a
//! `Tester` for each platform built on one team config.

pub mod console;
pub mod discord;
pub mod github;
pub mod recorder;
pub mod slack;
pub mod team;

pub use console::Tester;
