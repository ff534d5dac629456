//! Plain data that crosses the boundary: every type is `#[repr(C)]` and `StableAbi`.

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

/// Which part of the project's dataset a request is about.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training split.
    Train,
    /// The validation split.
    Valid,
}

impl Split {
    /// The prefix metrics of this split carry (`train.loss`, `valid.accuracy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
        }
    }
}

/// Severity of a log line forwarded into the host's `tracing`.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Progress a user wants to see.
    Info,
    /// Detail for `-v`.
    Debug,
    /// Detail for `-vv`.
    Trace,
}

/// One named scalar, such as `train.loss`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct Metric {
    /// Dotted name: `split.quantity` or `step-specific.quantity`.
    pub name: RString,
    /// The value; NaN means "could not be measured".
    pub value: f64,
}

impl Metric {
    /// A metric from a name and a value.
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: RString::from(name.into()),
            value,
        }
    }
}

/// A curve, such as loss per learning rate.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Name of the curve (`loss`, `lr`).
    pub name: RString,
    /// X values.
    pub xs: RVec<f64>,
    /// Y values, as many as `xs`.
    pub ys: RVec<f64>,
}

/// What a pack may know about the project's dataset.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// Name of the dataset (`digits`, a file name).
    pub name: RString,
    /// Number of input features per example.
    pub num_features: u64,
    /// Number of classes.
    pub num_classes: u32,
    /// Examples in the training split.
    pub train_len: u64,
    /// Examples in the validation split.
    pub valid_len: u64,
}

/// A batch of examples: row-major `f32` features and one label per row.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// `rows * cols` values, row after row.
    pub features: RVec<f32>,
    /// Number of rows (examples).
    pub rows: u64,
    /// Number of columns (features per example).
    pub cols: u64,
    /// Class of each row, `rows` of them.
    pub labels: RVec<u32>,
}

/// What a step returns when it finished.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Default)]
pub struct StepOutcome {
    /// One line for the summary table.
    pub summary: RString,
    /// Anything else as a JSON object (may be empty): stored with the run as is.
    pub extra_json: RString,
}

impl StepOutcome {
    /// An outcome with a summary line and nothing else.
    pub fn summary(text: impl Into<String>) -> Self {
        Self {
            summary: RString::from(text.into()),
            extra_json: RString::new(),
        }
    }
}

/// What a check sees of the step it gates.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Default)]
pub struct StepView {
    /// The step's id in the project (`overfit`, `lr-range-test`).
    pub step_id: RString,
    /// Every metric the step recorded.
    pub metrics: RVec<Metric>,
    /// Every curve the step recorded.
    pub series: RVec<Series>,
}

impl StepView {
    /// The value of metric `name`, if the step recorded it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name.as_str() == name)
            .map(|m| m.value)
    }

    /// The curve `name`, if the step recorded it.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name.as_str() == name)
    }
}

/// The verdict of a check.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// Whether the gate opens.
    pub passed: bool,
    /// Why, in one line, with the numbers.
    pub message: RString,
}

impl CheckResult {
    /// A passing verdict.
    pub fn pass(message: impl Into<String>) -> Self {
        Self {
            passed: true,
            message: RString::from(message.into()),
        }
    }

    /// A failing verdict.
    pub fn fail(message: impl Into<String>) -> Self {
        Self {
            passed: false,
            message: RString::from(message.into()),
        }
    }
}

/// What one training step of a pack model measured.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainStats {
    /// Mean loss of the batch before the update.
    pub loss: f64,
    /// Rows of the batch the model classified right before the update.
    pub correct: u64,
}

/// The data a pack model is built for.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    /// Features per row (row-major `f32`).
    pub inputs: u64,
    /// Number of classes (logits per row).
    pub classes: u32,
    /// Seed for the initial weights.
    pub seed: u64,
}
