//! The services the host offers a running step. The host implements [`StepContext`]; packs use
//! it through the friendlier [`Ctx`].

use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::sabi_types::RMut;
use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};

use crate::types::{Batch, DatasetInfo, LogLevel, Metric, Split};

/// Host services for one step run. Every model method acts on the step's own model.
#[sabi_trait]
pub trait StepContext {
    /// What the dataset looks like.
    fn dataset(&self) -> DatasetInfo;
    /// Rows `start..start+len` of a split (clamped to its end), in the host's seeded order.
    fn batch(&self, split: Split, start: u64, len: u64) -> RResult<Batch, RString>;
    /// Re-initialises the step's model with a seed.
    fn model_init(&mut self, seed: u64) -> RResult<(), RString>;
    /// One optimiser step on `batch` at learning rate `lr`; returns the batch loss before it.
    fn train_batch(&mut self, batch: &Batch, lr: f64) -> RResult<f64, RString>;
    /// Trains with the host's loop. `spec_json`: `{"epochs", "lr", "batch_size"}` (all optional).
    fn train(&mut self, spec_json: RStr<'_>) -> RResult<RVec<Metric>, RString>;
    /// Loss and accuracy of the model on a split, named `split.loss` and `split.accuracy`.
    fn evaluate(&mut self, split: Split) -> RResult<RVec<Metric>, RString>;
    /// Logits for a batch, `rows * num_classes` values.
    fn predict(&mut self, batch: &Batch) -> RResult<RVec<f32>, RString>;
    /// Remembers the model's current weights; returns a handle for [`restore`](Self::restore).
    fn checkpoint(&mut self) -> RResult<u64, RString>;
    /// Puts back weights saved by [`checkpoint`](Self::checkpoint).
    fn restore(&mut self, handle: u64) -> RResult<(), RString>;
    /// Metrics of an earlier step in this project, by step id.
    fn earlier_metrics(&self, step_id: RStr<'_>) -> ROption<RVec<Metric>>;
    /// Records a metric of this step (the last value of a name wins).
    fn log_metric(&mut self, name: RStr<'_>, value: f64);
    /// Records a curve of this step.
    fn log_series(&mut self, name: RStr<'_>, xs: RVec<f64>, ys: RVec<f64>);
    /// Writes a line into the host's log.
    fn log(&self, level: LogLevel, message: RStr<'_>);
    /// A folder reserved for this run's files.
    fn artifact_dir(&self) -> RString;
    /// The seed this step must use for anything random.
    fn seed(&self) -> u64;
    /// A host service by name with JSON arguments, answering JSON. New capabilities arrive as
    /// new service names in minor versions, not as new vtable slots, so a pack built against an
    /// older minor keeps its layout and keeps loading. `host_info` lists the services.
    fn call(&mut self, service: RStr<'_>, args_json: RStr<'_>) -> RResult<RString, RString>;
    /// True once the user asked to stop (Ctrl-C): finish quickly.
    #[sabi(last_prefix_field)]
    fn should_stop(&self) -> bool;
}

/// A borrowed host context as it crosses the boundary.
pub type StepContextRef<'a> = StepContext_TO<'a, RMut<'a, ()>>;

/// Wraps a host implementation for passing to a step.
pub fn context_ref<'a, T: StepContext + 'a>(ctx: &'a mut T) -> StepContextRef<'a> {
    StepContext_TO::from_ptr(ctx, TD_Opaque)
}

/// The pack-side view of [`StepContext`]: `Result`s and Rust types instead of FFI ones.
pub struct Ctx<'a> {
    inner: StepContextRef<'a>,
}

impl<'a> Ctx<'a> {
    /// Wraps the object the host passed to `Step::run`.
    pub fn new(inner: StepContextRef<'a>) -> Self {
        Self { inner }
    }

    /// What the dataset looks like.
    pub fn dataset(&self) -> DatasetInfo {
        self.inner.dataset()
    }

    /// Rows `start..start+len` of a split.
    pub fn batch(&self, split: Split, start: u64, len: u64) -> Result<Batch, String> {
        self.inner
            .batch(split, start, len)
            .into_result()
            .map_err(String::from)
    }

    /// Re-initialises the step's model.
    pub fn model_init(&mut self, seed: u64) -> Result<(), String> {
        self.inner
            .model_init(seed)
            .into_result()
            .map_err(String::from)
    }

    /// One optimiser step; returns the batch loss.
    pub fn train_batch(&mut self, batch: &Batch, lr: f64) -> Result<f64, String> {
        self.inner
            .train_batch(batch, lr)
            .into_result()
            .map_err(String::from)
    }

    /// Trains with the host's loop; `spec` is `{"epochs", "lr", "batch_size"}`.
    pub fn train(&mut self, spec: &serde_json::Value) -> Result<Vec<Metric>, String> {
        let text = spec.to_string();
        self.inner
            .train(RStr::from(text.as_str()))
            .into_result()
            .map(RVec::into_vec)
            .map_err(String::from)
    }

    /// Loss and accuracy on a split.
    pub fn evaluate(&mut self, split: Split) -> Result<Vec<Metric>, String> {
        self.inner
            .evaluate(split)
            .into_result()
            .map(RVec::into_vec)
            .map_err(String::from)
    }

    /// Logits for a batch.
    pub fn predict(&mut self, batch: &Batch) -> Result<Vec<f32>, String> {
        self.inner
            .predict(batch)
            .into_result()
            .map(RVec::into_vec)
            .map_err(String::from)
    }

    /// Saves the model's weights in the host; returns a handle.
    pub fn checkpoint(&mut self) -> Result<u64, String> {
        self.inner.checkpoint().into_result().map_err(String::from)
    }

    /// Restores weights saved by [`checkpoint`](Self::checkpoint).
    pub fn restore(&mut self, handle: u64) -> Result<(), String> {
        self.inner
            .restore(handle)
            .into_result()
            .map_err(String::from)
    }

    /// Metric `name` of an earlier step `step_id`.
    pub fn earlier_metric(&self, step_id: &str, name: &str) -> Option<f64> {
        self.inner
            .earlier_metrics(RStr::from(step_id))
            .into_option()?
            .iter()
            .find(|m| m.name.as_str() == name)
            .map(|m| m.value)
    }

    /// Records a metric.
    pub fn log_metric(&mut self, name: &str, value: f64) {
        self.inner.log_metric(RStr::from(name), value)
    }

    /// Records a curve.
    pub fn log_series(&mut self, name: &str, xs: Vec<f64>, ys: Vec<f64>) {
        self.inner
            .log_series(RStr::from(name), RVec::from(xs), RVec::from(ys))
    }

    /// Writes a line into the host's log.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, RStr::from(message))
    }

    /// The folder for this run's files.
    pub fn artifact_dir(&self) -> std::path::PathBuf {
        self.inner.artifact_dir().into_string().into()
    }

    /// The seed for this step.
    pub fn seed(&self) -> u64 {
        self.inner.seed()
    }

    /// Calls a host service (see `host_info`); an unknown service is an error naming it.
    pub fn call(
        &mut self,
        service: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let text = args.to_string();
        let answer = self
            .inner
            .call(RStr::from(service), RStr::from(text.as_str()))
            .into_result()
            .map_err(String::from)?;
        serde_json::from_str(answer.as_str())
            .map_err(|e| format!("host service `{service}` answered bad JSON: {e}"))
    }

    /// Gradient health of the step's model on training rows `start..start+len` (API 1.1):
    /// `{"loss", "layers": [{"layer", "weight_grad_norm", "bias_grad_norm", "dead_fraction"}]}`.
    pub fn gradient_stats(&mut self, start: u64, len: u64) -> Result<serde_json::Value, String> {
        self.call(
            "gradient_stats",
            &serde_json::json!({"start": start, "len": len}),
        )
    }

    /// True once the user asked to stop.
    pub fn should_stop(&self) -> bool {
        self.inner.should_stop()
    }
}
