//! Builds every guest into `OUT_DIR`, the way wasmtime's `crates/test-programs/artifacts` does:
//!
//! 1. a nested `cargo build --release --target wasm32-unknown-unknown --workspace --locked` on the
//!    guests workspace (`guests/Cargo.toml`), with its own target directory next to the outer
//!    one (`<target>/palisade-guests`), none of the outer build's RUSTFLAGS or wrappers, and the
//!    outer jobserver (so it shares the outer `-j`);
//!    then `cargo build --release --target wasm32-wasip1 -p wasi-tour` for the ordinary Rust
//!    WASI program (`examples/wasi-tour`, which the first build excludes);
//! 2. with the feature `languages`, the C guests in `guests/c/` with clang and lld
//!    (`build_c_guests`): the native-ABI example on the header-only SDK `palisade.h`, and a
//!    plain stdio program against Debian's wasi-libc;
//! 3. with the feature `languages`, the AssemblyScript guests in `guests/assemblyscript/`
//!    (`build_as_guests`): `npm ci` from the committed lockfile into
//!    `<target>/palisade-guests/assemblyscript`, then `asc` with the SDK's transform that adds
//!    the `palisade.abi` section;
//! 4. the hostile WAT modules in `guests/hostile/wat/` assembled with `wat`;
//! 5. two generated modules: `large` (≥ 1 MB of code for compile-cost benches) and
//!    `compile_bomb` (more functions than wasmi's strict limits allow).
//!
//! `rerun-if-changed` lists every guest source, so an edited guest is rebuilt by the next build
//! of this crate and nothing else triggers the nested build.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, ElementSection, Elements, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, ImportSection, Instruction, MemArg, MemorySection,
    MemoryType, Module, RefType, TableSection, TableType, TypeSection, ValType,
};

type Result<T = ()> = std::result::Result<T, String>;

/// Rust guests: (crate's library name = the .wasm file stem, artifact name).
const RUST_GUESTS: &[(&str, &str)] = &[
    ("thermostat", "thermostat"),
    ("text_transform", "text_transform"),
    ("sha256", "sha256"),
    ("coremark_guest", "coremark"),
    ("sdk_tour", "sdk_tour"),
    ("hostile_keep_state", "keep_state"),
    ("hostile_tenant_keys", "tenant_keys"),
    ("hostile_panic", "panic"),
];

/// Functions in the generated `large` module, and body repetitions per function: 2,500 functions
/// of ≈ 450 bytes, ≈ 1.1 MB, under wasmi's strict limits (≤ 10,000 functions, ≥ 40 bytes each).
const LARGE_FUNCS: u32 = 2_500;
const LARGE_REPS: u32 = 25;

/// Functions in `compile_bomb`: over wasmi's strict limit of 10,000.
const BOMB_FUNCS: u32 = 20_000;

fn main() -> Result {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let guests = manifest
        .parent()
        .ok_or("guests/artifacts has no parent directory")?
        .to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);

    println!("cargo:rerun-if-changed=build.rs");
    rerun_for(&guests, &guests.join("artifacts"))?;
    // Outer RUSTFLAGS are deliberately not passed through: the guests are another target.
    println!("cargo:rerun-if-env-changed=PALISADE_GUESTS_TARGET_DIR");

    build_rust_guests(&guests, &out)?;
    // C and AssemblyScript need more than Rust (clang, wasi-libc, Node.js): only with the
    // `languages` feature, so that the default build (and `palisade demo`) needs Rust alone.
    if env::var_os("CARGO_FEATURE_LANGUAGES").is_some() {
        build_c_guests(&guests, &out)?;
        build_as_guests(&guests, &out)?;
    }
    assemble_wat(&guests.join("hostile").join("wat"), &out)?;
    write(&out.join("large.wasm"), &large_module())?;
    write(&out.join("compile_bomb.wasm"), &compile_bomb())?;
    Ok(())
}

