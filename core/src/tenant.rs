//! Tenants: who calls, with which capabilities granted, under which limits.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::capability::{CapSet, CapabilityTable};
use crate::error::Error;
use crate::limits::{Limits, TokenBucket};

/// What a [`Tenant`] shares between its clones.
pub(crate) struct TenantInner {
    pub(crate) id: Box<str>,
    pub(crate) grants: CapSet,
    pub(crate) limits: Limits,
    pub(crate) bucket: spin::Mutex<TokenBucket>,
    /// The WASI profile's `args` (`docs/WASI.md`), each without its NUL.
    pub(crate) args: Vec<Box<[u8]>>,
    /// The WASI profile's environment, each entry `KEY=VALUE` without its NUL.
    pub(crate) env: Vec<Box<[u8]>>,
}

/// A tenant: who is calling, which capabilities it was granted, and its limits.
///
/// Cheap to clone; clones share the call-rate bucket.
#[derive(Clone)]
pub struct Tenant(pub(crate) Arc<TenantInner>);

impl Tenant {
    pub(crate) fn new_unchecked(id: &str, grants: CapSet, limits: Limits) -> Self {
        Tenant(Arc::new(TenantInner {
            id: id.into(),
            grants,
            limits,
            bucket: spin::Mutex::new(TokenBucket::new()),
            args: Vec::new(),
            env: Vec::new(),
        }))
    }

    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The capabilities granted.
    pub fn grants(&self) -> CapSet {
        self.0.grants
    }

    /// The limits each call runs under.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// The arguments a WASI guest of this tenant sees (`args_get`; empty by default).
    pub fn wasi_args(&self) -> impl Iterator<Item = &[u8]> {
        self.0.args.iter().map(|a| &**a)
    }

    /// The environment a WASI guest of this tenant sees (`environ_get`), as `KEY=VALUE`
    /// entries; empty by default.
    pub fn wasi_env(&self) -> impl Iterator<Item = &[u8]> {
        self.0.env.iter().map(|e| &**e)
    }
}

impl core::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.0.id)
            .field("grants", &self.0.grants)
            .field("limits", &self.0.limits)
            .finish()
    }
}

/// Builds a [`Tenant`] against a runtime's capability table.
#[must_use]
pub struct TenantBuilder<'r> {
    pub(crate) table: &'r CapabilityTable,
    pub(crate) id: Box<str>,
    pub(crate) grants: CapSet,
    pub(crate) limits: Limits,
    pub(crate) args: Vec<Box<[u8]>>,
    pub(crate) env: Vec<Box<[u8]>>,
    pub(crate) error: Option<Error>,
}

impl TenantBuilder<'_> {
    /// Grants a capability by name (`log`, `kv.read`, an embedder's `app.document`, ...).
    /// An unknown name is reported by [`TenantBuilder::build`].
    pub fn grant(mut self, capability: &str) -> Self {
        match self.table.id_of(capability) {
            Some(i) => self.grants = self.grants.with(i),
            None => {
                if self.error.is_none() {
                    let known: Vec<&str> = self.table.names.iter().map(|n| &**n).collect();
                    self.error = Some(Error::config(alloc::format!(
                        "unknown capability `{capability}`; this runtime knows: {}",
                        known.join(", ")
                    )));
                }
            }
        }
        self
    }

    /// Grants each capability of `names`.
    pub fn grant_all<'n>(mut self, names: impl IntoIterator<Item = &'n str>) -> Self {
        for n in names {
            self = self.grant(n);
        }
        self
    }

    /// Sets the limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The arguments a WASI guest sees (`args_get`, `docs/WASI.md`), replacing any set before;
    /// by convention the first is the program's name. Default: none. An argument containing a
    /// NUL byte is reported by [`TenantBuilder::build`].
    pub fn wasi_args<A: AsRef<[u8]>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        self.args = args.into_iter().map(|a| Box::from(a.as_ref())).collect();
        self
    }

    /// The environment a WASI guest sees (`environ_get`), replacing any set before. Default:
    /// empty, whatever the host's own environment holds. A key that is empty or contains `=`
    /// or NUL, or a value containing NUL, is reported by [`TenantBuilder::build`].
    pub fn wasi_env<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = vars
            .into_iter()
            .map(|(k, v)| {
                let (k, v) = (k.as_ref(), v.as_ref());
                let mut entry = Vec::with_capacity(k.len() + 1 + v.len());
                entry.extend_from_slice(k);
                entry.push(b'=');
                entry.extend_from_slice(v);
                if k.is_empty() || k.contains(&b'=') {
                    // Marks the entry invalid: `build` reports it.
                    entry.insert(0, 0);
                }
                entry.into_boxed_slice()
            })
            .collect();
        self
    }

    /// The tenant.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an unknown capability, an empty id,
    /// or a WASI argument or environment entry that a guest could not read back (see
    /// [`TenantBuilder::wasi_args`], [`TenantBuilder::wasi_env`]).
    pub fn build(self) -> Result<Tenant, Error> {
        if let Some(e) = self.error {
            return Err(e.with_tenant(&self.id));
        }
        if self.id.is_empty() {
            return Err(Error::config("a tenant id must not be empty"));
        }
        if self.args.iter().any(|a| a.contains(&0)) {
            return Err(Error::config(
                "a WASI argument contains a NUL byte; guests read arguments as C strings",
            )
            .with_tenant(&self.id));
        }
        if self.env.iter().any(|e| e.contains(&0)) {
            return Err(Error::config(
                "a WASI environment variable has an empty key, a key containing `=`, or a NUL byte",
            )
            .with_tenant(&self.id));
        }
        let mut tenant = Tenant::new_unchecked(&self.id, self.grants, self.limits);
        if let Some(inner) = Arc::get_mut(&mut tenant.0) {
            inner.args = self.args;
            inner.env = self.env;
        }
        Ok(tenant)
    }
}
