//! Host functions: how they are registered ([`HostFuncs`], behind
//! [`RuntimeBuilder::host_func`](crate::RuntimeBuilder::host_func)), the guest-memory helpers
//! every one of them uses (`guest`), and the built-in capabilities (`builtin`), registered
//! through the same path as an embedder's `gpio`.
//!
//! Above `store` and `trap` in the module graph (a host function takes a `Caller<CallState>`
//! and traps with a `HostTrap`); the capability names, ids and table it fills are below, in
//! `capability`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmi::{FuncType, IntoFunc, Store};

use crate::abi::IMPORT_NAMESPACE;
use crate::capability::{CapabilityId, MAX_CAPABILITIES};
use crate::error::Error;
use crate::store::{CallState, Installer};

mod builtin;
pub(crate) mod guest;

pub use guest::{charge, guest_bytes, guest_bytes_mut};

/// Learns a host function's type by wrapping it in a scratch store.
pub(crate) type TypeOf = Box<dyn Fn(&mut Store<CallState>) -> FuncType + Send + Sync>;

fn type_of<Params, Results>(
    func: impl IntoFunc<CallState, Params, Results> + Clone + 'static,
) -> TypeOf {
    Box::new(move |store| wasmi::Func::wrap(&mut *store, func.clone()).ty(&*store))
}

/// The host functions of a runtime being built: the capability names in order of first use,
/// each import's capability and type, and how to link it. Registration errors are kept (the
/// first one) and reported by [`RuntimeBuilder::build`](crate::RuntimeBuilder::build).
pub(crate) struct HostFuncs {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) imports: Vec<(Box<str>, CapabilityId, TypeOf)>,
    pub(crate) installers: Vec<Installer>,
    pub(crate) error: Option<Error>,
}

impl HostFuncs {
    /// The built-in capabilities, `core` first.
    pub(crate) fn with_builtins() -> Self {
        let mut funcs = Self {
            names: Vec::new(),
            imports: Vec::new(),
            installers: Vec::new(),
            error: None,
        };
        builtin::register(&mut funcs);
        funcs
    }

    /// Keeps `error` if it is the first.
    pub(crate) fn fail(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Whether an import `palisade.<name>` is registered.
    pub(crate) fn defines(&self, name: &str) -> bool {
        self.imports.iter().any(|(n, _, _)| &**n == name)
    }

    /// The id of `capability`, created if new (so a capability's id is the order of its
    /// first function).
    pub(crate) fn capability(&mut self, capability: &str) -> Result<CapabilityId, Error> {
        if let Some(i) = self.names.iter().position(|n| &**n == capability) {
            return CapabilityId::from_index(i)
                .ok_or_else(|| Error::config("too many capabilities"));
        }
        if self.names.len() >= MAX_CAPABILITIES {
            return Err(Error::config(alloc::format!(
                "cannot add capability `{capability}`: a runtime holds at most {MAX_CAPABILITIES}"
            )));
        }
        self.names.push(capability.into());
        CapabilityId::from_index(self.names.len() - 1)
            .ok_or_else(|| Error::config("too many capabilities"))
    }

    /// Adds host function `palisade.<name>` to `capability` (created if new): the one
    /// registration path of the built-ins and, after
    /// [`RuntimeBuilder::host_func`](crate::RuntimeBuilder::host_func)'s checks, of an
    /// embedder's functions.
    pub(crate) fn add<Params, Results>(
        &mut self,
        capability: &str,
        name: &str,
        func: impl IntoFunc<CallState, Params, Results> + Clone + 'static,
    ) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        match self.capability(capability) {
            Ok(id) => self.imports.push((name.into(), id, type_of(func.clone()))),
            Err(e) => {
                self.fail(e);
                return self;
            }
        }
        let name: Box<str> = name.into();
        self.installers.push(Arc::new(move |linker| {
            linker
                .func_wrap(IMPORT_NAMESPACE, &name, func.clone())
                .map(|_| ())
        }));
        self
    }
}