/// Emits `rerun-if-changed` for every file under `dir` except target directories and `skip`.
fn rerun_for(dir: &Path, skip: &Path) -> Result {
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path == skip
            || path
                .file_name()
                .is_some_and(|n| n == "target" || n == "node_modules")
        {
            continue;
        }
        if path.is_dir() {
            rerun_for(&path, skip)?;
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Ok(())
}

/// Where the nested build puts its files: `PALISADE_GUESTS_TARGET_DIR`, else
/// `<outer target dir>/palisade-guests` (found from `OUT_DIR = <target>/<profile>/build/<pkg>/out`),
/// so that every outer profile shares one guest build; else `OUT_DIR/guests-target`.
fn nested_target_dir(out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("PALISADE_GUESTS_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    match out.ancestors().nth(4) {
        Some(target) if out.ancestors().nth(2).is_some_and(|b| b.ends_with("build")) => {
            target.join("palisade-guests")
        }
        _ => out.join("guests-target"),
    }
}

/// The target every guest is built for.
const GUEST_TARGET: &str = "wasm32-unknown-unknown";
/// The target of the WASI guests: (package, binary = the .wasm file stem, artifact name).
const WASI_TARGET: &str = "wasm32-wasip1";
const WASI_GUESTS: &[(&str, &str, &str)] = &[("wasi-tour", "wasi_tour", "wasi_tour")];

/// Makes sure the active toolchain has the standard library for `target`.
///
/// `rust-toolchain.toml` lists the target, but rustup adds listed targets only when it installs
/// the toolchain itself: a machine that already had the pinned toolchain lacks them. So the build
/// installs the target through rustup (one line on the terminal), and without rustup says exactly
/// what to install.
fn ensure_guest_target(target: &str) -> Result {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("could not run rustc to find its sysroot: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
    {
        return Ok(());
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut add = Command::new("rustup");
    add.args(["target", "add", target]);
    if let Some(toolchain) = &toolchain {
        add.args(["--toolchain", toolchain]);
    }
    let on = toolchain.as_deref().unwrap_or("the active toolchain");
    let Ok(mut child) = add.spawn() else {
        return Err(format!(
            "the guests are built for {target}, whose standard library is not installed in \
             {}, and rustup is not on PATH to install it. Install Rust with rustup \
             (https://rustup.rs: `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh`) \
             and build again; the pinned toolchain and targets in rust-toolchain.toml are then \
             installed for you. Without rustup, install your distribution's Rust standard library \
             for {target} (Debian: `apt-get install libstd-rust-dev-wasm32`).",
            sysroot.display()
        ));
    };
    println!(
        "cargo:warning=installing the Rust target {target} for {on} (the guests are built \
         for it): rustup target add {target}"
    );
    match child.wait() {
        Ok(status) if status.success() => Ok(()),
        outcome => Err(format!(
            "`rustup target add {target}` failed ({outcome:?}); run it yourself and look at \
             its message (a network or permissions problem?), then build again"
        )),
    }
}

fn build_rust_guests(guests: &Path, out: &Path) -> Result {
    ensure_guest_target(GUEST_TARGET)?;
    let mut args = vec!["--workspace"];
    for (package, _, _) in WASI_GUESTS {
        args.extend(["--exclude", package]);
    }
    cargo_build(guests, out, GUEST_TARGET, &args)?;
    let built = nested_target_dir(out).join(GUEST_TARGET).join("release");
    for (stem, name) in RUST_GUESTS {
        let from = built.join(format!("{stem}.wasm"));
        let bytes =
            fs::read(&from).map_err(|e| format!("reading built guest {}: {e}", from.display()))?;
        write(&out.join(format!("{name}.wasm")), &bytes)?;
    }
    ensure_guest_target(WASI_TARGET)?;
    let mut args = Vec::new();
    for (package, _, _) in WASI_GUESTS {
        args.extend(["-p", package]);
    }
    cargo_build(guests, out, WASI_TARGET, &args)?;
    let built = nested_target_dir(out).join(WASI_TARGET).join("release");
    for (_, stem, name) in WASI_GUESTS {
        let from = built.join(format!("{stem}.wasm"));
        let bytes =
            fs::read(&from).map_err(|e| format!("reading built guest {}: {e}", from.display()))?;
        write(&out.join(format!("{name}.wasm")), &bytes)?;
    }
    Ok(())
}

/// `cargo build --release --target <target> --locked <args>` in the guests workspace.
fn cargo_build(guests: &Path, out: &Path, target: &str, args: &[&str]) -> Result {
    let target_dir = nested_target_dir(out);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guests)
        .args(["build", "--release", "--target", target, "--locked"])
        .args(args)
        .env("CARGO_TARGET_DIR", &target_dir);
    // The outer build's flags and wrappers (clippy-driver, coverage, sanitizers) are for the
    // host target: none of them may leak into the guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_OPT_LEVEL",
        "CARGO_PROFILE_RELEASE_LTO",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PROFILE_RELEASE_PANIC",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo for the guests: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the guests failed ({status}); the compiler's messages are above. To see \
             them alone, run `cargo build --release --target {target} {}` in {}",
            args.join(" "),
            guests.display()
        ));
    }
    Ok(())
}

/// What to install for the C guests (Debian packages; `scripts/setup.sh` installs them).
const C_PACKAGES: &str = "clang lld wasi-libc libclang-rt-14-dev-wasm32";

