//! Test helpers shared by Palisade's crates (a dev-dependency only).
//!
//! [`kv::conformance`] is the contract every [`palisade::KvStore`] backend keeps: the core's
//! `MemoryKv`, the desktop's `FileKv` and the server's SQLite store each run it in their tests,
//! and a new backend runs it before anything else.

pub mod kv;
