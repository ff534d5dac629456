//! What a pack author writes against, and the glue [`export_pack!`](crate::export_pack) lays
//! down: every call from the host enters the pack through a `catch_unwind`, so a panic becomes
//! an error for one step instead of aborting the host.

use std::any::Any;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RStr, RString, RVec};

use crate::context::{Ctx, StepContextRef};
use crate::manifest::{ItemInfo, Manifest};
use crate::pack::{
    Check, CheckBox, Check_TO, LogSink, Model, ModelBox, Model_TO, Step, StepBox, Step_TO,
};
use crate::types::{Batch, CheckResult, ModelShape, StepOutcome, StepView, TrainStats};

/// The symbol `abi_stable` looks for; `export_pack!` writes it as a literal (a macro cannot
/// build an attribute from a constant), and a test keeps the two equal.
pub const ROOT_LOADER_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// A step as a pack author implements it.
pub trait PackStep: Send + 'static {
    /// Runs the step against the host's services.
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<StepOutcome, String>;
}

/// A check as a pack author implements it.
pub trait PackCheck: Send + Sync + 'static {
    /// Judges a finished step.
    fn evaluate(&self, view: &StepView) -> CheckResult;
}

/// A model as a pack author implements it (see [`Model`] for what each call means).
pub trait PackModel: Send + 'static {
    /// Fresh weights from `seed`, and a fresh optimiser.
    fn reset(&mut self, seed: u64) -> Result<(), String>;
    /// One optimiser step at `lr` (0: loss only); the loss and how many rows were right.
    fn train_batch(&mut self, batch: &Batch, lr: f64) -> Result<TrainStats, String>;
    /// Logits in evaluation mode, rows x classes.
    fn predict(&self, batch: &Batch) -> Result<Vec<f32>, String>;
    /// The weights as bytes.
    fn save(&self) -> Result<Vec<u8>, String>;
    /// Weights from [`PackModel::save`]; resets the optimiser.
    fn load(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Number of trainable parameters.
    fn num_params(&self) -> u64;
    /// Optional operations by name (`init_output_bias`, `cross_sample_gradients`,
    /// `set_weight_decay`); the default supports none.
    fn call(&mut self, op: &str, args: &serde_json::Value) -> Result<serde_json::Value, String> {
        let _ = args;
        Err(format!("this model does not support `{op}`"))
    }
}

/// Builds a model from its JSON config for data of `shape`.
pub type ModelFactory = fn(&serde_json::Value, ModelShape) -> Result<Box<dyn PackModel>, String>;

/// A model a pack offers.
pub struct ModelDecl {
    /// Name and summary as shown to users.
    pub info: ItemInfo,
    /// Its factory.
    pub factory: ModelFactory,
}

impl ModelDecl {
    /// A model declaration; `schema` is the JSON Schema of its config.
    pub fn new(
        name: &str,
        summary: &str,
        revision: u32,
        schema: serde_json::Value,
        factory: ModelFactory,
    ) -> Self {
        Self {
            info: item(name, summary, revision, schema),
            factory,
        }
    }
}

/// Builds a step from its JSON config, or says what is wrong with the config.
pub type StepFactory = fn(&serde_json::Value) -> Result<Box<dyn PackStep>, String>;
/// Builds a check from its JSON config, or says what is wrong with the config.
pub type CheckFactory = fn(&serde_json::Value) -> Result<Box<dyn PackCheck>, String>;

/// A step a pack offers.
pub struct StepDecl {
    /// Name and summary as shown to users.
    pub info: ItemInfo,
    /// Its factory.
    pub factory: StepFactory,
}

/// A check a pack offers.
pub struct CheckDecl {
    /// Name and summary as shown to users.
    pub info: ItemInfo,
    /// Its factory.
    pub factory: CheckFactory,
}

