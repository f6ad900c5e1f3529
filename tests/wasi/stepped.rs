//! WASI guests run one fuel slice at a time (`Runtime::start_call`, as the server's fair pool
//! runs every call) end exactly as when run at once: same outcome, output, error and fuel.

use palisade::{Call, Limits, Step};
use palisade_guest_artifacts::by_name;

use crate::host;

fn stepped(mut step: Step) -> (Call, usize) {
    let mut steps = 0;
    loop {
        match step {
            Step::Pending(call) => {
                steps += 1;
                step = call.step();
            }
            Step::Done(call) => return (call, steps),
        }
    }
}

#[test]
fn every_wasi_guest_ends_the_same_stepped_as_at_once() {
    let guests = [
        ("wasi_tour", &b"echo me\n"[..]),
        ("c_wasi_stdio", &b"hello\n"[..]),
        ("wasi_path_open", &b""[..]),
        ("wasi_stdout_flood", &b""[..]),
        ("wasi_stderr_flood", &b""[..]),
        ("wasi_sleep", &b""[..]),
        ("wasi_loop", &b""[..]),
        ("wasi_exit_deep", &b""[..]),
    ];
    for (name, input) in guests {
        let bytes = by_name(name)
            .unwrap_or_else(|| panic!("no guest {name}"))
            .bytes;
        // Separate hosts (same seed): both runs see the same clock and random stream.
        let (a, b) = (host(), host());
        let limits = Limits::builder().fuel(3_000_000).fuel_slice(10_000).build();
        let tenant = |h: &crate::Host| {
            h.runtime
                .tenant("t")
                .grant_all(["clock", "random", "log"])
                .wasi_args(["prog", "echo"])
                .limits(limits)
                .build()
                .unwrap()
        };
        let at_once = a
            .runtime
            .call(&a.compile(bytes), &tenant(&a), "_start", input);
        let (by_step, steps) = stepped(b.runtime.start_call(
            &b.compile(bytes),
            &tenant(&b),
            "_start",
            input.to_vec(),
            None,
        ));
        assert_eq!(by_step.report.outcome, at_once.report.outcome, "{name}");
        assert_eq!(by_step.report.fuel_used, at_once.report.fuel_used, "{name}");
        match (&by_step.result, &at_once.result) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "{name}"),
            (Err(x), Err(y)) => assert_eq!(x.kind(), y.kind(), "{name}"),
            (x, y) => panic!("{name}: stepped {x:?}, at once {y:?}"),
        }
        assert!(steps >= 1, "{name}: a WASI call runs guest code in steps");
    }
}
