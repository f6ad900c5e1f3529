//! [`FileKv`]: a persistent, crash-safe, per-tenant [`KvStore`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use palisade::{Digest, KvBackend, KvEntries, KvError, KvStore, KvWrites, Quota};

const HEADER: &[u8; 8] = b"PALKV\0\0\x01";
const OP_SET: u8 = 1;
const OP_DELETE: u8 = 2;
/// Record framing: len + crc.
const FRAME: usize = 8;
/// Body prefix: op + key_len.
const BODY_PREFIX: usize = 3;
const COMPACT_MIN_BYTES: u64 = 64 << 10;

#[derive(Debug)]
struct Space {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Keys + values, what the quota counts.
    bytes: usize,
    file: File,
    path: PathBuf,
    log_len: u64,
}

/// A persistent [`KvStore`]: one crash-safe append-only log per tenant in a directory.
///
/// Reads are served from memory; every write is durable (fsynced) before it is acknowledged.
///
/// # On-disk format
///
/// One append-only log file per tenant, `<hex(tenant)>.pkv` in the store's directory (tenant
/// ids longer than 100 bytes are named by their SHA-256 instead). A file starts with the 8-byte
/// header `PALKV\0\0\x01`, followed by records:
///
/// ```text
/// len: u32 LE | crc32(body): u32 LE | body: op u8 (1 = set, 2 = delete) | key_len u16 LE | key | value
/// ```
///
/// A write appends one record and calls `fsync` (`File::sync_data`) before it returns, and only
/// then changes what readers see. When a file is opened, records are replayed until the first
/// one that is incomplete or fails its checksum — a write torn by a crash or a power cut — and
/// the file is truncated there. So a crash mid-write loses at most that one unacknowledged
/// write, never an acknowledged one, and never leaves a half-written value visible.
///
/// When a log grows to more than twice its live data (and past 64 KiB), it is compacted: the
/// live entries are written to `<name>.pkv.tmp`, which is fsynced and renamed over the log, and
/// the directory is fsynced. A crash during compaction leaves either the old or the new log,
/// both complete.
///
/// One process owns a store directory at a time: [`FileKv::open`] takes an exclusive lock on
/// `LOCK` in it and fails if another process holds it.
///
/// Quotas are the core's [`Quota`] layer over [`FileLog`] (the logs alone), so a call's
/// buffered writes are checked and applied as one batch, exactly as on every other store.
#[derive(Debug)]
pub struct FileKv {
    quota: Quota<FileLog>,
}

/// The storage under [`FileKv`]: the per-tenant logs, without quota accounting.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    spaces: Mutex<HashMap<String, Space>>,
    _lock: File,
}

impl FileKv {
    /// Per-tenant quota (keys + values) of [`FileKv::open`]: 1 MiB.
    pub const DEFAULT_QUOTA_BYTES: usize = 1 << 20;