/// C guests on `palisade.h`: (source in `guests/c/examples`, artifact name, extra clang flags).
const C_NATIVE_GUESTS: &[(&str, &str, &[&str])] = &[
    ("thermostat.c", "c_thermostat", &[]),
    ("simd_checksum.c", "c_simd_checksum", &["-msimd128"]),
];

/// Where Debian's `wasi-libc` puts the WASI sysroot's headers and libraries.
const WASI_INCLUDE: &str = "/usr/include/wasm32-wasi";
const WASI_LIB: &str = "/usr/lib/wasm32-wasi";

/// Runs `cmd`; on failure says what failed and the command to rerun by hand.
fn run(mut cmd: Command, what: &str) -> Result {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({status}); its messages are above. The command was: {shown}"
        ))
    }
}

/// Whether `program --version` runs.
fn has_command(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The C guests (`guests/c/`), built with clang for wasm32:
///
/// - `c_thermostat` and `c_simd_checksum` (with `-msimd128`): `examples/*.c` on the header-only
///   SDK `palisade.h`, no C library (`--target=wasm32 -nostdlib`, wasm-ld with `--no-entry`);
/// - `c_wasi_stdio`: `wasi/wasi_stdio.c`, a plain stdio program linked against Debian's
///   wasi-libc (`--target=wasm32-wasi --sysroot=/usr`), which needs compiler-rt's builtins.
///
/// Each missing tool is a build error naming the Debian package that provides it.
fn build_c_guests(guests: &Path, out: &Path) -> Result {
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    if !has_command(&clang) {
        return Err(format!(
            "the C guests (guests/c) are built with clang, and `{clang} --version` does not run. \
             Install the C toolchain for wasm32: `apt-get install {C_PACKAGES}` (scripts/setup.sh, \
             sourced by ci.sh, does it), or set CLANG to a clang with the wasm32 target"
        ));
    }
    if !has_command("wasm-ld") {
        return Err(format!(
            "the C guests (guests/c) are linked with wasm-ld, which is not on PATH. Install lld: \
             `apt-get install {C_PACKAGES}`"
        ));
    }
    let c = guests.join("c");
    for (source, name, extra) in C_NATIVE_GUESTS {
        let mut native = Command::new(&clang);
        native
            .args([
                "--target=wasm32",
                "-nostdlib",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wl,--no-entry,--strip-all,-z,stack-size=16384",
            ])
            .args(*extra)
            .arg("-I")
            .arg(&c)
            .arg("-o")
            .arg(out.join(format!("{name}.wasm")))
            .arg(c.join("examples").join(source));
        run(
            native,
            &format!("building the C guest guests/c/examples/{source}"),
        )?;
    }

    if !Path::new(WASI_INCLUDE).join("stdio.h").is_file() {
        return Err(format!(
            "the C WASI guest (guests/c/wasi) needs the wasi-libc sysroot, and {WASI_INCLUDE}/stdio.h \
             does not exist. Install it: `apt-get install {C_PACKAGES}`"
        ));
    }
    let builtins = Command::new(&clang)
        .args(["--target=wasm32-wasi", "-print-libgcc-file-name"])
        .output()
        .map_err(|e| format!("could not run {clang}: {e}"))?;
    let builtins = PathBuf::from(String::from_utf8_lossy(&builtins.stdout).trim());
    if !builtins.is_file() {
        return Err(format!(
            "the C WASI guest (guests/c/wasi) links compiler-rt's builtins for wasm32, and {} does \
             not exist. Install them: `apt-get install {C_PACKAGES}` (the builtins are \
             libclang-rt-14-dev-wasm32; use the package matching your clang's version)",
            builtins.display()
        ));
    }
    let mut wasi = Command::new(&clang);
    wasi.args([
        "--target=wasm32-wasi",
        "--sysroot=/usr",
        "-isystem",
        WASI_INCLUDE,
        &format!("-L{WASI_LIB}"),
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wl,--strip-all",
    ])
    .arg("-o")
    .arg(out.join("c_wasi_stdio.wasm"))
    .arg(c.join("wasi").join("wasi_stdio.c"));
    run(wasi, "building the C WASI guest guests/c/wasi/wasi_stdio.c")
}

/// AssemblyScript guests: (entry file in `guests/assemblyscript/assembly`, artifact name).
const AS_GUESTS: &[(&str, &str)] = &[("thermostat.ts", "as_thermostat"), ("abort.ts", "as_abort")];

/// The oldest Node.js the pinned AssemblyScript runs on (its `engines.node`).
const NODE_MAJOR: u32 = 18;

/// The AssemblyScript guests (`guests/assemblyscript/`): `as_thermostat` and `as_abort`.
///
/// The sources, `package.json`, the committed `package-lock.json` and the SDK transform are
/// copied into `<nested target>/assemblyscript`; `npm ci` installs the pinned compiler there
/// (only when the lockfile changed since the last install), and `asc` compiles from there. The
/// source tree gets no `node_modules`.
fn build_as_guests(guests: &Path, out: &Path) -> Result {
    let node_version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(node_version) = node_version else {
        return Err(format!(
            "the AssemblyScript guests (guests/assemblyscript) are compiled with Node.js, and \
             `node --version` does not run. Install Node.js {NODE_MAJOR} or later and npm \
             (Debian: `apt-get install nodejs npm`; scripts/setup.sh does it)"
        ));
    };
    let major = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < NODE_MAJOR) {
        return Err(format!(
            "the AssemblyScript guests need Node.js {NODE_MAJOR} or later; `node --version` says \
             {node_version}. Install a newer Node.js"
        ));
    }
    if !has_command("npm") {
        return Err(
            "the AssemblyScript guests (guests/assemblyscript) install their compiler with \
             `npm ci`, and npm is not on PATH. Install it (Debian: `apt-get install npm`)"
                .into(),
        );
    }
    let src = guests.join("assemblyscript");
    let work = nested_target_dir(out).join("assemblyscript");
    fs::create_dir_all(work.join("assembly"))
        .map_err(|e| format!("creating {}: {e}", work.display()))?;
    // Every profile's build of this crate shares `work`, and one cargo invocation may run two
    // of them at once: hold a lock over install and compile.
    let lock_path = work.join(".build-lock");
    let lock = fs::File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    for file in ["package.json", "palisade-abi.js"] {
        copy(&src.join(file), &work.join(file))?;
    }
    for entry in fs::read_dir(src.join("assembly")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(name) = path.file_name() {
            copy(&path, &work.join("assembly").join(name))?;
        }
    }
    let lockfile = fs::read(src.join("package-lock.json"))
        .map_err(|e| format!("reading guests/assemblyscript/package-lock.json: {e}"))?;
    let stamp = work.join("node_modules").join(".palisade-lock");
    if fs::read(&stamp).ok().as_deref() != Some(lockfile.as_slice()) {
        write(&work.join("package-lock.json"), &lockfile)?;
        let mut npm = Command::new("npm");
        npm.current_dir(&work)
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
        run(
            npm,
            "installing the AssemblyScript compiler (`npm ci` from guests/assemblyscript/package-lock.json; needs the npm registry once)",
        )?;
        write(&stamp, &lockfile)?;
    }
    for (source, name) in AS_GUESTS {
        let mut asc = Command::new("node");
        asc.current_dir(&work)
            .arg(work.join("node_modules/assemblyscript/bin/asc.js"))
            .arg(format!("assembly/{source}"))
            .args([
                "--runtime",
                "stub",
                "--use",
                "abort=assembly/palisade/palisadeAbort",
                "--transform",
                "./palisade-abi.js",
                "-O3z",
                "--outFile",
            ])
            .arg(out.join(format!("{name}.wasm")));
        run(
            asc,
            &format!("compiling the AssemblyScript guest guests/assemblyscript/assembly/{source}"),
        )?;
    }
    Ok(())
}

