//! The root module a pack exports and the objects its factories return.

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

use crate::context::StepContextRef;
use crate::types::{Batch, CheckResult, LogLevel, ModelShape, StepOutcome, StepView, TrainStats};

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

/// A model a pack brings (burn linked inside the pack); every recipe step can train it.
/// Since 1.2.0. Optional abilities (init-well, input gradients, weight decay) go through
/// [`Model::call`] with JSON, so new ones add operation names, not vtable slots.
#[sabi_trait]
pub trait Model: Send {
    /// Fresh weights from `seed`, and a fresh optimiser.
    fn reset(&mut self, seed: u64) -> RResult<(), RString>;
    /// One optimiser step at learning rate `lr` (0: compute the loss, change nothing).
    fn train_batch(&mut self, batch: &Batch, lr: f64) -> RResult<TrainStats, RString>;
    /// Logits (rows x classes, row-major) in evaluation mode.
    fn predict(&self, batch: &Batch) -> RResult<RVec<f32>, RString>;
    /// The weights as bytes (the pack chooses the format; burn's recorder in ours).
    fn save(&self) -> RResult<RVec<u8>, RString>;
    /// Weights from [`Model::save`]; resets the optimiser.
    fn load(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), RString>;
    /// Number of trainable parameters.
    fn num_params(&self) -> u64;
    /// An optional operation by name with JSON arguments; unknown names return an error.
    /// The host uses `init_output_bias`, `cross_sample_gradients` and `set_weight_decay`.
    #[sabi(last_prefix_field)]
    fn call(&mut self, op: RStr<'_>, args_json: RStr<'_>) -> RResult<RString, RString>;
}

/// An owned model object as it crosses the boundary.
pub type ModelBox = Model_TO<'static, RBox<()>>;

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

/// Name of the `extern "C" fn() -> ModelsEntry` a pack with models exports (since 1.2.0).
///
/// Models do not live in [`PackMod`]: measured with abi_stable 0.11.3, a root-module field
/// added in a minor version makes a newer host refuse every older pack ("too many fields:
/// expected 5, found 4"). A separate optional symbol keeps older packs loading: a pack without
/// it simply has no models. Its layout is checked on its own ([`MODELS_LAYOUT_SYMBOL`]).
pub const MODELS_SYMBOL: &str = "art_pack_models_v1";
/// Name of the `extern "C" fn() -> &'static TypeLayout` giving [`ModelsEntry`]'s layout as
/// the pack compiled it; the host checks it against its own before calling [`MODELS_SYMBOL`].
pub const MODELS_LAYOUT_SYMBOL: &str = "art_pack_models_v1_layout";

/// The model entry points of a pack. A later change is a new symbol (`_v2`), never an edit.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct ModelsEntry {
    /// Builds model `name` from its config (JSON object text) for data of `shape`.
    pub new_model: extern "C" fn(
        name: RStr<'_>,
        config_json: RStr<'_>,
        shape: ModelShape,
    ) -> RResult<ModelBox, RString>,
}

impl RootModule for PackModRef {
    declare_root_module_statics! {PackModRef}
    const BASE_NAME: &'static str = "art_pack";
    const NAME: &'static str = "art_pack";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
