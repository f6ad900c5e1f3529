//! Random pointer, length and argument values into every host function, from a guest whose
//! memory size is also random (1-byte custom pages, so every size is reachable). Two halves,
//! chosen by the first byte:
//!
//! - ABI v1 (`palisade.*`): a call ends with a memory-bounds trap only for a region that really
//!   lies outside the guest's memory, naming that region; a call whose every region lies inside
//!   memory never ends with a memory-bounds trap.
//! - WASI: all 46 preview1 functions, the file ones on a writable in-memory directory
//!   (`palisade_fuzz::wasi`); the guest snapshots its memory before the first call and after
//!   each: no call changes a byte outside what that function may write (`may_write`), a
//!   memory-bounds trap names a region outside memory, and the files service is never handed
//!   a path with `..`.
//!
//! Both: the host never panics, and serves a good guest afterwards.
#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade::{ErrorKind, Limits};
use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection, ImportSection,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};

/// One host call with its arguments.
#[derive(Debug, Arbitrary)]
enum HostCall {
    Output(i32, i32),
    Fail(i32, i32, i32),
    Log(i32, i32, i32),
    ClockNow,
    RandomFill(i32, i32),
    KvGet(i32, i32, i32, i32),
    KvSet(i32, i32, i32, i32),
    KvDelete(i32, i32),
}

impl HostCall {
    /// The guest-memory regions (ptr, len) the call names.
    fn regions(&self) -> Vec<(i32, i32)> {
        match *self {
            Self::Output(p, l) | Self::RandomFill(p, l) | Self::KvDelete(p, l) => vec![(p, l)],
            Self::Fail(_, p, l) | Self::Log(_, p, l) => vec![(p, l)],
            Self::ClockNow => vec![],
            Self::KvGet(kp, kl, vp, vl) | Self::KvSet(kp, kl, vp, vl) => vec![(kp, kl), (vp, vl)],
        }
    }

    /// Appends the call to `f`, dropping a result; the imports are numbered as in [`IMPORTS`].
    fn emit(&self, f: &mut Function) {
        let mut sink = f.instructions();
        let (index, args, drop): (u32, &[i32], bool) = match self {
            Self::Output(p, l) => (0, &[*p, *l], false),
            Self::Fail(code, p, l) => (1, &[*code, *p, *l], false),
            Self::Log(level, p, l) => (2, &[*level, *p, *l], true),
            Self::ClockNow => (3, &[], true),
            Self::RandomFill(p, l) => (4, &[*p, *l], true),
            Self::KvGet(a, b, d, e) => (5, &[*a, *b, *d, *e], true),
            Self::KvSet(a, b, d, e) => (6, &[*a, *b, *d, *e], true),
            Self::KvDelete(a, b) => (7, &[*a, *b], true),
        };
        for a in args {
            sink.i32_const(*a);
        }
        sink.call(index);
        if drop {
            sink.drop();
        }
    }
}

/// Small values, values at the memory's edge and wild ones, so that edges are hit often.
fn arg(u: &mut Unstructured<'_>, memory: i32) -> arbitrary::Result<i32> {
    Ok(match u.int_in_range(0..=4)? {
        0 => u.int_in_range(0..=64)?,
        1 => memory - u.int_in_range(0..=64)?,
        2 => memory + u.int_in_range(0..=64)?,
        _ => u.arbitrary()?,
    })
}

fn call(u: &mut Unstructured<'_>, memory: i32) -> arbitrary::Result<HostCall> {
    let mut a = || arg(u, memory);
    let args = [a()?, a()?, a()?, a()?];
    let which: u8 = u.arbitrary()?;
    Ok(match which % 8 {
        0 => HostCall::Output(args[0], args[1]),
        1 => HostCall::Fail(args[2], args[0], args[1]),
        2 => HostCall::Log(args[2] % 6, args[0], args[1]),
        3 => HostCall::ClockNow,
        4 => HostCall::RandomFill(args[0], args[1]),
        5 => HostCall::KvGet(args[0], args[1], args[2], args[3]),
        6 => HostCall::KvSet(args[0], args[1], args[2], args[3]),
        _ => HostCall::KvDelete(args[0], args[1]),
    })
}

/// The host functions the guest imports, in index order, with their type indices in
/// [`guest`]'s type section.
const IMPORTS: [(&str, u32); 8] = [
    ("output", 0),
    ("fail", 1),
    ("log", 2),
    ("clock_now", 3),
    ("random_fill", 4),
    ("kv_get", 5),
    ("kv_set", 5),
    ("kv_delete", 4),
];

/// The guest: every host function imported, `memory` bytes of memory in 1-byte pages
/// (exported), `palisade_alloc` returning 0, and `run` making `calls` in order, then returning 0.
/// Built with `wasm-encoder` rather than from WAT text: parsing WAT cost more than the call.
fn guest(memory: i32, calls: &[HostCall]) -> Vec<u8> {
    use ValType::{I32, I64};
    let mut types = TypeSection::new();
    types.ty().function([I32, I32], []);
    types.ty().function([I32, I32, I32], []);
    types.ty().function([I32, I32, I32], [I32]);
    types.ty().function([], [I64]);
    types.ty().function([I32, I32], [I32]);
    types.ty().function([I32, I32, I32, I32], [I32]);
    types.ty().function([I32], [I32]);
    let mut imports = ImportSection::new();
    for (name, ty) in IMPORTS {
        imports.import("palisade", name, EntityType::Function(ty));
    }
    let mut functions = FunctionSection::new();
    functions.function(6).function(4);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(memory as u32),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: Some(0),
    });
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export("palisade_alloc", ExportKind::Func, 8)
        .export("run", ExportKind::Func, 9);
    let mut code = CodeSection::new();
    let mut alloc = Function::new([]);
    alloc.instructions().i32_const(0).end();
    code.function(&alloc);
    let mut run = Function::new([]);
    for c in calls {
        c.emit(&mut run);
    }
    run.instructions().i32_const(0).end();
    code.function(&run);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code);
    palisade_fuzz::with_abi_section(module.finish())
}