/// Copies `from` to `to` (only when the contents changed).
fn copy(from: &Path, to: &Path) -> Result {
    let bytes = fs::read(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    write(to, &bytes)
}

fn assemble_wat(dir: &Path, out: &Path) -> Result {
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|e| e != "wat") {
            continue;
        }
        let bytes = wat::parse_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .ok_or_else(|| format!("{} has no file name", path.display()))?;
        write(&out.join(stem).with_extension("wasm"), &bytes)?;
    }
    Ok(())
}

/// Writes only when the contents changed, so unchanged artifacts keep their mtime.
fn write(path: &Path, bytes: &[u8]) -> Result {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The parts every generated module shares: `memory` (1 page), `palisade_alloc` returning 1024,
/// and the `palisade.abi` section. Type 0 is `(i32) -> i32`, type 1 `(i32, i32) -> i32`,
/// type 2 `(i32, i32) -> ()`, type 3 `() -> ()`; function 0 is the import `palisade.output`,
/// function 1 the allocator, function 2 the entry point `run`.
fn abi_module(funcs: &mut FunctionSection, code: &mut CodeSection) -> (TypeSection, ImportSection) {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32, ValType::I32], []);
    types.ty().function([], []);
    let mut imports = ImportSection::new();
    imports.import("palisade", "output", EntityType::Function(2));
    funcs.function(0);
    let mut alloc = Function::new([]);
    alloc.instruction(&Instruction::I32Const(1024));
    alloc.instruction(&Instruction::End);
    code.function(&alloc);
    (types, imports)
}

