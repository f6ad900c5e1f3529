//! The WASI half of `host_calls`: a guest that calls any of the 46 preview1 functions with
//! random arguments, on a runtime with a small in-memory, writable [`MemFiles`] directory, and
//! takes a snapshot of its whole memory before the first call and after every call (through a
//! `palisade.snapshot` host function). The oracle [`changed_outside`] compares consecutive
//! snapshots with what each function may write ([`may_write`]): a host function that writes
//! anywhere else in guest memory — a wrapped pointer, a miscounted length — is caught, not only
//! one that writes outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::wasi::{self, FileError, WasiFiles};
use palisade::wasmi::Caller;
use palisade::{CallState, DiscardLog, Limits, MemoryKv, Runtime, SeededRandom, Tenant};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, MemorySection, MemoryType, Module, TypeSection, ValType,
};

use crate::{StepClock, TENANT};

/// Files in memory, writable, with the limits a real service has: what the file functions of
/// the fuzzed guest reach. Starts with `a.txt`, directory `d` and `d/b.txt`.
#[derive(Debug)]
pub struct MemFiles {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    dirs: Mutex<BTreeSet<String>>,
}

impl Default for MemFiles {
    fn default() -> Self {
        Self {
            files: Mutex::new(BTreeMap::from([
                ("a.txt".to_owned(), b"alpha".to_vec()),
                ("d/b.txt".to_owned(), b"beta\n".to_vec()),
            ])),
            dirs: Mutex::new(BTreeSet::from(["d".to_owned()])),
        }
    }
}

impl MemFiles {
    fn parent_ok(&self, path: &str) -> Result<(), FileError> {
        match path.rsplit_once('/') {
            Some((dir, _)) if !self.dirs.lock().expect("lock").contains(dir) => {
                Err(FileError::NotFound)
            }
            _ => Ok(()),
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        self.dirs.lock().expect("lock").contains(path)
    }
}

/// Oracle: the core hands a service only plain relative paths.
fn checked(path: &str) {
    assert!(
        !path.is_empty()
            && !path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty()),
        "the service was handed an unchecked path {path:?}"
    );
}

impl WasiFiles for MemFiles {
    fn read(&self, _tenant: &str, path: &str, max: usize) -> Result<Vec<u8>, FileError> {
        checked(path);
        match self.files.lock().expect("lock").get(path) {
            Some(b) if b.len() > max => Err(FileError::TooLarge),
            Some(b) => Ok(b.clone()),
            None if self.is_dir(path) => Err(FileError::IsDirectory),
            None => Err(FileError::NotFound),
        }
    }

    fn write(&self, _tenant: &str, path: &str, contents: &[u8]) -> Result<(), FileError> {
        checked(path);
        assert!(
            contents.len() <= wasi::MAX_FILE_BYTES,
            "a file past MAX_FILE_BYTES was written"
        );
        self.parent_ok(path)?;
        if self.is_dir(path) {
            return Err(FileError::IsDirectory);
        }
        self.files
            .lock()
            .expect("lock")
            .insert(path.to_owned(), contents.to_vec());
        Ok(())
    }

    fn create_dir(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        checked(path);
        self.parent_ok(path)?;
        if self.files.lock().expect("lock").contains_key(path)
            || !self.dirs.lock().expect("lock").insert(path.to_owned())
        {
            return Err(FileError::Exists);
        }
        Ok(())
    }

    fn remove_file(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        checked(path);
        if self.is_dir(path) {
            return Err(FileError::IsDirectory);
        }
        self.files
            .lock()
            .expect("lock")
            .remove(path)
            .map(drop)
            .ok_or(FileError::NotFound)
    }

    fn remove_dir(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        checked(path);
        let prefix = format!("{path}/");
        let files = self.files.lock().expect("lock");
        let mut dirs = self.dirs.lock().expect("lock");
        if files
            .keys()
            .chain(dirs.iter())
            .any(|k| k.starts_with(&prefix))
        {
            return Err(FileError::NotEmpty);
        }
        if dirs.remove(path) {
            Ok(())
        } else {
            Err(FileError::NotFound)
        }
    }

    fn rename(&self, _tenant: &str, from: &str, to: &str) -> Result<(), FileError> {
        checked(from);
        checked(to);
        self.parent_ok(to)?;
        let mut files = self.files.lock().expect("lock");
        let data = files.remove(from).ok_or(FileError::NotFound)?;
        files.insert(to.to_owned(), data);
        Ok(())
    }
}

/// The guest memory snapshots one call took, in order.
pub type Snapshots = Arc<Mutex<Vec<Vec<u8>>>>;

