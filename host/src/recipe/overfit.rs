//! `overfit`: train the chosen model on the whole training split, large enough to fit it;
//! regularisation comes later. Reports both splits and a per-epoch curve.

use std::time::Instant;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};
use crate::train::TrainSpec;

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "overfit",
    summary: "Train the model on the training split (Adam); reports train.* and valid.*",
    revision: 1,
    default_checks: &["train.accuracy >= 0.99"],
    needs_model: true,
    make,
};

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let mut defaults = toml::Table::new();
    defaults.insert("epochs".into(), toml::Value::Integer(30));
    defaults.insert("lr".into(), toml::Value::Float(3e-3));
    for (k, v) in t {
        defaults.insert(k.clone(), v.clone());
    }
    let spec: TrainSpec = parse_config(&defaults)?;
    spec.validate().map_err(|m| ConfigError {
        key: None,
        message: m,
    })?;
    Ok(Box::new(Overfit(spec)))
}

struct Overfit(TrainSpec);

impl RecipeStep for Overfit {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let splits = cx.splits;
        let seed = cx.seed;
        let started = Instant::now();
        let session = cx.session()?;
        session.track_train_accuracy(true);
        let params = session.num_params();
        let report = session.fit(
            &splits.train,
            Some(&splits.valid),
            &self.0,
            seed,
            |e, loss| {
                tracing::debug!("epoch {}: train loss {loss:.4}", e + 1);
                true
            },
        )?;
        let secs = started.elapsed().as_secs_f64();
        cx.record_eval()?;
        let epochs = report.epoch_loss.len();
        let xs: Vec<f64> = (1..=epochs).map(|e| e as f64).collect();
        cx.series("train_loss", xs.clone(), report.epoch_loss);
        if !report.epoch_accuracy.is_empty() {
            cx.series("train_accuracy", xs.clone(), report.epoch_accuracy);
        }
        if !report.epoch_valid_loss.is_empty() {
            cx.series("valid_loss", xs.clone(), report.epoch_valid_loss);
        }
        if !report.epoch_valid_accuracy.is_empty() {
            cx.series("valid_accuracy", xs, report.epoch_valid_accuracy);
        }
        cx.metric("epochs", epochs as f64);
        cx.metric("model.params", params as f64);
        // Throughput measures the machine, not the model: it goes to `extra`, so that two
        // runs with the same seed store bit-identical metrics.
        cx.extra = serde_json::json!({
            "train_samples_per_s": report.samples as f64 / secs.max(1e-9),
            "train_seconds": secs,
        });
        let batches = report.batch_loss.len();
        cx.series(
            "batch_loss",
            (1..=batches).map(|b| b as f64).collect(),
            report.batch_loss,
        );
        let va = cx
            .metrics
            .get("valid.accuracy")
            .copied()
            .unwrap_or(f64::NAN);
        let tl = cx.metrics.get("train.loss").copied().unwrap_or(f64::NAN);
        Ok(format!(
            "{epochs} epochs in {secs:.1}s: train loss {tl:.4}, valid accuracy {va:.4}"
        ))
    }
}
