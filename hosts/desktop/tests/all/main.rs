//! Integration tests of `palisade-desktop`: the `ScriptHost`, one file per concern.
#![expect(
    clippy::expect_used,
    reason = "tests fail loudly on a broken fixture; the behaviour under test is asserted separately"
)]

mod fixtures;
mod script_host;
