//! Rule bundles kept in flash: parse in place, verify digest and signature, then install them
//! through the core's one pipeline ([`Runtime::compile_bundle`]: compile, contract, manifest
//! check), as the registry and the server do.

use palisade::{
    Bundle, BundleError, CompiledModule, Error, ErrorKind, Runtime, Tenant, TrustStore,
    VerifiedBundle,
};

/// A flash region that may hold one bundle, followed by erased bytes.
///
/// The bundle is read in place: its module bytes are borrowed from flash, never copied to RAM
/// by this reader (wasmi keeps what it translates).
#[derive(Debug, Clone, Copy)]
pub struct BundleSlot {
    name: &'static str,
    region: &'static [u8],
}

/// A bundle that passed every check, and its compiled module.
#[derive(Debug, Clone)]
pub struct FlashBundle {
    /// The slot it came from.
    pub slot: &'static str,
    /// The verified bundle (manifest, signer, module bytes in flash).
    pub bundle: VerifiedBundle<'static>,
    /// The module compiled by the runtime and checked against the contract and the tenant.
    pub module: CompiledModule,
}

/// Why a slot's bundle was refused.
#[derive(Debug)]
pub enum LoadError {
    /// The slot is erased (starts with `0xFF` or `0x00` bytes): nothing was flashed there.
    Empty,
    /// The bytes are not a well-formed bundle, fail verification (digest, signature, trusted
    /// key), or the manifest does not describe the module (ABI version, capabilities): the
    /// same [`BundleError`] the registry refuses the bundle with.
    Bundle(BundleError),
    /// The module does not compile, breaks the guest contract, or imports a capability the
    /// tenant was not granted.
    Module(Error),
}

impl From<BundleError> for LoadError {
    fn from(e: BundleError) -> Self {
        Self::Bundle(e)
    }
}

impl From<Error> for LoadError {
    fn from(e: Error) -> Self {
        match e.kind() {
            ErrorKind::Bundle(b) => Self::Bundle(*b),
            _ => Self::Module(e),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for LoadError {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Empty => defmt::write!(f, "empty slot"),
            Self::Bundle(e) => defmt::write!(f, "{}", e),
            Self::Module(e) => match e.kind() {
                ErrorKind::ContractViolation(v) => defmt::write!(f, "contract: {}", v),
                ErrorKind::Trap(t) => defmt::write!(f, "trap: {}", t),
                _ => defmt::write!(f, "module refused: {}", e.outcome()),
            },
        }
    }
}

impl BundleSlot {
    /// The slot `name` over `region` (a board builds the slice from its flash layout).
    pub const fn new(name: &'static str, region: &'static [u8]) -> Self {
        Self { name, region }
    }

    /// The slot's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The slot's bytes.
    pub fn region(&self) -> &'static [u8] {
        self.region
    }

    /// Parses the slot's bundle without verifying it.
    ///
    /// # Errors
    ///
    /// [`LoadError::Empty`] or [`LoadError::Bundle`] for a malformed or truncated bundle.
    pub fn read(&self) -> Result<Bundle<'static>, LoadError> {
        match self.region.get(..4) {
            Some([0xFF, 0xFF, 0xFF, 0xFF] | [0, 0, 0, 0]) | None => return Err(LoadError::Empty),
            Some(_) => {}
        }
        Ok(Bundle::new_checked_prefix(self.region)?)
    }

    /// Reads the slot's bundle, verifies its signature and module digest against `trust`,
    /// and only then installs it as the registry does ([`Runtime::compile_bundle`]: compile,
    /// contract check, manifest check against the module) and checks that `tenant` was
    /// granted every capability it imports.
    ///
    /// A manifest's smoke test is not run here: in the registry it gates a promotion, and on
    /// a board a rule's smoke call could drive outputs at boot.
    ///
    /// # Errors
    ///
    /// [`LoadError::Empty`], [`LoadError::Bundle`] (for a parse or verification failure
    /// nothing was compiled; [`BundleError::Manifest`] after compiling), or
    /// [`LoadError::Module`].
    pub fn load(
        &self,
        runtime: &Runtime,
        trust: &TrustStore,
        tenant: &Tenant,
    ) -> Result<FlashBundle, LoadError> {
        let bundle = self.read()?.verify(trust)?;
        let module = runtime.compile_bundle(&bundle)?;
        runtime
            .check_grants(&module, tenant)
            .map_err(LoadError::Module)?;
        Ok(FlashBundle {
            slot: self.name,
            bundle,
            module,
        })
    }
}

/// Loads the first slot of `slots` whose bundle passes [`BundleSlot::load`], telling
/// `refused` about each slot skipped. `None` when no slot holds a good bundle: the board
/// then keeps its outputs at a safe default.
pub fn load_first_good(
    slots: &[BundleSlot],
    runtime: &Runtime,
    trust: &TrustStore,
    tenant: &Tenant,
    mut refused: impl FnMut(&BundleSlot, &LoadError),
) -> Option<FlashBundle> {
    for slot in slots {
        match slot.load(runtime, trust, tenant) {
            Ok(good) => return Some(good),
            Err(e) => refused(slot, &e),
        }
    }
    None
}