    /// Opens (creating if needed) the store in `dir`, with [`FileKv::DEFAULT_QUOTA_BYTES`] per
    /// tenant.
    ///
    /// # Errors
    ///
    /// An I/O error naming the directory if it cannot be created or locked, or if another
    /// process already has it open.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        Self::open_with_quota(dir, Self::DEFAULT_QUOTA_BYTES)
    }

    /// As [`FileKv::open`], with a per-tenant quota in bytes (keys + values).
    ///
    /// # Errors
    ///
    /// As [`FileKv::open`].
    pub fn open_with_quota(dir: impl AsRef<Path>, quota_bytes: usize) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let ctx = |what: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("KV store {}: cannot {what}: {e}", dir.display()),
            )
        };
        fs::create_dir_all(&dir).map_err(|e| ctx("create the directory", e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| ctx("open LOCK", e))?;
        lock.try_lock().map_err(|e| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "KV store {} is in use by another process ({e}); close it or use another directory",
                    dir.display()
                ),
            )
        })?;
        // A crash during compaction can leave a temporary file; the log it was replacing is
        // still complete, so the temporary is simply discarded.
        if let Ok(read) = fs::read_dir(&dir) {
            for entry in read.flatten() {
                if entry.path().extension().is_some_and(|e| e == "tmp") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let log = FileLog {
            dir,
            spaces: Mutex::new(HashMap::new()),
            _lock: lock,
        };
        Ok(Self {
            quota: Quota::new(log, quota_bytes),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.quota.backend().dir
    }

    /// Bytes (keys + values) stored for `tenant`.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the tenant's log cannot be read.
    pub fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        self.quota.used_bytes(tenant)
    }

    /// Sets `tenant`'s quota in bytes (keys + values); see [`Quota::set_quota`].
    pub fn set_quota(&self, tenant: &str, bytes: usize) {
        self.quota.set_quota(tenant, bytes);
    }
}

impl FileLog {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Space>> {
        // A panic while holding the lock cannot leave a space half-updated: memory is changed
        // only after the log write succeeded. So a poisoned lock is safe to keep using.
        self.spaces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn file_name(tenant: &str) -> String {
        if tenant.len() <= 100 {
            let mut s = String::with_capacity(tenant.len() * 2 + 4);
            for b in tenant.bytes() {
                s.push_str(&format!("{b:02x}"));
            }
            s.push_str(".pkv");
            s
        } else {
            format!("sha256-{}.pkv", Digest::of(tenant.as_bytes()))
        }
    }

    fn space<'a>(
        &self,
        spaces: &'a mut HashMap<String, Space>,
        tenant: &str,
    ) -> Result<&'a mut Space, KvError> {
        if !spaces.contains_key(tenant) {
            let path = self.dir.join(Self::file_name(tenant));
            let space = load(&path).map_err(|e| {
                tracing::error!(target: "palisade::kv", tenant, path = %path.display(), "cannot open the tenant's KV log: {e}");
                KvError::Backend
            })?;
            spaces.insert(tenant.to_owned(), space);
        }
        spaces.get_mut(tenant).ok_or(KvError::Backend)
    }

    fn append(space: &mut Space, record: &[u8]) -> Result<(), KvError> {
        let result = space
            .file
            .write_all(record)
            .and_then(|()| space.file.sync_data());
        if let Err(e) = result {
            // Undo a partial append so that the next record starts on a boundary.
            let _ = space.file.set_len(space.log_len);
            tracing::error!(target: "palisade::kv", path = %space.path.display(), "KV write failed: {e}");
            return Err(KvError::Backend);
        }
        space.log_len += record.len() as u64;
        Ok(())
    }

    fn maybe_compact(space: &mut Space) {
        let live = space.bytes as u64 + (space.entries.len() * (FRAME + BODY_PREFIX)) as u64;
        if space.log_len < COMPACT_MIN_BYTES || space.log_len < live.saturating_mul(2) {
            return;
        }
        if let Err(e) = compact(space) {
            // The old log is intact; compaction will be retried after a later write.
            tracing::warn!(target: "palisade::kv", path = %space.path.display(), "KV compaction failed: {e}");
        }
    }
}

fn record(op: u8, key: &[u8], value: &[u8]) -> Result<Vec<u8>, KvError> {
    let key_len = u16::try_from(key.len()).map_err(|_| KvError::TooLarge)?;
    let body_len = BODY_PREFIX + key.len() + value.len();
    let len = u32::try_from(body_len).map_err(|_| KvError::TooLarge)?;
    let mut out = Vec::with_capacity(FRAME + body_len);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(op);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32fast::hash(out.get(FRAME..).unwrap_or_default());
    if let Some(slot) = out.get_mut(4..FRAME) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    Ok(out)
}

/// Parses one record at the start of `data`: `(op, key, value, record length)`, or `None` if it
/// is incomplete or corrupt.
fn parse(data: &[u8]) -> Option<(u8, &[u8], &[u8], usize)> {
    let (len, rest) = data.split_first_chunk::<4>()?;
    let (crc, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    let body = rest.get(..len)?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return None;
    }
    let (&op, body) = body.split_first()?;
    let (key_len, body) = body.split_first_chunk::<2>()?;
    let key_len = usize::from(u16::from_le_bytes(*key_len));
    let key = body.get(..key_len)?;
    let value = body.get(key_len..)?;
    if op != OP_SET && op != OP_DELETE {
        return None;
    }
    Some((op, key, value, FRAME + len))
}

