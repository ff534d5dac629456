//! `data-audit`: look at the data through a trained model. `label-noise` trains the step's
//! model briefly and lists the training examples it finds least believable (high per-sample
//! loss: likely mislabelled); `near-duplicates` finds pairs of training rows that are almost the
//! same (augmented copies, re-scans) that exact-duplicate checks miss.

use art_plugin_api::reexports::serde_json::{self, json, Value};
use art_plugin_api::{
    CheckDecl, CheckResult, Ctx, PackCheck, PackStep, Split, StepDecl, StepOutcome, StepView,
};
use serde::Deserialize;

art_plugin_api::export_pack! {
    name: "data-audit",
    description: "Label-noise suspects by per-sample loss, and near-duplicate rows",
    authors: ["art developers"],
    steps: [
        StepDecl::new("label-noise", "Train briefly, then list training examples with a very high loss", 1,
            json!({"type": "object", "additionalProperties": false, "properties": {
                "epochs": {"type": "integer", "minimum": 1, "default": 10},
                "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.003},
                "threshold": {"type": "number", "exclusiveMinimum": 0, "default": 3.0},
                "max_listed": {"type": "integer", "minimum": 0, "default": 50}}}),
            new_label_noise),
        StepDecl::new("near-duplicates", "Pairs of training rows closer than max_distance (RMS)", 1,
            json!({"type": "object", "additionalProperties": false, "properties": {
                "max_distance": {"type": "number", "minimum": 0, "default": 0.02},
                "max_rows": {"type": "integer", "minimum": 2, "default": 5000}}}),
            new_near_duplicates),
    ],
    checks: [CheckDecl::new("suspects-below", "Pass when at most max_fraction of the training examples are suspects", 1,
        json!({"type": "object", "properties": {"max_fraction": {"type": "number", "default": 0.05}}}), new_suspects_below)],
}

fn config<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("invalid config: {e}"))
}

/// Config of `label-noise`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelNoise {
    /// Epochs of training before judging.
    pub epochs: u64,
    /// Learning rate.
    pub lr: f64,
    /// Per-sample cross-entropy above which an example is a suspect (3.0: p(label) < 5%).
    pub threshold: f64,
    /// How many suspects the artifact lists.
    pub max_listed: usize,
}

impl Default for LabelNoise {
    fn default() -> Self {
        Self {
            epochs: 10,
            lr: 3e-3,
            threshold: 3.0,
            max_listed: 50,
        }
    }
}

fn new_label_noise(v: &Value) -> Result<Box<dyn PackStep>, String> {
    let c: LabelNoise = config(v)?;
    if c.epochs == 0 || c.lr.is_nan() || c.lr <= 0.0 || c.threshold.is_nan() || c.threshold <= 0.0 {
        return Err("epochs must be >= 1, lr and threshold > 0".into());
    }
    Ok(Box::new(c))
}

/// Cross-entropy of each row of `logits` against its label.
pub fn per_sample_loss(logits: &[f32], labels: &[u32], classes: usize) -> Vec<f64> {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&v| (v as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            lse - row[y as usize] as f64
        })
        .collect()
}

impl PackStep for LabelNoise {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<StepOutcome, String> {
        let info = ctx.dataset();
        ctx.model_init(ctx.seed())?;
        ctx.train(&json!({"epochs": self.epochs, "lr": self.lr}))?;
        let classes = info.num_classes as usize;
        let mut scored: Vec<(u64, u32, usize, f64)> = Vec::new();
        let mut start = 0;
        while start < info.train_len {
            let batch = ctx.batch(Split::Train, start, 512)?;
            let logits = ctx.predict(&batch)?;
            for (k, loss) in per_sample_loss(&logits, &batch.labels, classes)
                .into_iter()
                .enumerate()
            {
                let row = &logits[k * classes..(k + 1) * classes];
                let predicted = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
                scored.push((start + k as u64, batch.labels[k], predicted, loss));
            }
            start += batch.rows.max(1);
        }
        let n = scored.len().max(1) as f64;
        let mean = scored.iter().map(|s| s.3).sum::<f64>() / n;
        scored.sort_by(|a, b| b.3.total_cmp(&a.3));
        let suspects: Vec<_> = scored.iter().filter(|s| s.3 > self.threshold).collect();
        ctx.log_metric("audit.suspects", suspects.len() as f64);
        ctx.log_metric("audit.suspect_fraction", suspects.len() as f64 / n);
        ctx.log_metric("audit.mean_loss", mean);
        let listed: Vec<Value> = suspects
            .iter()
            .take(self.max_listed)
            .map(|(row, label, predicted, loss)| json!({"row": row, "label": label, "predicted": predicted, "loss": loss}))
            .collect();
        let path = ctx.artifact_dir().join("label_noise_suspects.json");
        let text =
            serde_json::to_string_pretty(&json!({"threshold": self.threshold, "suspects": listed}))
                .map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(StepOutcome::summary(format!(
            "{} of {} training examples are label-noise suspects (loss > {}); listed in {}",
            suspects.len(),
            scored.len(),
            self.threshold,
            path.display()
        )))
    }
}