fn inside(memory: u64, (ptr, len): (i32, i32)) -> bool {
    u64::from(ptr as u32) + u64::from(len as u32) <= memory
}

/// An i64 argument: small, near the memory's end, or wild.
fn arg64(u: &mut Unstructured<'_>, memory: i32) -> arbitrary::Result<i64> {
    Ok(match u.int_in_range(0..=5)? {
        5 => u.arbitrary()?,
        _ => i64::from(arg(u, memory)?),
    })
}

/// The WASI half: up to 16 calls of any preview1 function, then the snapshot oracle.
fn wasi_case(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    use palisade_fuzz::wasi;
    let memory = u.int_in_range(0i32..=70_000)?;
    let names = wasi::names();
    let data_len = u.int_in_range(0..=256)?;
    let data = u.bytes(data_len.min(u.len()))?.to_vec();
    let input_len = u.int_in_range(0..=64)?;
    let input = u.bytes(input_len.min(u.len()))?.to_vec();
    let mut calls = Vec::new();
    while calls.len() < 16 {
        let Ok(which) = u.arbitrary::<u8>() else {
            break;
        };
        let func = usize::from(which) % names.len();
        let n = palisade::wasi::func_type(names[func]).map_or(0, |t| t.params().len());
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            args.push(arg64(u, memory).unwrap_or(0));
        }
        calls.push(wasi::WasiCall { func, args });
    }
    let bytes = wasi::guest(memory as u32, &data, &calls);
    let host = wasi::WasiHost::new();
    let module = host
        .runtime
        .compile(&bytes)
        .expect("the generated WASI guest compiles");
    let tenant = host.tenant();
    let result = host
        .runtime
        .call(&module, &tenant, palisade::wasi::START, &input)
        .result;
    let size = memory as u64;
    if let Err(e) = &result
        && let ErrorKind::GuestMemoryOutOfBounds { ptr, len } = e.kind()
    {
        assert!(
            u64::from(*ptr) + u64::from(*len) > size,
            "a region inside memory ({ptr}+{len} of {size} bytes) was refused as out of bounds"
        );
    }
    let snaps = host.snapshots.lock().expect("lock").clone();
    assert!(
        !snaps.is_empty(),
        "the guest's first snapshot was not taken: {result:?}"
    );
    for (i, pair) in snaps.windows(2).enumerate() {
        let (before, after) = (&pair[0], &pair[1]);
        assert_eq!(after.len(), before.len(), "memory size changed");
        let call = &calls[i];
        let name = names[call.func];
        let allowed = wasi::may_write(name, &call.args, before);
        if let Some(at) = wasi::changed_outside(before, after, &allowed) {
            panic!(
                "{name}{:?} changed guest memory at {at}, outside what it may write {allowed:?}",
                call.args
            );
        }
    }
    host.assert_serves_good_guest();
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if data.first().is_some_and(|b| b & 0x80 != 0) {
        let _ = u.arbitrary::<u8>();
        let _ = wasi_case(&mut u);
        return;
    }
    let Ok(memory) = u.int_in_range(0i32..=70_000) else {
        return;
    };
    let mut calls = Vec::new();
    while calls.len() < 16 {
        match call(&mut u, memory) {
            Ok(c) => calls.push(c),
            Err(_) => break,
        }
    }
    let bytes = guest(memory, &calls);
    let host = palisade_fuzz::Host::new(1);
    let module = host
        .runtime
        .compile(&bytes)
        .expect("the generated guest compiles");
    let limits = Limits::builder()
        .fuel(10_000_000)
        .memory_bytes(1 << 20)
        .deadline(Duration::from_secs(3600))
        .build();
    let tenant = host.tenant(limits);
    let result = host.runtime.call(&module, &tenant, "run", b"").result;
    let size = memory as u64;
    if let Err(e) = &result
        && let ErrorKind::GuestMemoryOutOfBounds { ptr, len } = e.kind()
    {
        assert!(
            !inside(size, (*ptr as i32, *len as i32)),
            "a region inside memory ({ptr}+{len} of {size} bytes) was refused as out of bounds"
        );
        let named = calls
            .iter()
            .flat_map(HostCall::regions)
            .any(|(p, _)| p == *ptr as i32);
        assert!(
            named,
            "the bounds trap names a region no call passed: {ptr}+{len}"
        );
    }
    let all_inside = calls
        .iter()
        .flat_map(HostCall::regions)
        .all(|r| inside(size, r));
    if all_inside {
        assert!(
            !matches!(
                result.as_ref().map_err(palisade::Error::kind),
                Err(ErrorKind::GuestMemoryOutOfBounds { .. })
            ),
            "every region was inside memory but the call ended out of bounds: {result:?}"
        );
    }
    host.assert_serves_good_guest();
});
