//! The per-call extension slot: embedder state seeded before a call, seen and changed by host
//! functions, handed back after it, and never carried into the next call.

use std::sync::Arc;

use palisade::wasmi::Caller;
use palisade::{CallState, Extensions, Limits, ManualClock, Runtime, charge};

use crate::{compile, guest_with, tenant};

/// Which plugin a call runs (what the server kept in a thread-local).
struct Plugin(&'static str);
/// How often the guest called `palisade.tick` in this call.
#[derive(Debug, PartialEq)]
struct Ticks(u32);

fn tick(mut caller: Caller<'_, CallState>) -> Result<i32, palisade::wasmi::Error> {
    charge(&mut caller, 1)?;
    let ext = caller.data_mut().extensions_mut();
    let len = ext.get::<Plugin>().map_or(0, |p| p.0.len());
    match ext.get_mut::<Ticks>() {
        Some(t) => t.0 += 1,
        None => {
            ext.insert(Ticks(1));
        }
    }
    Ok(i32::try_from(len).unwrap_or(-1))
}

const TICKER: &str = r#"
  (func (export "run") (param i32 i32) (result i32)
    (drop (call $tick))
    (drop (call $tick))
    (call $tick))"#;

fn runtime() -> Runtime {
    Runtime::builder(Arc::new(ManualClock::new()))
        .host_func("app.tick", "tick", tick)
        .build()
        .unwrap()
}

#[test]
fn host_functions_see_and_change_the_slot_and_the_embedder_gets_it_back() {
    let runtime = runtime();
    let module = compile(
        &runtime,
        &guest_with(
            r#"(import "palisade" "tick" (func $tick (result i32)))"#,
            "1",
            TICKER,
        ),
    );
    let tenant = tenant(&runtime, "t", &["app.tick"], Limits::default());
    let mut ext = Extensions::new();
    ext.insert(Plugin("thermostat"));
    let call = runtime.call_with_extensions(&module, &tenant, "run", b"", &mut ext);
    // The guest returns what the third tick returned: the plugin name's length.
    let err = call.result.unwrap_err();
    assert_eq!(
        *err.kind(),
        palisade::ErrorKind::GuestError {
            code: 10,
            message: String::new()
        }
    );
    assert_eq!(ext.get::<Ticks>(), Some(&Ticks(3)));
    assert_eq!(ext.get::<Plugin>().map(|p| p.0), Some("thermostat"));
}

#[test]
fn every_call_starts_with_an_empty_slot() {
    let runtime = runtime();
    let module = compile(
        &runtime,
        &guest_with(
            r#"(import "palisade" "tick" (func $tick (result i32)))"#,
            "1",
            TICKER,
        ),
    );
    let tenant = tenant(&runtime, "t", &["app.tick"], Limits::default());
    let mut first = Extensions::new();
    let _ = runtime.call_with_extensions(&module, &tenant, "run", b"", &mut first);
    assert_eq!(first.get::<Ticks>(), Some(&Ticks(3)));
    // A plain call does not see the previous call's values: ticks start from 1 again.
    let mut second = Extensions::new();
    let _ = runtime.call_with_extensions(&module, &tenant, "run", b"", &mut second);
    assert_eq!(second.get::<Ticks>(), Some(&Ticks(3)));
    assert_eq!(second.get::<Plugin>().map(|p| p.0), None);
}

#[test]
fn insert_replaces_and_remove_takes_out() {
    let mut ext = Extensions::new();
    assert!(ext.is_empty());
    assert!(ext.insert(Ticks(1)).is_none());
    assert_eq!(ext.insert(Ticks(2)), Some(Ticks(1)));
    assert_eq!(ext.len(), 1);
    assert_eq!(ext.remove::<Ticks>(), Some(Ticks(2)));
    assert!(ext.get::<Ticks>().is_none());
}

/// A sink that keeps, for every line, the plugin name it found in the line's extension slot.
#[derive(Default)]
struct TaggingSink(std::sync::Mutex<Vec<(String, Vec<u8>)>>);

impl palisade::LogSink for TaggingSink {
    fn log(&self, r: &palisade::LogRecord<'_>) {
        let plugin = r.extensions.get::<Plugin>().map_or("(none)", |p| p.0);
        if let Ok(mut lines) = self.0.lock() {
            lines.push((plugin.to_string(), r.message.to_vec()));
        }
    }
}

#[test]
fn a_stepped_call_seeded_through_its_slot_tags_its_log_lines() {
    let sink = Arc::new(TaggingSink::default());
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .log_sink(sink.clone())
        .build()
        .unwrap();
    let module = compile(
        &runtime,
        &guest_with(
            r#"(import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))"#,
            "1",
            r#"
  (data (i32.const 600) "hello")
  (func (export "run") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 600) (i32.const 5)))
    (i32.const 0))"#,
        ),
    );
    let tenant = tenant(&runtime, "t", &["log"], Limits::default());
    // Seeded between start and the first step: the line carries it.
    let palisade::Step::Pending(mut pending) =
        runtime.start_call(&module, &tenant, "run", Vec::new(), None)
    else {
        panic!("the call was refused at admission");
    };
    pending.extensions_mut().insert(Plugin("thermostat"));
    let mut step = pending.step();
    let call = loop {
        match step {
            palisade::Step::Pending(p) => step = p.step(),
            palisade::Step::Done(call) => break call,
        }
    };
    call.result.unwrap();
    // A plain call with nothing seeded: the sink sees an empty slot.
    runtime.call(&module, &tenant, "run", b"").result.unwrap();
    let lines = sink.0.lock().unwrap().clone();
    assert_eq!(
        lines,
        [
            ("thermostat".to_string(), b"hello".to_vec()),
            ("(none)".to_string(), b"hello".to_vec())
        ]
    );
}
