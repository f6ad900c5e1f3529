//! Integration tests of `palisade-desktop`: the `palisade` CLI and the `ScriptHost`, one file
//! per concern.
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
mod script_host;
