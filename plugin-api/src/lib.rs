//! The stable contract between `art-host` and step packs.
//!
//! A step pack is a `cdylib` that depends on this crate alone and calls [`export_pack!`]. The
//! host finds it in a project's `plugins/` folder, reads its [`Manifest`] through a plain C
//! symbol (so an incompatible pack is refused with a readable message before any layout check),
//! then loads its [`PackModRef`] root module with `abi_stable`, which checks the layout of every
//! type that crosses.
//!
//! Rules that keep old packs loading in new hosts (see `DESIGN.md`):
//! - [`API_VERSION`] is this crate's version. Minor versions only add: root-module fields after
//!   the last prefix field, trait methods after `#[sabi(last_prefix_field)]`, keys in JSON text.
//! - Everything a pack exports catches panics; a panic becomes an error for that step only.
//! - Configs, schemas and open-ended results travel as JSON text, so new capabilities add keys,
//!   not vtable slots.
#![warn(missing_docs)]
// `#[sabi_trait]` and `#[derive(StableAbi)]` expand to impls that trip this lint on Rust 1.95.
#![allow(non_local_definitions)]

pub mod context;
pub mod export;
pub mod log;
pub mod manifest;
pub mod pack;
pub mod types;

pub use context::{Ctx, StepContext, StepContextRef, StepContext_TO};
pub use export::{CheckDecl, ModelDecl, PackCheck, PackDef, PackModel, PackStep, StepDecl};
pub use manifest::{ItemInfo, Manifest, MANIFEST_SYMBOL};
pub use pack::{
    Check, CheckBox, Check_TO, LogSink, Model, ModelBox, Model_TO, PackMod, PackModRef, Step,
    StepBox, Step_TO,
};
pub use types::{
    Batch, CheckResult, DatasetInfo, LogLevel, Metric, ModelShape, Series, Split, StepOutcome,
    StepView, TrainStats,
};

/// Re-exports for packs that want to name `abi_stable` or `serde_json` types without adding
/// them as dependencies of their own.
pub mod reexports {
    pub use abi_stable;
    pub use serde_json;
}

/// The version of this contract. A pack records the value it was compiled with in its
/// manifest; the host accepts it when the majors match and the pack's minor is not newer.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether a host speaking `host` can load a pack built against `pack`.
///
/// Same major, and the pack's minor must not be newer than the host's: a newer pack may call
/// trait methods or expect root-module fields this host does not have.
pub fn api_compatible(host: &semver::Version, pack: &semver::Version) -> bool {
    host.major == pack.major && pack.minor <= host.minor && (host.major > 0 || host == pack)
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{
        check_new, install_log_sink, manifest_c_str, manifest_rstring, model_new, step_new,
    };
    pub use crate::types::ModelShape;
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
    pub use abi_stable::prefix_type::PrefixTypeTrait;
    pub use abi_stable::std_types::{RResult, RStr, RString};
    pub use abi_stable::type_layout::TypeLayout;
    pub use abi_stable::StableAbi;
    pub use std::sync::OnceLock;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_loader_symbol_matches_abi_stable() {
        // export_pack! spells the symbol out as a literal; this keeps it in step with abi_stable.
        assert_eq!(
            export::ROOT_LOADER_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }

    #[test]
    fn semver_rule() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert!(api_compatible(&v("1.3.0"), &v("1.0.0")));
        assert!(api_compatible(&v("1.3.0"), &v("1.3.7")));
        assert!(!api_compatible(&v("1.3.0"), &v("1.4.0")));
        assert!(!api_compatible(&v("1.3.0"), &v("2.0.0")));
        assert!(!api_compatible(&v("2.0.0"), &v("1.9.0")));
        assert!(!api_compatible(&v("0.3.0"), &v("0.2.0")));
    }
}