fn load(path: &Path) -> io::Result<Space> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    let mut entries = BTreeMap::new();
    let mut bytes = 0usize;
    let good = if data.len() < HEADER.len() {
        // New, or a crash before the header was complete: start the log afresh.
        file.set_len(0)?;
        file.write_all(HEADER)?;
        file.sync_all()?;
        HEADER.len()
    } else {
        if data.get(..HEADER.len()) != Some(HEADER.as_slice()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a Palisade KV log (bad header); move it away",
                    path.display()
                ),
            ));
        }
        let mut at = HEADER.len();
        while let Some((op, key, value, n)) = data.get(at..).and_then(parse) {
            match op {
                OP_SET => {
                    let added = key.len() + value.len();
                    if let Some(old) = entries.insert(key.to_vec(), value.to_vec()) {
                        bytes -= key.len() + old.len();
                    }
                    bytes += added;
                }
                _ => {
                    if let Some(old) = entries.remove(key) {
                        bytes -= key.len() + old.len();
                    }
                }
            }
            at += n;
        }
        if at < data.len() {
            tracing::warn!(
                target: "palisade::kv",
                path = %path.display(),
                dropped = data.len() - at,
                "discarding a torn or corrupt tail of the KV log (an unacknowledged write)"
            );
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        at
    };
    Ok(Space {
        entries,
        bytes,
        file,
        path: path.to_path_buf(),
        log_len: good as u64,
    })
}

fn compact(space: &mut Space) -> io::Result<()> {
    let mut tmp_path = space.path.clone().into_os_string();
    tmp_path.push(".tmp");
    let tmp_path = PathBuf::from(tmp_path);
    let mut out = Vec::with_capacity(HEADER.len() + space.bytes);
    out.extend_from_slice(HEADER);
    for (k, v) in &space.entries {
        let r = record(OP_SET, k, v)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "entry too large"))?;
        out.extend_from_slice(&r);
    }
    {
        let mut tmp = File::create(&tmp_path)?;
        tmp.write_all(&out)?;
        tmp.sync_all()?;
    }
    fs::rename(&tmp_path, &space.path)?;
    if let Some(dir) = space.path.parent() {
        // Make the rename itself durable (a no-op where directories cannot be opened).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    space.file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&space.path)?;
    space.log_len = out.len() as u64;
    Ok(())
}

impl KvStore for FileKv {
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError> {
        self.quota.get(tenant, key, read)
    }

    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.quota.set(tenant, key, value)
    }

    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        self.quota.delete(tenant, key)
    }

    fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        self.quota.used_bytes(tenant)
    }

    fn quota_bytes(&self, tenant: &str) -> usize {
        self.quota.quota_bytes(tenant)
    }

    fn commit(&self, tenant: &str, writes: &KvWrites) -> Result<(), KvError> {
        self.quota.commit(tenant, writes)
    }
}

/// [`FileLog`]'s entries under its lock.
#[derive(Debug)]
pub struct FileEntries<'a> {
    log: &'a FileLog,
    spaces: MutexGuard<'a, HashMap<String, Space>>,
}

impl KvBackend for FileLog {
    type Entries<'a> = FileEntries<'a>;

    fn lock(&self) -> Result<FileEntries<'_>, KvError> {
        Ok(FileEntries {
            log: self,
            spaces: FileLog::lock(self),
        })
    }
}

impl KvEntries for FileEntries<'_> {
    fn get(
        &mut self,
        tenant: &str,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, KvError> {
        let space = self.log.space(&mut self.spaces, tenant)?;
        match space.entries.get(key) {
            Some(v) => {
                read(v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn put(&mut self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let space = self.log.space(&mut self.spaces, tenant)?;
        let rec = record(OP_SET, key, value)?;
        FileLog::append(space, &rec)?;
        let old = space.entries.insert(key.to_vec(), value.to_vec());
        space.bytes =
            space.bytes - old.map_or(0, |v| key.len() + v.len()) + key.len() + value.len();
        FileLog::maybe_compact(space);
        Ok(())
    }

    fn remove(&mut self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        let space = self.log.space(&mut self.spaces, tenant)?;
        if !space.entries.contains_key(key) {
            return Ok(false);
        }
        let rec = record(OP_DELETE, key, &[])?;
        FileLog::append(space, &rec)?;
        if let Some(v) = space.entries.remove(key) {
            space.bytes -= key.len() + v.len();
        }
        FileLog::maybe_compact(space);
        Ok(true)
    }

    fn tenant_bytes(&mut self, tenant: &str) -> Result<usize, KvError> {
        Ok(self.log.space(&mut self.spaces, tenant)?.bytes)
    }
}