fn finish(
    types: TypeSection,
    imports: ImportSection,
    funcs: FunctionSection,
    table: Option<(TableSection, ElementSection)>,
    code: CodeSection,
) -> Vec<u8> {
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("palisade_alloc", ExportKind::Func, 1);
    exports.export("run", ExportKind::Func, 2);

    let mut module = Module::new();
    module.section(&types).section(&imports).section(&funcs);
    let elements = table.map(|(t, e)| {
        module.section(&t);
        e
    });
    module.section(&memory).section(&exports);
    if let Some(e) = &elements {
        module.section(e);
    }
    module.section(&code);
    module.section(&CustomSection {
        name: "palisade.abi".into(),
        data: 1u32.to_le_bytes().as_slice().into(),
    });
    module.finish()
}

/// `large`: entry `run` takes an optional `u32` (LE) index and outputs, as a `u32` LE, what
/// function `index % 2500` computes from the index. Each function is 25 rounds of
/// multiply-xor with its own constants.
fn large_module() -> Vec<u8> {
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let (types, imports) = abi_module(&mut funcs, &mut code);

    // run(ptr, len): index = len == 4 ? load(ptr) : 0; store(0, f[index % N](index)); output(0, 4)
    funcs.function(1);
    let mut run = Function::new([]);
    let mem = MemArg {
        offset: 0,
        align: 2,
        target: wasm_encoder::MemArgTarget::Memory(0),
        ordering: None,
    };
    for ins in [
        Instruction::I32Const(0),
        Instruction::LocalGet(1),
        Instruction::I32Const(4),
        Instruction::I32Eq,
        Instruction::If(wasm_encoder::BlockType::Result(ValType::I32)),
        Instruction::LocalGet(0),
        Instruction::I32Load(mem),
        Instruction::Else,
        Instruction::I32Const(0),
        Instruction::End,
        Instruction::LocalTee(0),
        Instruction::LocalGet(0),
        Instruction::I32Const(LARGE_FUNCS as i32),
        Instruction::I32RemU,
        Instruction::CallIndirect {
            type_index: 0,
            table_index: 0,
        },
        Instruction::I32Store(mem),
        Instruction::I32Const(0),
        Instruction::I32Const(4),
        Instruction::Call(0),
        Instruction::I32Const(0),
        Instruction::End,
    ] {
        run.instruction(&ins);
    }
    code.function(&run);

    let mut seed: u32 = 0x9E37_79B9;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed | 0x1000_0001 // odd and wide: a 5-byte LEB constant
    };
    for _ in 0..LARGE_FUNCS {
        funcs.function(0);
        let mut f = Function::new([]);
        for _ in 0..LARGE_REPS {
            for ins in [
                Instruction::LocalGet(0),
                Instruction::I32Const(next() as i32),
                Instruction::I32Mul,
                Instruction::I32Const(next() as i32),
                Instruction::I32Xor,
                Instruction::LocalSet(0),
            ] {
                f.instruction(&ins);
            }
        }
        f.instruction(&Instruction::LocalGet(0));
        f.instruction(&Instruction::End);
        code.function(&f);
    }

    let mut table = TableSection::new();
    table.table(TableType {
        element_type: RefType::FUNCREF,
        minimum: u64::from(LARGE_FUNCS),
        maximum: Some(u64::from(LARGE_FUNCS)),
        table64: false,
        shared: false,
    });
    let mut elements = ElementSection::new();
    let indices: Vec<u32> = (3..3 + LARGE_FUNCS).collect();
    elements.active(
        Some(0),
        &ConstExpr::i32_const(0),
        Elements::Functions(indices.into()),
    );
    finish(types, imports, funcs, Some((table, elements)), code)
}

/// `compile_bomb`: a valid, ABI-conforming module with 20,000 empty functions, more than
/// wasmi's strict limits accept (10,000): refused at compile time, before any translation.
fn compile_bomb() -> Vec<u8> {
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let (types, imports) = abi_module(&mut funcs, &mut code);
    funcs.function(1);
    let mut run = Function::new([]);
    run.instruction(&Instruction::I32Const(0));
    run.instruction(&Instruction::End);
    code.function(&run);
    for _ in 0..BOMB_FUNCS {
        funcs.function(3);
        let mut f = Function::new([]);
        f.instruction(&Instruction::End);
        code.function(&f);
    }
    finish(types, imports, funcs, None, code)
}
