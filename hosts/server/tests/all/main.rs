//! Integration tests: each starts the real `palisade-server` binary on 127.0.0.1 port 0.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on the first unexpected value"
)]

mod client;
mod common;

mod auth;
mod connections;
mod crash;
mod download;
mod execution;
mod fairness;
mod files;
mod interrupt;
mod kv_routes;
mod kv_store;
mod logs;
mod openapi;
mod operator;
mod replica;
mod retention;
mod rollout;
mod state;
mod store;
mod upload;
mod wasi;
mod web;
