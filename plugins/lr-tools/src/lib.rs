//! `lr-tools`: learning-rate tools for art, and the reference example of a step pack.
//!
//! - `lr-range-test` (Smith 2017, "Cyclical Learning Rates"): trains a fresh model for a few
//!   batches while the learning rate grows exponentially, records loss against LR, suggests an
//!   LR an order of magnitude below the loss minimum, then puts the weights back.
//! - `loss-decreased`: passes when a step's loss curve fell by a given fraction.
//!
//! Built against `art-plugin-api` only: the model lives in the host.

use art_plugin_api::reexports::serde_json::{self, json, Value};
use art_plugin_api::{
    CheckDecl, CheckResult, Ctx, LogLevel, PackCheck, PackStep, Split, StepDecl, StepOutcome,
    StepView,
};
use serde::Deserialize;

art_plugin_api::export_pack! {
    name: "lr-tools",
    description: "Learning-rate range test and a loss-decreased check",
    authors: ["art developers"],
    steps: [StepDecl::new(
        "lr-range-test",
        "Sweep the learning rate exponentially on a fresh model and suggest one",
        1,
        range_test_schema(),
        new_range_test,
    )],
    checks: [CheckDecl::new(
        "loss-decreased",
        "Pass when the step's loss curve fell by at least min_relative_drop",
        1,
        loss_decreased_schema(),
        new_loss_decreased,
    )],
}

fn from_config<T: for<'de> Deserialize<'de>>(config: &Value) -> Result<T, String> {
    serde_json::from_value(config.clone()).map_err(|e| format!("invalid config: {e}"))
}

/// Config of `lr-range-test`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RangeTest {
    /// First learning rate.
    pub start_lr: f64,
    /// Last learning rate.
    pub end_lr: f64,
    /// Number of batches (and LRs) in the sweep.
    pub num_batches: u32,
    /// Examples per batch.
    pub batch_size: u32,
    /// Stop once the smoothed loss exceeds this multiple of the best one.
    pub divergence_factor: f64,
    /// Weight of the newest loss in the exponential moving average.
    pub smoothing: f64,
}

impl Default for RangeTest {
    fn default() -> Self {
        Self {
            start_lr: 1e-6,
            end_lr: 1.0,
            num_batches: 100,
            batch_size: 64,
            divergence_factor: 4.0,
            smoothing: 0.1,
        }
    }
}

fn range_test_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "start_lr": {"type": "number", "exclusiveMinimum": 0, "default": 1e-6},
            "end_lr": {"type": "number", "exclusiveMinimum": 0, "default": 1.0},
            "num_batches": {"type": "integer", "minimum": 2, "default": 100},
            "batch_size": {"type": "integer", "minimum": 1, "default": 64},
            "divergence_factor": {"type": "number", "exclusiveMinimum": 1, "default": 4.0},
            "smoothing": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.1}
        }
    })
}

fn new_range_test(config: &Value) -> Result<Box<dyn PackStep>, String> {
    let c: RangeTest = from_config(config)?;
    if !(c.start_lr > 0.0 && c.end_lr > c.start_lr) {
        return Err(format!(
            "need 0 < start_lr < end_lr, got start_lr = {} and end_lr = {}",
            c.start_lr, c.end_lr
        ));
    }
    if c.num_batches < 2 || c.batch_size == 0 {
        return Err("num_batches must be >= 2 and batch_size >= 1".into());
    }
    if !(c.smoothing > 0.0 && c.smoothing <= 1.0) || c.divergence_factor <= 1.0 {
        return Err("smoothing must be in (0, 1] and divergence_factor > 1".into());
    }
    Ok(Box::new(c))
}

/// The learning rate of sweep position `i` of `n`: geometric between start and end.
pub fn lr_at(c: &RangeTest, i: u32) -> f64 {
    let t = f64::from(i) / f64::from(c.num_batches - 1);
    c.start_lr * (c.end_lr / c.start_lr).powf(t)
}

/// Picks the suggested LR from a smoothed curve: a tenth of the LR at the minimum loss, the
/// usual rule of thumb (the minimum itself is already at the edge of divergence).
pub fn suggest(lrs: &[f64], losses: &[f64]) -> Option<(f64, f64)> {
    let (i_min, min) = losses
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((lrs[i_min] / 10.0, min))
}

impl PackStep for RangeTest {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<StepOutcome, String> {
        let data = ctx.dataset();
        if data.train_len == 0 {
            return Err("the training split is empty".into());
        }
        ctx.model_init(ctx.seed())?;
        let before = metric(&ctx.evaluate(Split::Valid)?, "valid.loss");
        let handle = ctx.checkpoint()?;

