//! deckhand: the chat-ops bot. Config, store, job engine, steps, chat platforms, CLI.

pub mod announce;
pub mod api;
pub mod audit;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod ctx;
pub mod damper;
pub mod discord;
pub mod dispatch;
pub mod doctor;
pub mod edge;
pub mod freezes;
pub mod github;
pub mod http;
pub mod incidents;
pub mod intake;
pub mod jobs;
pub mod leader;
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
pub mod web;

/// The most recent jobs a page looks through when it filters them.
pub const MAX_JOBS_SCANNED: i64 = 2000;