/// A runtime with every built-in capability, WASI files (writable, in memory) and
/// `palisade.snapshot(ptr, len)` (capability `fuzz`), which records the guest memory region.
pub struct WasiHost {
    /// The sandbox.
    pub runtime: Runtime,
    /// What the guest's `snapshot` calls recorded.
    pub snapshots: Snapshots,
}

impl WasiHost {
    /// A fresh host: fresh files, no snapshots.
    pub fn new() -> Self {
        let snapshots: Snapshots = Arc::default();
        let record = snapshots.clone();
        // A millisecond per clock read: a sleep of the whole deadline is a few thousand reads.
        let runtime = Runtime::builder(Arc::new(StepClock::new(1_000_000)))
            .log_sink(Arc::new(DiscardLog))
            .kv_store(Arc::new(MemoryKv::new()))
            .random(Arc::new(SeededRandom::new(7)))
            .wasi_files_writable(Arc::new(MemFiles::default()))
            .host_func(
                "fuzz",
                "snapshot",
                move |caller: Caller<'_, CallState>,
                      ptr: i32,
                      len: i32|
                      -> Result<(), palisade::wasmi::Error> {
                    let bytes = palisade::guest_bytes(&caller, ptr, len)?.to_vec();
                    record.lock().expect("lock").push(bytes);
                    Ok(())
                },
            )
            .build()
            .expect("the WASI fuzz runtime builds");
        Self { runtime, snapshots }
    }

    /// A tenant with every capability (files too), two arguments and one variable.
    pub fn tenant(&self) -> Tenant {
        let names: Vec<String> = self.runtime.capabilities().map(str::to_owned).collect();
        self.runtime
            .tenant(TENANT)
            .grant_all(names.iter().map(String::as_str))
            .limits(
                Limits::builder()
                    .fuel(5_000_000)
                    .memory_bytes(1 << 20)
                    .deadline(Duration::from_secs(2))
                    .build(),
            )
            .wasi_args(ARGS)
            .wasi_env(ENV)
            .build()
            .expect("the WASI fuzz tenant builds")
    }
}

impl WasiHost {
    /// Oracle: the host still serves a good guest (the echo guest returns its input).
    pub fn assert_serves_good_guest(&self) {
        let module = self
            .runtime
            .compile(&crate::ECHO_WASM)
            .expect("ECHO compiles");
        let tenant = self.tenant();
        match self
            .runtime
            .call(&module, &tenant, "echo", b"still serving")
            .result
        {
            Ok(out) => assert_eq!(out, b"still serving", "the host no longer echoes"),
            Err(e) => panic!("the host no longer serves a good guest: {e}"),
        }
    }
}

impl Default for WasiHost {
    fn default() -> Self {
        Self::new()
    }
}

/// The tenant's WASI arguments and environment: what `args_get`/`environ_get` write.
const ARGS: [&str; 2] = ["prog", "-x"];
const ENV: [(&str, &str); 1] = [("K", "value")];

/// Paths at the start of guest memory (when it is large enough), so that small pointer and
/// length values name real files: `a.txt` at 0, `d/b.txt` at 5, `d` at 5, `../x` at 12, `new` at 16.
pub const PATHS: &[u8] = b"a.txtd/b.txt../xnew";

/// One WASI call: the function's index in [`wasi::functions`] and its arguments (i64 for
/// either type; an i32 parameter gets the low 32 bits).
#[derive(Debug, Clone)]
pub struct WasiCall {
    /// Index into [`names`].
    pub func: usize,
    /// One per parameter.
    pub args: Vec<i64>,
}

/// The 46 function names, in specification order.
pub fn names() -> Vec<&'static str> {
    wasi::functions().map(|(n, _)| n).collect()
}