/// Config of `near-duplicates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NearDuplicates {
    /// Largest root-mean-square difference of two rows that counts as "the same".
    pub max_distance: f64,
    /// Rows compared at most (the cost is quadratic).
    pub max_rows: u64,
}

impl Default for NearDuplicates {
    fn default() -> Self {
        Self {
            max_distance: 0.02,
            max_rows: 5000,
        }
    }
}

fn new_near_duplicates(v: &Value) -> Result<Box<dyn PackStep>, String> {
    let c: NearDuplicates = config(v)?;
    if c.max_distance < 0.0 || c.max_rows < 2 {
        return Err("max_distance must be >= 0 and max_rows >= 2".into());
    }
    Ok(Box::new(c))
}

/// Pairs (i < j) of rows whose RMS difference is at most `max`.
pub fn close_pairs(features: &[f32], cols: usize, max: f64) -> Vec<(usize, usize)> {
    let rows = features.len() / cols.max(1);
    let limit = max * max * cols as f64;
    let mut out = Vec::new();
    for i in 0..rows {
        let a = &features[i * cols..(i + 1) * cols];
        for j in i + 1..rows {
            let b = &features[j * cols..(j + 1) * cols];
            let mut d = 0f64;
            for (x, y) in a.iter().zip(b) {
                d += f64::from(x - y) * f64::from(x - y);
                if d > limit {
                    break;
                }
            }
            if d <= limit {
                out.push((i, j));
            }
        }
    }
    out
}

impl PackStep for NearDuplicates {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<StepOutcome, String> {
        let info = ctx.dataset();
        let batch = ctx.batch(Split::Train, 0, info.train_len.min(self.max_rows))?;
        let pairs = close_pairs(&batch.features, batch.cols as usize, self.max_distance);
        let mut rows: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        rows.sort_unstable();
        rows.dedup();
        ctx.log_metric("audit.near_duplicate_pairs", pairs.len() as f64);
        ctx.log_metric("audit.rows_with_near_duplicate", rows.len() as f64);
        ctx.log_metric("audit.rows_compared", batch.rows as f64);
        Ok(StepOutcome::summary(format!(
            "{} pairs among {} rows closer than {} (RMS)",
            pairs.len(),
            batch.rows,
            self.max_distance
        )))
    }
}

/// Config of `suspects-below`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuspectsBelow {
    /// Largest acceptable fraction of suspects.
    pub max_fraction: f64,
}

impl Default for SuspectsBelow {
    fn default() -> Self {
        Self { max_fraction: 0.05 }
    }
}

fn new_suspects_below(v: &Value) -> Result<Box<dyn PackCheck>, String> {
    Ok(Box::new(config::<SuspectsBelow>(v)?))
}

impl PackCheck for SuspectsBelow {
    fn evaluate(&self, view: &StepView) -> CheckResult {
        match view.metric("audit.suspect_fraction") {
            Some(f) if f <= self.max_fraction => {
                CheckResult::pass(format!("{:.2}% suspects", f * 100.0))
            }
            Some(f) => CheckResult::fail(format!(
                "{:.2}% of the examples are suspects (limit {:.2}%)",
                f * 100.0,
                self.max_fraction * 100.0
            )),
            None => CheckResult::fail(format!(
                "step `{}` recorded no audit.suspect_fraction (run data-audit::label-noise)",
                view.step_id
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_pairs_finds_only_close_rows() {
        let f = [0.0, 0.0, 0.0, 0.01, 1.0, 1.0];
        assert_eq!(close_pairs(&f, 2, 0.02), vec![(0, 1)]);
    }

    #[test]
    fn per_sample_loss_is_high_for_confident_mistakes() {
        let l = per_sample_loss(&[5.0, 0.0, 0.0, 5.0], &[1, 1], 2);
        assert!(l[0] > 4.9 && l[1] < 0.01, "{l:?}");
    }
}
