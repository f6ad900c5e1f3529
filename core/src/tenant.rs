//! Tenants: who calls, with which capabilities granted, under which limits.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::capability::CapSet;
use crate::error::Error;
use crate::limits::{Limits, TokenBucket};
use crate::runtime::Runtime;

/// What a [`Tenant`] shares between its clones.
pub(crate) struct TenantInner {
    pub(crate) id: Box<str>,
    pub(crate) grants: CapSet,
    pub(crate) limits: Limits,
    pub(crate) bucket: spin::Mutex<TokenBucket>,
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
    pub(crate) runtime: &'r Runtime,
    pub(crate) id: Box<str>,
    pub(crate) grants: CapSet,
    pub(crate) limits: Limits,
    pub(crate) error: Option<Error>,
}

impl TenantBuilder<'_> {
    /// Grants a capability by name (`log`, `kv.read`, an embedder's `app.document`, ...).
    /// An unknown name is reported by [`TenantBuilder::build`].
    pub fn grant(mut self, capability: &str) -> Self {
        match self.runtime.shared.table.index_of(capability) {
            Some(i) => self.grants = self.grants.with(i),
            None => {
                if self.error.is_none() {
                    let known: Vec<&str> = self.runtime.capabilities().collect();
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

    /// The tenant.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an unknown capability or an empty id.
    pub fn build(self) -> Result<Tenant, Error> {
        if let Some(e) = self.error {
            return Err(e.with_tenant(&self.id));
        }
        if self.id.is_empty() {
            return Err(Error::config("a tenant id must not be empty"));
        }
        Ok(Tenant::new_unchecked(&self.id, self.grants, self.limits))
    }
}