impl StepDecl {
    /// A step declaration; `schema` is the JSON Schema of its config.
    pub fn new(
        name: &str,
        summary: &str,
        revision: u32,
        schema: serde_json::Value,
        factory: StepFactory,
    ) -> Self {
        Self {
            info: item(name, summary, revision, schema),
            factory,
        }
    }
}

impl CheckDecl {
    /// A check declaration; `schema` is the JSON Schema of its config.
    pub fn new(
        name: &str,
        summary: &str,
        revision: u32,
        schema: serde_json::Value,
        factory: CheckFactory,
    ) -> Self {
        Self {
            info: item(name, summary, revision, schema),
            factory,
        }
    }
}

fn item(name: &str, summary: &str, revision: u32, schema: serde_json::Value) -> ItemInfo {
    ItemInfo {
        name: name.to_owned(),
        summary: summary.to_owned(),
        revision,
        config_schema: schema,
    }
}

/// Everything a pack exports, built once on first use.
pub struct PackDef {
    /// The manifest (its `api_version` is filled in by [`PackDef::new`]).
    pub manifest: Manifest,
    /// The manifest as JSON with a trailing NUL, for the C symbol.
    manifest_c: CString,
    steps: Vec<StepDecl>,
    checks: Vec<CheckDecl>,
    models: Vec<ModelDecl>,
}

impl PackDef {
    /// Assembles a pack definition; the API version is the one this crate was compiled as.
    pub fn new(
        name: &str,
        version: &str,
        description: &str,
        authors: Vec<String>,
        steps: Vec<StepDecl>,
        checks: Vec<CheckDecl>,
    ) -> Self {
        let manifest = Manifest {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            authors,
            api_version: crate::API_VERSION.to_owned(),
            steps: steps.iter().map(|s| s.info.clone()).collect(),
            checks: checks.iter().map(|c| c.info.clone()).collect(),
            models: Vec::new(),
        };
        let manifest_c = manifest_c(&manifest);
        Self {
            manifest,
            manifest_c,
            steps,
            checks,
            models: Vec::new(),
        }
    }

    /// Adds the models the pack offers (since 1.2.0).
    pub fn with_models(mut self, models: Vec<ModelDecl>) -> Self {
        self.manifest.models = models.iter().map(|m| m.info.clone()).collect();
        self.manifest_c = manifest_c(&self.manifest);
        self.models = models;
        self
    }
}

fn manifest_c(manifest: &Manifest) -> CString {
    CString::new(serde_json::to_string(manifest).unwrap_or_default()).unwrap_or_default()
}

