//! Reading modules, bundles and inputs from files, with caps and clear errors.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::exit::{CliError, Exit};

/// The largest file `run`, `inspect`, `pack` and `verify` read: far above any module a runtime
/// accepts, so that the runtime's own cap produces the message.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Reads at most `cap` bytes of `path` (or stdin for `-`), failing when there is more;
/// `flag` names the option that raises the cap (empty if none does).
pub fn read_capped(path: &Path, cap: u64, what: &str, flag: &str) -> Result<Vec<u8>, CliError> {
    let too_large = |len: String| {
        let fix = if flag.is_empty() {
            format!("pass a smaller {what}")
        } else {
            format!("pass a smaller {what} or raise the cap with {flag}")
        };
        CliError::new(
            Exit::Rejected,
            format!(
                "the {what} {} is {len} bytes, over the cap of {cap} bytes; {fix}",
                display(path)
            ),
        )
    };
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| CliError::read(path, &e))?;
        if buf.len() as u64 > cap {
            return Err(too_large(String::from("more than")));
        }
        return Ok(buf);
    }
    let file = File::open(path).map_err(|e| CliError::read(path, &e))?;
    let meta = file.metadata().map_err(|e| CliError::read(path, &e))?;
    if meta.is_dir() {
        return Err(CliError::new(
            Exit::Io,
            format!("{} is a directory; pass a file", path.display()),
        ));
    }
    if meta.len() > cap {
        return Err(too_large(meta.len().to_string()));
    }
    file.take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| CliError::read(path, &e))?;
    if buf.len() as u64 > cap {
        return Err(too_large(String::from("more than")));
    }
    Ok(buf)
}

fn display(path: &Path) -> String {
    if path.as_os_str() == "-" {
        String::from("from stdin")
    } else {
        format!("in {}", path.display())
    }
}

/// Whether `bytes` start like a WebAssembly binary.
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(WASM_MAGIC)
}

/// Whether `bytes` look like WAT text (first non-blank character is `(`, or a `;;` comment).
pub fn looks_like_wat(path: &Path, bytes: &[u8]) -> bool {
    if path.extension().is_some_and(|e| e == "wat") {
        return true;
    }
    let trimmed = bytes.trim_ascii_start();
    trimmed.starts_with(b"(") || trimmed.starts_with(b";;")
}

/// Module bytes from a `.wasm` (or `.wat`) file's content.
pub fn module_bytes(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, CliError> {
    if is_wasm(&bytes) {
        return Ok(bytes);
    }
    if looks_like_wat(path, &bytes) {
        return wat::parse_bytes(&bytes)
            .map(|b| b.into_owned())
            .map_err(|e| {
                CliError::new(
                    Exit::InvalidModule,
                    format!(
                        "{} is not valid WAT text: {e}; fix the text or pass a compiled .wasm",
                        path.display()
                    ),
                )
            });
    }
    Err(not_wasm(path, &bytes))
}

/// The error for a file that is neither a module nor a bundle.
pub fn not_wasm(path: &Path, bytes: &[u8]) -> CliError {
    let start: String = bytes
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    let found = if bytes.is_empty() {
        String::from("the file is empty")
    } else {
        format!("it starts with {start}")
    };
    CliError::new(
        Exit::InvalidModule,
        format!(
            "{} is not a WebAssembly module or a Palisade bundle ({found}, expected 00 61 73 6d); pass a .wasm file, a .wat file or a bundle made by `palisade pack`",
            path.display()
        ),
    )
}