        let bs = u64::from(self.batch_size).min(data.train_len);
        let (mut lrs, mut smoothed, mut raw) = (Vec::new(), Vec::new(), Vec::new());
        let mut avg = None::<f64>;
        let mut best = f64::INFINITY;
        let mut stopped_early = false;
        for i in 0..self.num_batches {
            if ctx.should_stop() {
                break;
            }
            let start = (u64::from(i) * bs) % data.train_len;
            let batch = ctx.batch(Split::Train, start, bs)?;
            let lr = lr_at(self, i);
            let loss = ctx.train_batch(&batch, lr)?;
            let s = match avg {
                None => loss,
                Some(a) => a + self.smoothing * (loss - a),
            };
            avg = Some(s);
            lrs.push(lr);
            raw.push(loss);
            smoothed.push(s);
            best = best.min(s);
            if !s.is_finite() || s > self.divergence_factor * best {
                ctx.log(
                    LogLevel::Debug,
                    &format!("loss diverged at lr {lr:.3e} (smoothed {s:.4}, best {best:.4})"),
                );
                stopped_early = true;
                break;
            }
        }
        ctx.restore(handle)?;
        let after = metric(&ctx.evaluate(Split::Valid)?, "valid.loss");

        let (suggested, min_loss) =
            suggest(&lrs, &smoothed).ok_or("no finite loss was recorded during the sweep")?;
        let initial = smoothed.first().copied().unwrap_or(f64::NAN);
        ctx.log_metric("lr.suggested", suggested);
        ctx.log_metric("loss.initial", initial);
        ctx.log_metric("loss.min", min_loss);
        ctx.log_metric("lr.batches", lrs.len() as f64);
        ctx.log_metric("lr.diverged", if stopped_early { 1.0 } else { 0.0 });
        // Zero when the weights were really put back: the sweep leaves no trace on the model.
        ctx.log_metric("restore.valid_loss_delta", (after - before).abs());
        ctx.log_series("loss", lrs.clone(), smoothed);
        ctx.log_series("raw_loss", lrs, raw);
        tracing::info!("lr-range-test suggests lr = {suggested:.2e}");
        Ok(StepOutcome::summary(format!(
            "suggested lr {suggested:.2e}; loss {initial:.3} -> {min_loss:.3}"
        )))
    }
}

fn metric(metrics: &[art_plugin_api::Metric], name: &str) -> f64 {
    metrics
        .iter()
        .find(|m| m.name.as_str() == name)
        .map_or(f64::NAN, |m| m.value)
}

/// Config of `loss-decreased`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossDecreased {
    /// Curve to look at.
    pub series: String,
    /// Required fall from the first point to the minimum, as a fraction of the first point.
    pub min_relative_drop: f64,
}

impl Default for LossDecreased {
    fn default() -> Self {
        Self {
            series: "loss".into(),
            min_relative_drop: 0.1,
        }
    }
}

fn loss_decreased_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "series": {"type": "string", "default": "loss"},
            "min_relative_drop": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1}
        }
    })
}

fn new_loss_decreased(config: &Value) -> Result<Box<dyn PackCheck>, String> {
    let c: LossDecreased = from_config(config)?;
    if !(0.0..=1.0).contains(&c.min_relative_drop) {
        return Err(format!(
            "min_relative_drop must be in [0, 1], got {}",
            c.min_relative_drop
        ));
    }
    Ok(Box::new(c))
}

impl PackCheck for LossDecreased {
    fn evaluate(&self, view: &StepView) -> CheckResult {
        let (first, min) = match view.series(&self.series) {
            Some(s) if !s.ys.is_empty() => (
                s.ys[0],
                s.ys.iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(f64::INFINITY, f64::min),
            ),
            _ => match (view.metric("loss.initial"), view.metric("loss.min")) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    let names: Vec<&str> = view.series.iter().map(|s| s.name.as_str()).collect();
                    return CheckResult::fail(format!(
                        "step `{}` recorded no `{}` curve (curves: [{}]) and no loss.initial/loss.min metrics",
                        view.step_id,
                        self.series,
                        names.join(", ")
                    ));
                }
            },
        };
        let drop = (first - min) / first.abs().max(f64::MIN_POSITIVE);
        let text = format!(
            "{} fell from {first:.4} to {min:.4} ({:.1}%, need >= {:.1}%)",
            self.series,
            drop * 100.0,
            self.min_relative_drop * 100.0
        );
        if drop.is_finite() && drop >= self.min_relative_drop {
            CheckResult::pass(text)
        } else {
            CheckResult::fail(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_is_geometric_and_hits_both_ends() {
        let c = RangeTest::default();
        assert!((lr_at(&c, 0) - 1e-6).abs() < 1e-18);
        assert!((lr_at(&c, c.num_batches - 1) - 1.0).abs() < 1e-12);
        let r1 = lr_at(&c, 1) / lr_at(&c, 0);
        let r2 = lr_at(&c, 50) / lr_at(&c, 49);
        assert!((r1 - r2).abs() < 1e-9);
    }

    #[test]
    fn suggestion_is_a_tenth_of_the_minimum() {
        let lrs = [1e-4, 1e-3, 1e-2, 1e-1];
        let losses = [2.3, 1.0, 0.5, f64::NAN];
        assert_eq!(suggest(&lrs, &losses), Some((1e-3, 0.5)));
    }

    #[test]
    fn bad_configs_are_refused_with_reasons() {
        let e = new_range_test(&json!({"start_lr": 1.0, "end_lr": 0.1}))
            .err()
            .unwrap();
        assert!(e.contains("start_lr"), "{e}");
        let e = new_range_test(&json!({"epochs": 3})).err().unwrap();
        assert!(e.contains("unknown field `epochs`"), "{e}");
    }
}