/// The guest: every preview1 function and `palisade.snapshot` imported, `memory` bytes of memory
/// (1-byte pages) starting with [`PATHS`] and then `data`, and `_start` that takes a snapshot,
/// then makes each call (dropping its errno) followed by another snapshot.
pub fn guest(memory: u32, data: &[u8], calls: &[WasiCall]) -> Vec<u8> {
    let names = names();
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    for (i, name) in names.iter().enumerate() {
        let ty = wasi::func_type(name).expect("a preview1 function");
        types.ty().function(
            ty.params().iter().map(|t| val(*t)),
            ty.results().iter().map(|t| val(*t)),
        );
        imports.import(wasi::NAMESPACE, name, EntityType::Function(i as u32));
    }
    let snapshot_ty = names.len() as u32;
    types.ty().function([ValType::I32, ValType::I32], []);
    types.ty().function([], []);
    imports.import("palisade", "snapshot", EntityType::Function(snapshot_ty));
    let snapshot_fn = names.len() as u32;
    let mut functions = FunctionSection::new();
    functions.function(snapshot_ty + 1);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(memory),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: Some(0),
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0).export(
        wasi::START,
        ExportKind::Func,
        snapshot_fn + 1,
    );
    let mut body = Function::new([]);
    let snap = |f: &mut Function| {
        f.instructions()
            .i32_const(0)
            .i32_const(memory as i32)
            .call(snapshot_fn);
    };
    snap(&mut body);
    for c in calls {
        let name = names[c.func];
        let ty = wasi::func_type(name).expect("a preview1 function");
        let mut sink = body.instructions();
        for (p, a) in ty.params().iter().zip(&c.args) {
            if *p == palisade::wasmi::ValType::I64 {
                sink.i64_const(*a);
            } else {
                sink.i32_const(*a as i32);
            }
        }
        sink.call(c.func as u32);
        if !ty.results().is_empty() {
            sink.drop();
        }
        snap(&mut body);
    }
    body.instructions().end();
    let mut code = CodeSection::new();
    code.function(&body);
    let mut init: Vec<u8> = PATHS.to_vec();
    init.extend_from_slice(data);
    init.truncate(memory as usize);
    let mut datas = DataSection::new();
    datas.active(0, &ConstExpr::i32_const(0), init);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code)
        .section(&datas);
    module.finish()
}

fn val(t: palisade::wasmi::ValType) -> ValType {
    if t == palisade::wasmi::ValType::I64 {
        ValType::I64
    } else {
        ValType::I32
    }
}

/// An argument as the u32 the host sees.
fn p(args: &[i64], i: usize) -> u64 {
    u64::from(args.get(i).copied().unwrap_or(0) as u32)
}

fn le32(m: &[u8], at: u64) -> Option<u64> {
    let at = usize::try_from(at).ok()?;
    let b = m.get(at..at.checked_add(4)?)?;
    Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

/// The regions (start, length) of guest memory function `name` with `args` may write, given
/// the memory `m` before the call (from which `fd_read` takes its iovecs).
pub fn may_write(name: &str, args: &[i64], m: &[u8]) -> Vec<(u64, u64)> {
    let list_bytes =
        |items: &mut dyn Iterator<Item = usize>| items.map(|l| l as u64 + 1).sum::<u64>();
    match name {
        "args_get" => vec![
            (p(args, 0), 4 * ARGS.len() as u64),
            (p(args, 1), list_bytes(&mut ARGS.iter().map(|a| a.len()))),
        ],
        "environ_get" => vec![
            (p(args, 0), 4 * ENV.len() as u64),
            (
                p(args, 1),
                list_bytes(&mut ENV.iter().map(|(k, v)| k.len() + 1 + v.len())),
            ),
        ],
        "args_sizes_get" | "environ_sizes_get" => vec![(p(args, 0), 4), (p(args, 1), 4)],
        "clock_res_get" | "fd_prestat_get" => vec![(p(args, 1), 8)],
        "clock_time_get" => vec![(p(args, 2), 8)],
        "fd_fdstat_get" => vec![(p(args, 1), 24)],
        "fd_filestat_get" => vec![(p(args, 1), 64)],
        "fd_prestat_dir_name" => {
            vec![(p(args, 1), p(args, 2).min(wasi::PREOPEN_NAME.len() as u64))]
        }
        "fd_seek" => vec![(p(args, 3), 8)],
        "fd_tell" => vec![(p(args, 1), 8)],
        "fd_write" => vec![(p(args, 3), 4)],
        "fd_read" => {
            let mut out = vec![(p(args, 3), 4)];
            let (iovs, n) = (p(args, 1), p(args, 2));
            if n <= u64::from(wasi::MAX_IOVS) {
                for i in 0..n {
                    let at = iovs + 8 * i;
                    if let (Some(ptr), Some(len)) = (le32(m, at), le32(m, at + 4)) {
                        out.push((ptr, len));
                    }
                }
            }
            out
        }
        "path_open" => vec![(p(args, 8), 4)],
        "poll_oneoff" => vec![
            (
                p(args, 1),
                32 * p(args, 2).min(u64::from(wasi::MAX_SUBSCRIPTIONS)),
            ),
            (p(args, 3), 4),
        ],
        "random_get" => vec![(p(args, 0), p(args, 1))],
        _ => Vec::new(),
    }
}

/// Oracle: the first byte that changed from `before` to `after` outside every region in
/// `allowed`, if any.
pub fn changed_outside(before: &[u8], after: &[u8], allowed: &[(u64, u64)]) -> Option<usize> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .map(|(i, _)| i)
        .find(|&i| {
            let i = i as u64;
            !allowed
                .iter()
                .any(|&(s, l)| s <= i && i < s.saturating_add(l))
        })
}
