//! Integration tests of the `palisade` CLI.
#![expect(
    clippy::expect_used,
    reason = "tests fail loudly on a broken fixture; the behaviour under test is asserted separately"
)]
#![expect(
    clippy::indexing_slicing,
    reason = "indexing a serde_json::Value yields Null for a missing key, which the assert reports"
)]

mod cli;
mod fixtures;
mod remote;
mod wasi;
