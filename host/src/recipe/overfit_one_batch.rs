//! `overfit-one-batch`: a model that cannot drive the loss on a few examples to zero has a bug
//! (wrong labels, a broken loss, a frozen layer). The fastest test there is.

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};
use crate::models::loss_and_accuracy;

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "overfit-one-batch",
    summary: "Train on one small batch until it is memorised; train.* are measured on that batch",
    revision: 1,
    default_checks: &["train.loss < 0.05", "train.accuracy == 1"],
    needs_model: true,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    batch_size: usize,
    iterations: usize,
    lr: f64,
    /// Stop early once the batch loss is below this.
    target_loss: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            batch_size: 32,
            iterations: 300,
            lr: 3e-3,
            target_loss: 1e-3,
        }
    }
}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if c.batch_size == 0 {
        return Err(ConfigError::at("batch_size", "batch_size must be >= 1"));
    }
    if c.iterations == 0 {
        return Err(ConfigError::at("iterations", "iterations must be >= 1"));
    }
    // lr = 0 is allowed on purpose: a frozen model is exactly what this step must catch.
    if !(c.lr >= 0.0 && c.lr.is_finite()) {
        return Err(ConfigError::at(
            "lr",
            format!("lr must be >= 0, got {}", c.lr),
        ));
    }
    Ok(Box::new(c))
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let train = &cx.splits.train;
        let n = self.batch_size.min(train.len());
        let idx: Vec<usize> = (0..n).collect();
        let batch = train.subset(&idx);
        let classes = train.num_classes;
        let session = cx.session()?;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..self.iterations {
            let loss = session.train_batch(&batch.features, &batch.labels, self.lr)?;
            xs.push(i as f64);
            ys.push(loss);
            if !loss.is_finite() {
                return Err(format!("loss became {loss} at iteration {i}: lower lr"));
            }
            if loss < self.target_loss {
                break;
            }
        }
        let (loss, acc) = loss_and_accuracy(&session.logits(&batch)?, &batch.labels, classes);
        let used = xs.len();
        cx.metric("train.loss", loss);
        cx.metric("train.accuracy", acc);
        cx.metric("batch.size", n as f64);
        cx.metric(
            "batch.initial_loss",
            ys.first().copied().unwrap_or(f64::NAN),
        );
        cx.metric("iterations", used as f64);
        cx.series("loss", xs, ys);
        Ok(format!(
            "{n} examples memorised to loss {loss:.4} (accuracy {acc:.3}) in {used} iterations"
        ))
    }
}
