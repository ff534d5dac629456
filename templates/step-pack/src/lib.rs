//! `{{name}}`: an art step pack. Build it with `cargo build --release` and copy
//! `target/release/lib{{crate_name}}.so` (`.dylib` on macOS, `.dll` on Windows) into a
//! project's `plugins/` folder; `art-host steps` then lists `{{name}}::class-shares`.

use art_plugin_api::reexports::serde_json::{self, json, Value};
use art_plugin_api::{
    CheckDecl, CheckResult, Ctx, PackCheck, PackStep, Split, StepDecl, StepOutcome, StepView,
};
use serde::Deserialize;

art_plugin_api::export_pack! {
    name: "{{name}}",
    description: "Class shares of the training split, and a check on the rarest class",
    authors: ["you"],
    steps: [StepDecl::new(
        "class-shares",
        "Share of each class in the training split (read through the host's batches)",
        1,
        json!({"type": "object", "additionalProperties": false,
               "properties": {"batch_size": {"type": "integer", "minimum": 1, "default": 256}}}),
        new_class_shares,
    )],
    checks: [CheckDecl::new(
        "min-share",
        "Pass when the rarest class has at least `min` of the examples",
        1,
        json!({"type": "object", "additionalProperties": false,
               "properties": {"min": {"type": "number", "default": 0.01}}}),
        new_min_share,
    )],
}

/// Config of `class-shares`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassShares {
    /// Rows read per request.
    pub batch_size: u64,
}

impl Default for ClassShares {
    fn default() -> Self {
        Self { batch_size: 256 }
    }
}

fn new_class_shares(config: &Value) -> Result<Box<dyn PackStep>, String> {
    let c: ClassShares =
        serde_json::from_value(config.clone()).map_err(|e| format!("invalid config: {e}"))?;
    if c.batch_size == 0 {
        return Err("batch_size must be >= 1".into());
    }
    Ok(Box::new(c))
}

impl PackStep for ClassShares {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<StepOutcome, String> {
        let info = ctx.dataset();
        let mut counts = vec![0u64; info.num_classes as usize];
        let mut start = 0;
        while start < info.train_len {
            let batch = ctx.batch(Split::Train, start, self.batch_size)?;
            for &l in batch.labels.iter() {
                counts[l as usize] += 1;
            }
            start += batch.rows.max(1);
        }
        let shares = shares(&counts);
        for (class, share) in shares.iter().enumerate() {
            ctx.log_metric(&format!("share.class{class}"), *share);
        }
        let min = shares.iter().copied().fold(f64::INFINITY, f64::min);
        ctx.log_metric("share.min", min);
        Ok(StepOutcome::summary(format!(
            "{} classes; the rarest has {:.1}% of the examples",
            counts.len(),
            min * 100.0
        )))
    }
}

/// Each count as a fraction of the total.
pub fn shares(counts: &[u64]) -> Vec<f64> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.iter().map(|&c| c as f64 / total).collect()
}

/// Config of `min-share`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinShare {
    /// Smallest acceptable share of the rarest class.
    pub min: f64,
}

impl Default for MinShare {
    fn default() -> Self {
        Self { min: 0.01 }
    }
}

fn new_min_share(config: &Value) -> Result<Box<dyn PackCheck>, String> {
    let c: MinShare =
        serde_json::from_value(config.clone()).map_err(|e| format!("invalid config: {e}"))?;
    Ok(Box::new(c))
}

impl PackCheck for MinShare {
    fn evaluate(&self, view: &StepView) -> CheckResult {
        match view.metric("share.min") {
            Some(v) if v >= self.min => {
                CheckResult::pass(format!("rarest class share {v:.4} >= {}", self.min))
            }
            Some(v) => CheckResult::fail(format!("rarest class share {v:.4} < {}", self.min)),
            None => CheckResult::fail(format!(
                "step `{}` recorded no share.min (run it after {{name}}::class-shares)",
                view.step_id
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one() {
        let s = shares(&[1, 3]);
        assert_eq!(s, vec![0.25, 0.75]);
    }

    #[test]
    fn the_check_compares_the_rarest_share() {
        let view = |v: f64| StepView {
            step_id: "class-shares".into(),
            metrics: vec![art_plugin_api::Metric::new("share.min", v)].into(),
            series: Default::default(),
        };
        let check = MinShare { min: 0.05 };
        assert!(check.evaluate(&view(0.1)).passed);
        assert!(!check.evaluate(&view(0.01)).passed);
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let e = new_class_shares(&json!({"batch": 3})).err().unwrap();
        assert!(e.contains("unknown field `batch`"), "{e}");
    }
}
