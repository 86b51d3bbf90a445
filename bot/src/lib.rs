//! deckhand: the chat-ops bot. Config, store, job engine, steps, chat platforms, CLI.

pub mod config;
pub mod store;
pub mod testing;
pub mod chat;
pub mod render;
pub mod steps;
