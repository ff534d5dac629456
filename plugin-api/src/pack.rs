//! The root module a pack exports and the objects its factories return.

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RStr, RString};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

use crate::context::StepContextRef;
use crate::types::{CheckResult, LogLevel, StepOutcome, StepView};

/// A step built by a pack for one project step. Called only through [`Step_TO`].
#[sabi_trait]
pub trait Step: Send {
    /// Runs the step. Errors (and panics, which the pack turns into errors) fail this step.
    #[sabi(last_prefix_field)]
    fn run(&mut self, ctx: StepContextRef<'_>) -> RResult<StepOutcome, RString>;
}

/// A check built by a pack for one project step.
#[sabi_trait]
pub trait Check: Send + Sync {
    /// Judges a finished step. A panic inside becomes a failed verdict.
    #[sabi(last_prefix_field)]
    fn evaluate(&self, view: &StepView) -> CheckResult;
}

/// An owned step object as it crosses the boundary.
pub type StepBox = Step_TO<'static, RBox<()>>;
/// An owned check object as it crosses the boundary.
pub type CheckBox = Check_TO<'static, RBox<()>>;

/// Where a pack's log lines go: a function of the host's, handed over once at load. Each pack
/// has its own `tracing` dispatcher, so without this its events would vanish.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct LogSink {
    /// Receives level, target (the pack's module path) and the formatted message.
    pub log: extern "C" fn(LogLevel, RStr<'_>, RStr<'_>),
}

/// The root module of a pack. Append new fields only after the last one, moving
/// `#[sabi(last_prefix_field)]` never: fields after it are optional to an older pack.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PackModRef)))]
#[sabi(missing_field(panic))]
pub struct PackMod {
    /// The manifest as JSON text (the same text the C symbol returns).
    pub manifest: extern "C" fn() -> RString,
    /// Hands the pack the host's log sink; the pack installs a forwarding subscriber.
    pub install_log_sink: extern "C" fn(LogSink),
    /// Builds step `name` from its config (JSON object text).
    pub new_step: extern "C" fn(name: RStr<'_>, config_json: RStr<'_>) -> RResult<StepBox, RString>,
    /// Builds check `name` from its config (JSON object text).
    #[sabi(last_prefix_field)]
    pub new_check:
        extern "C" fn(name: RStr<'_>, config_json: RStr<'_>) -> RResult<CheckBox, RString>,
}

impl RootModule for PackModRef {
    declare_root_module_statics! {PackModRef}
    const BASE_NAME: &'static str = "art_pack";
    const NAME: &'static str = "art_pack";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
