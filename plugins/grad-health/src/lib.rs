//! `grad-health`: is the gradient reaching every layer, and are ReLU units alive? Measures, per
//! dense layer, the L2 norm of the weight gradient on a batch and the fraction of hidden units
//! that output zero for every example — at init and after a short training run — through the
//! host's `gradient_stats` service (art-plugin-api 1.1).

use art_plugin_api::reexports::serde_json::{self, json, Value};
use art_plugin_api::{
    CheckDecl, CheckResult, Ctx, PackCheck, PackStep, StepDecl, StepOutcome, StepView,
};
use serde::Deserialize;

art_plugin_api::export_pack! {
    name: "grad-health",
    description: "Gradient norms per layer and dead ReLU units, with checks on both",
    authors: ["art developers"],
    steps: [StepDecl::new(
        "grad-health",
        "Per-layer gradient norms and dead-unit fractions, at init and after a short training",
        1,
        json!({"type": "object", "additionalProperties": false, "properties": {
            "batch_size": {"type": "integer", "minimum": 1, "default": 128},
            "epochs": {"type": "integer", "minimum": 1, "default": 3},
            "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.003}}}),
        new_step,
    )],
    checks: [
        CheckDecl::new("gradients-flow", "Every layer's weight gradient norm is at least min_norm", 1,
            json!({"type": "object", "properties": {"min_norm": {"type": "number", "default": 1e-6}}}), new_flow),
        CheckDecl::new("no-dead-units", "No hidden layer has more than max_dead of its units dead", 1,
            json!({"type": "object", "properties": {"max_dead": {"type": "number", "default": 0.5}}}), new_dead),
    ],
}

fn config<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("invalid config: {e}"))
}

/// Config of the `grad-health` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradHealth {
    /// Training rows the statistics are taken on.
    pub batch_size: u64,
    /// Epochs of the short training run between the two measurements.
    pub epochs: u64,
    /// Its learning rate.
    pub lr: f64,
}

impl Default for GradHealth {
    fn default() -> Self {
        Self {
            batch_size: 128,
            epochs: 3,
            lr: 3e-3,
        }
    }
}

fn new_step(v: &Value) -> Result<Box<dyn PackStep>, String> {
    let c: GradHealth = config(v)?;
    if c.batch_size == 0 || c.epochs == 0 || c.lr.is_nan() || c.lr <= 0.0 {
        return Err("batch_size and epochs must be >= 1 and lr > 0".into());
    }
    Ok(Box::new(c))
}

/// Records one measurement under `prefix`; returns (min weight-gradient norm, max dead fraction).
fn record(ctx: &mut Ctx<'_>, prefix: &str, stats: &Value) -> (f64, f64) {
    let (mut min_norm, mut max_dead) = (f64::INFINITY, 0f64);
    for layer in stats["layers"].as_array().into_iter().flatten() {
        let i = layer["layer"].as_u64().unwrap_or(0);
        if let Some(n) = layer["weight_grad_norm"].as_f64() {
            ctx.log_metric(&format!("{prefix}layer{i}.weight_grad_norm"), n);
            min_norm = min_norm.min(n);
        }
        if let Some(d) = layer["dead_fraction"].as_f64() {
            ctx.log_metric(&format!("{prefix}layer{i}.dead_fraction"), d);
            max_dead = max_dead.max(d);
        }
    }
    (min_norm, max_dead)
}

impl PackStep for GradHealth {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<StepOutcome, String> {
        ctx.model_init(ctx.seed())?;
        let before = ctx.gradient_stats(0, self.batch_size)?;
        let (init_min, init_dead) = record(ctx, "init.", &before);
        ctx.train(&json!({"epochs": self.epochs, "lr": self.lr}))?;
        let after = ctx.gradient_stats(0, self.batch_size)?;
        let (min_norm, max_dead) = record(ctx, "", &after);
        ctx.log_metric("init.grad.min_weight_norm", init_min);
        ctx.log_metric("init.dead.max", init_dead);
        ctx.log_metric("grad.min_weight_norm", min_norm);
        ctx.log_metric("dead.max", max_dead);
        Ok(StepOutcome::summary(format!(
            "smallest layer gradient norm {min_norm:.3e}, at most {:.1}% dead units after {} epochs",
            max_dead * 100.0,
            self.epochs
        )))
    }
}

/// Config of `gradients-flow`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Flow {
    /// Smallest acceptable weight-gradient norm of any layer.
    pub min_norm: f64,
}

impl Default for Flow {
    fn default() -> Self {
        Self { min_norm: 1e-6 }
    }
}

fn new_flow(v: &Value) -> Result<Box<dyn PackCheck>, String> {
    Ok(Box::new(config::<Flow>(v)?))
}

impl PackCheck for Flow {
    fn evaluate(&self, view: &StepView) -> CheckResult {
        match view.metric("grad.min_weight_norm") {
            Some(n) if n >= self.min_norm => CheckResult::pass(format!(
                "smallest layer gradient norm {n:.3e} >= {:.1e}",
                self.min_norm
            )),
            Some(n) => CheckResult::fail(format!(
                "a layer's gradient norm is {n:.3e} < {:.1e}: vanishing gradient",
                self.min_norm
            )),
            None => CheckResult::fail(format!(
                "step `{}` recorded no grad.min_weight_norm (run grad-health::grad-health)",
                view.step_id
            )),
        }
    }
}

/// Config of `no-dead-units`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dead {
    /// Largest acceptable fraction of dead units in any hidden layer.
    pub max_dead: f64,
}

impl Default for Dead {
    fn default() -> Self {
        Self { max_dead: 0.5 }
    }
}

fn new_dead(v: &Value) -> Result<Box<dyn PackCheck>, String> {
    let c: Dead = config(v)?;
    if !(0.0..=1.0).contains(&c.max_dead) {
        return Err(format!("max_dead must be in [0, 1], got {}", c.max_dead));
    }
    Ok(Box::new(c))
}

impl PackCheck for Dead {
    fn evaluate(&self, view: &StepView) -> CheckResult {
        match view.metric("dead.max") {
            Some(d) if d <= self.max_dead => {
                CheckResult::pass(format!("at most {:.1}% dead units", d * 100.0))
            }
            Some(d) => CheckResult::fail(format!(
                "{:.1}% of a layer's units are dead (limit {:.1}%)",
                d * 100.0,
                self.max_dead * 100.0
            )),
            None => CheckResult::fail(format!(
                "step `{}` recorded no dead.max (run grad-health::grad-health)",
                view.step_id
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(pairs: &[(&str, f64)]) -> StepView {
        StepView {
            step_id: "g".into(),
            metrics: pairs
                .iter()
                .map(|(k, v)| art_plugin_api::Metric::new(*k, *v))
                .collect(),
            series: Default::default(),
        }
    }

    #[test]
    fn checks_compare_with_their_limits_and_name_missing_metrics() {
        assert!(
            Flow::default()
                .evaluate(&view(&[("grad.min_weight_norm", 1e-3)]))
                .passed
        );
        assert!(
            !Flow::default()
                .evaluate(&view(&[("grad.min_weight_norm", 1e-9)]))
                .passed
        );
        assert!(Dead::default().evaluate(&view(&[("dead.max", 0.1)])).passed);
        let r = Dead::default().evaluate(&view(&[]));
        assert!(!r.passed && r.message.contains("dead.max"));
        assert!(new_dead(&json!({"max_dead": 2.0})).is_err());
    }
}
