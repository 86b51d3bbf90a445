//! deckhand: the chat-ops bot. Config, store, job engine, steps, chat platforms, CLI.

pub mod announce;
pub mod api;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod ctx;
pub mod discord;
pub mod dispatch;
pub mod http;
pub mod incidents;
pub mod jobs;
pub mod manifest;
pub mod metrics;
pub mod policy;
pub mod reactions;
pub mod refusal;
pub mod render;
pub mod retry;
pub mod secrets;
pub mod sender;
pub mod server;
pub mod slack;
pub mod steps;
pub mod store;
pub mod testing;