/// Turns a panic payload into the message the user sees.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(RString::from(e)),
        Err(payload) => RResult::RErr(RString::from(format!(
            "{what} panicked: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

struct GuardedStep(Box<dyn PackStep>);

impl Step for GuardedStep {
    fn run(&mut self, ctx: StepContextRef<'_>) -> RResult<StepOutcome, RString> {
        let inner = &mut self.0;
        guarded("step", move || inner.run(&mut Ctx::new(ctx)))
    }
}

struct GuardedCheck(Box<dyn PackCheck>);

impl Check for GuardedCheck {
    fn evaluate(&self, view: &StepView) -> CheckResult {
        match catch_unwind(AssertUnwindSafe(|| self.0.evaluate(view))) {
            Ok(r) => r,
            Err(payload) => CheckResult::fail(format!(
                "check panicked: {}",
                panic_message(payload.as_ref())
            )),
        }
    }
}

struct GuardedModel(Box<dyn PackModel>);

impl Model for GuardedModel {
    fn reset(&mut self, seed: u64) -> RResult<(), RString> {
        let m = &mut self.0;
        guarded("model reset", move || m.reset(seed))
    }
    fn train_batch(&mut self, batch: &Batch, lr: f64) -> RResult<TrainStats, RString> {
        let m = &mut self.0;
        guarded("model train_batch", move || m.train_batch(batch, lr))
    }
    fn predict(&self, batch: &Batch) -> RResult<RVec<f32>, RString> {
        guarded("model predict", || self.0.predict(batch).map(RVec::from))
    }
    fn save(&self) -> RResult<RVec<u8>, RString> {
        guarded("model save", || self.0.save().map(RVec::from))
    }
    fn load(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), RString> {
        let m = &mut self.0;
        guarded("model load", move || m.load(bytes.as_slice()))
    }
    fn num_params(&self) -> u64 {
        catch_unwind(AssertUnwindSafe(|| self.0.num_params())).unwrap_or(0)
    }
    fn call(&mut self, op: RStr<'_>, args_json: RStr<'_>) -> RResult<RString, RString> {
        let m = &mut self.0;
        guarded("model call", move || {
            let args = parse_config(args_json)?;
            m.call(op.as_str(), &args)
                .map(|v| RString::from(v.to_string()))
        })
    }
}

fn parse_config(config_json: RStr<'_>) -> Result<serde_json::Value, String> {
    let text = config_json.as_str();
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| format!("config is not valid JSON: {e}"))
}

/// Entry point behind `PackMod::new_step`.
pub fn step_new(
    def: fn() -> &'static PackDef,
    name: RStr<'_>,
    config_json: RStr<'_>,
) -> RResult<StepBox, RString> {
    guarded("step factory", || {
        let def = def();
        let decl = def
            .steps
            .iter()
            .find(|s| s.info.name == name.as_str())
            .ok_or_else(|| format!("pack `{}` has no step `{name}`", def.manifest.name))?;
        let step = (decl.factory)(&parse_config(config_json)?)?;
        Ok(Step_TO::from_ptr(RBox::new(GuardedStep(step)), TD_Opaque))
    })
}

/// Entry point behind `PackMod::new_check`.
pub fn check_new(
    def: fn() -> &'static PackDef,
    name: RStr<'_>,
    config_json: RStr<'_>,
) -> RResult<CheckBox, RString> {
    guarded("check factory", || {
        let def = def();
        let decl = def
            .checks
            .iter()
            .find(|c| c.info.name == name.as_str())
            .ok_or_else(|| format!("pack `{}` has no check `{name}`", def.manifest.name))?;
        let check = (decl.factory)(&parse_config(config_json)?)?;
        Ok(Check_TO::from_ptr(
            RBox::new(GuardedCheck(check)),
            TD_Opaque,
        ))
    })
}

/// Entry point behind `PackMod::new_model`.
pub fn model_new(
    def: fn() -> &'static PackDef,
    name: RStr<'_>,
    config_json: RStr<'_>,
    shape: ModelShape,
) -> RResult<ModelBox, RString> {
    guarded("model factory", || {
        let def = def();
        let decl = def
            .models
            .iter()
            .find(|m| m.info.name == name.as_str())
            .ok_or_else(|| format!("pack `{}` has no model `{name}`", def.manifest.name))?;
        let model = (decl.factory)(&parse_config(config_json)?, shape)?;
        Ok(Model_TO::from_ptr(
            RBox::new(GuardedModel(model)),
            TD_Opaque,
        ))
    })
}

/// Entry point behind `PackMod::manifest`.
pub fn manifest_rstring(def: fn() -> &'static PackDef) -> RString {
    catch_unwind(|| RString::from(def().manifest_c.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Entry point behind the plain C manifest symbol; null if building the definition panicked.
pub fn manifest_c_str(def: fn() -> &'static PackDef) -> *const c_char {
    catch_unwind(|| def().manifest_c.as_ptr()).unwrap_or(std::ptr::null())
}

/// Entry point behind `PackMod::install_log_sink`.
pub fn install_log_sink(sink: LogSink) {
    let _ = catch_unwind(|| crate::log::install(sink));
}

/// Exports a step pack: the C manifest symbol and the `abi_stable` root module.
///
/// ```ignore
/// art_plugin_api::export_pack! {
///     name: "my-pack",
///     description: "What it does",
///     authors: ["Me"],
///     steps: [StepDecl::new("my-step", "One line", 1, serde_json::Value::Null, make_step)],
///     checks: [],
///     // optional, since 1.2.0:
///     models: [ModelDecl::new("my-net", "One line", 1, serde_json::Value::Null, make_model)],
/// }
/// ```
/// The pack's version is its crate version.
#[macro_export]
macro_rules! export_pack {
    (
        name: $name:expr,
        description: $description:expr,
        authors: [$($author:expr),* $(,)?],
        steps: [$($step:expr),* $(,)?],
        checks: [$($check:expr),* $(,)?]
        $(, models: [$($model:expr),* $(,)?])? $(,)?
    ) => {
        fn __art_pack_def() -> &'static $crate::PackDef {
            static DEF: $crate::__private::OnceLock<$crate::PackDef> =
                $crate::__private::OnceLock::new();
            DEF.get_or_init(|| {
                $crate::PackDef::new(
                    $name,
                    env!("CARGO_PKG_VERSION"),
                    $description,
                    vec![$(::std::string::String::from($author)),*],
                    vec![$($step),*],
                    vec![$($check),*],
                )
                .with_models(vec![$($($model),*)?])
            })
        }

        /// The pack manifest as NUL-terminated JSON (see `art_plugin_api::MANIFEST_SYMBOL`).
        #[no_mangle]
        pub extern "C" fn art_pack_manifest() -> *const ::std::ffi::c_char {
            $crate::__private::manifest_c_str(__art_pack_def)
        }

        extern "C" fn __art_manifest() -> $crate::__private::RString {
            $crate::__private::manifest_rstring(__art_pack_def)
        }
        extern "C" fn __art_install_log_sink(sink: $crate::LogSink) {
            $crate::__private::install_log_sink(sink)
        }
        extern "C" fn __art_new_step(
            name: $crate::__private::RStr<'_>,
            config: $crate::__private::RStr<'_>,
        ) -> $crate::__private::RResult<$crate::StepBox, $crate::__private::RString> {
            $crate::__private::step_new(__art_pack_def, name, config)
        }
        extern "C" fn __art_new_check(
            name: $crate::__private::RStr<'_>,
            config: $crate::__private::RStr<'_>,
        ) -> $crate::__private::RResult<$crate::CheckBox, $crate::__private::RString> {
            $crate::__private::check_new(__art_pack_def, name, config)
        }

        extern "C" fn __art_new_model(
            name: $crate::__private::RStr<'_>,
            config: $crate::__private::RStr<'_>,
            shape: $crate::__private::ModelShape,
        ) -> $crate::__private::RResult<$crate::ModelBox, $crate::__private::RString> {
            $crate::__private::model_new(__art_pack_def, name, config, shape)
        }

        /// The pack's model entry points (see `art_plugin_api::pack::MODELS_SYMBOL`).
        #[no_mangle]
        pub extern "C" fn art_pack_models_v1() -> $crate::pack::ModelsEntry {
            $crate::pack::ModelsEntry {
                new_model: __art_new_model,
            }
        }

        /// The layout of `ModelsEntry` as this pack compiled it.
        #[no_mangle]
        pub extern "C" fn art_pack_models_v1_layout(
        ) -> &'static $crate::__private::TypeLayout {
            <$crate::pack::ModelsEntry as $crate::__private::StableAbi>::LAYOUT
        }

        fn __art_root_module() -> $crate::PackModRef {
            use $crate::__private::PrefixTypeTrait;
            $crate::PackMod {
                manifest: __art_manifest,
                install_log_sink: __art_install_log_sink,
                new_step: __art_new_step,
                new_check: __art_new_check,
            }
            .leak_into_prefix()
        }

        /// The `abi_stable` library header (what `#[export_root_module]` would generate).
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static ART_PACK_LIB_HEADER: $crate::__private::LibHeader = {
            extern "C" fn erased() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader(__art_root_module)
            }
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::PackModRef>(
                    erased,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
