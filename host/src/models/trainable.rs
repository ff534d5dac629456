//! What a [`Session`](crate::train::Session) trains, whoever wrote it: the built-in networks,
//! a burn user's own module ([`ArtModel`](super::art_model::ArtModel)), or a model a pack
//! exports through the ABI. The training loop, metrics and checks live in the session; a
//! `Trainable` only runs one batch, predicts, and saves or loads its weights.
//!
//! Models other than the built-in kinds are found by name in a process-wide registry: a burn
//! user registers theirs before running a project, and loading a pack registers its models as
//! `pack::model`. The registry is global because packs are: a library loaded once serves every
//! project this process runs.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

/// Saved weights held in memory (checkpoint/restore within a step).
pub type Snapshot = Box<dyn Any + Send>;

/// One model being trained.
pub trait Trainable: Send {
    /// Fresh weights from `seed`, and a fresh optimiser.
    fn reinit(&mut self, seed: u64) -> Result<(), String>;
    /// One optimiser step on a checked batch at `lr` (0: loss only): (loss, rows right).
    /// Rows right are counted only when `count_correct` (it costs an argmax per batch).
    fn step(
        &mut self,
        features: Vec<f32>,
        labels: &[u32],
        lr: f64,
        count_correct: bool,
    ) -> Result<(f64, usize), String>;
    /// Uses L2 weight decay `wd` from now on (resets the optimiser if it changes).
    fn set_weight_decay(&mut self, wd: f64) -> Result<(), String>;
    /// Logits of `rows` rows, evaluation mode.
    fn logits(&self, features: &[f32], rows: usize) -> Result<Vec<f32>, String>;
    /// Number of trainable parameters.
    fn num_params(&self) -> usize;
    /// The weights as bytes (burn's recorder for burn models).
    fn save(&self) -> Result<Vec<u8>, String>;
    /// Weights from [`Trainable::save`]; resets the optimiser.
    fn load(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// The weights, kept in memory.
    fn snapshot(&self) -> Result<Snapshot, String> {
        self.save().map(|b| Box::new(b) as Snapshot)
    }
    /// Back to a [`Trainable::snapshot`]; resets the optimiser.
    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), String> {
        let bytes = snapshot
            .downcast_ref::<Vec<u8>>()
            .ok_or("a snapshot of another model")?;
        self.load(bytes)
    }
    /// Karpathy's "init well": output bias = `log_priors`, output weights scaled.
    fn init_well(&mut self, log_priors: &[f32], weight_scale: f32) -> Result<(), String> {
        let _ = (log_priors, weight_scale);
        Err("this model cannot set its output bias (init-well)".into())
    }
    /// (largest input gradient on a row's own input, largest on other rows') in training
    /// mode: the batch-independence check.
    fn cross_sample_gradients(
        &mut self,
        features: &[f32],
        labels: &[u32],
        probes: &[usize],
    ) -> Result<(f64, f64), String> {
        let _ = (features, labels, probes);
        Err("this model does not expose input gradients".into())
    }
    /// Per-layer gradient norms and dead units (the grad-health service).
    fn gradient_stats(
        &mut self,
        features: &[f32],
        labels: &[u32],
    ) -> Result<serde_json::Value, String> {
        let _ = (features, labels);
        Err(
            "gradient statistics are available for the built-in mlp, cnn and linear models only"
                .into(),
        )
    }
}

/// What a model is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Features per row.
    pub inputs: usize,
    /// Classes (logits per row).
    pub classes: usize,
}

impl Shape {
    /// The side of square one-channel images of this many features, if they are square.
    pub fn image_side(&self) -> Option<usize> {
        super::net::image_side(self.inputs)
    }
}

/// Builds a model from its `[models.NAME]` config (everything but `kind`) for data of
/// `shape`, with initial weights from `seed`.
pub type Factory =
    Arc<dyn Fn(&serde_json::Value, Shape, u64) -> Result<Box<dyn Trainable>, String> + Send + Sync>;

fn registry() -> &'static RwLock<BTreeMap<String, Factory>> {
    static REGISTRY: std::sync::OnceLock<RwLock<BTreeMap<String, Factory>>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(BTreeMap::new()))
}

/// Registers a model kind under `kind` (replacing one of the same name).
pub fn register_factory(kind: &str, factory: Factory) {
    registry()
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(kind.to_owned(), factory);
}

/// The factory of a registered kind.
pub fn factory(kind: &str) -> Option<Factory> {
    registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(kind)
        .cloned()
}

/// Every registered kind, sorted.
pub fn registered() -> Vec<String> {
    registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .keys()
        .cloned()
        .collect()
}

/// Builds a registered model, or says which kinds exist.
pub fn build(
    kind: &str,
    config: &serde_json::Value,
    shape: Shape,
    seed: u64,
) -> Result<Box<dyn Trainable>, String> {
    let f = factory(kind).ok_or_else(|| missing(kind))?;
    f(config, shape, seed)
}

/// Why `kind` cannot be built, and what to do.
pub fn missing(kind: &str) -> String {
    if let Some((pack, _)) = kind.split_once("::") {
        return format!(
            "model kind `{kind}` comes from pack `{pack}`, which is not loaded: install it into plugins/ (art-host plugins list shows what loaded and why not)"
        );
    }
    let known = registered();
    format!(
        "unknown model kind `{kind}`: built-in kinds are {}{}; a library user registers theirs with art_host::models::register",
        super::BUILTIN_KINDS.join(", "),
        if known.is_empty() {
            String::new()
        } else {
            format!("; registered: {}", known.join(", "))
        }
    )
}
