//! `data-analysis`: "become one with the data". Class balance, per-feature statistics,
//! duplicates, conflicting labels and leakage between the splits, before any training.

use std::collections::HashMap;

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};
use crate::data::Dataset;

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "data-analysis",
    summary:
        "Class balance, feature statistics, duplicates, label conflicts and train/valid leakage",
    revision: 1,
    default_checks: &["data.leakage == 0", "data.label_conflicts == 0"],
    needs_model: false,
    make,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let _: Config = parse_config(t)?;
    Ok(Box::new(DataAnalysis))
}

struct DataAnalysis;

fn key(row: &[f32]) -> Vec<u32> {
    row.iter().map(|v| v.to_bits()).collect()
}

impl RecipeStep for DataAnalysis {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let (train, valid) = (&cx.splits.train, &cx.splits.valid);
        let counts = train.class_counts();
        let (min, max) = (
            counts.iter().copied().min().unwrap_or(0),
            counts.iter().copied().max().unwrap_or(0),
        );
        let mut seen: HashMap<Vec<u32>, u32> = HashMap::with_capacity(train.len());
        let (mut duplicates, mut conflicts) = (0usize, 0usize);
        for i in 0..train.len() {
            match seen.insert(key(train.row(i)), train.labels[i]) {
                Some(l) if l != train.labels[i] => conflicts += 1,
                Some(_) => duplicates += 1,
                None => {}
            }
        }
        let mut leakage = 0usize;
        for i in 0..valid.len() {
            if let Some(&l) = seen.get(&key(valid.row(i))) {
                leakage += 1;
                conflicts += usize::from(l != valid.labels[i]);
            }
        }
        let stats = feature_stats(train);
        let constant = stats.iter().filter(|s| s.std == 0.0).count();
        let missing_in_valid = valid.class_counts().iter().filter(|&&c| c == 0).count();

        cx.metric("data.train_size", train.len() as f64);
        cx.metric("data.valid_size", valid.len() as f64);
        cx.metric("data.num_features", train.num_features as f64);
        cx.metric("data.num_classes", train.num_classes as f64);
        cx.metric(
            "data.class_imbalance",
            if min == 0 {
                f64::INFINITY
            } else {
                max as f64 / min as f64
            },
        );
        cx.metric("data.classes_missing_in_valid", missing_in_valid as f64);
        cx.metric("data.duplicates", duplicates as f64);
        cx.metric("data.label_conflicts", conflicts as f64);
        cx.metric("data.leakage", leakage as f64);
        cx.metric("data.constant_features", constant as f64);
        let fmin = stats.iter().map(|s| s.min).fold(f64::INFINITY, f64::min);
        let fmax = stats
            .iter()
            .map(|s| s.max)
            .fold(f64::NEG_INFINITY, f64::max);
        cx.metric("data.feature_min", fmin);
        cx.metric("data.feature_max", fmax);
        cx.series(
            "class_counts",
            (0..counts.len()).map(|c| c as f64).collect(),
            counts.iter().map(|&c| c as f64).collect(),
        );

        std::fs::create_dir_all(&cx.artifact_dir)
            .and_then(|_| {
                let json = serde_json::json!({
                    "class_counts": counts,
                    "features": stats.iter().map(|s| serde_json::json!({
                        "mean": s.mean, "std": s.std, "min": s.min, "max": s.max
                    })).collect::<Vec<_>>(),
                });
                std::fs::write(
                    cx.artifact_dir.join("data_analysis.json"),
                    serde_json::to_vec_pretty(&json).unwrap_or_default(),
                )
            })
            .map_err(|e| format!("cannot write {}: {e}", cx.artifact_dir.display()))?;

        let grid = crate::models::net::image_side(train.num_features).map(|side| {
            let zoom = (32 / side).max(1);
            crate::png::sample_grid(train, side, 10, zoom)
        });
        if let Some(png) = grid {
            let path = cx.artifact_dir.join("samples.png");
            std::fs::write(&path, png)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }

        Ok(format!(
            "{} train / {} valid rows, {} classes (imbalance {:.2}), {duplicates} duplicates, {leakage} leaked, {constant} constant features",
            train.len(),
            valid.len(),
            train.num_classes,
            if min == 0 { f64::INFINITY } else { max as f64 / min as f64 }
        ))
    }
}

struct FeatureStats {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

fn feature_stats(d: &Dataset) -> Vec<FeatureStats> {
    (0..d.num_features)
        .map(|f| {
            let col = (0..d.len()).map(|i| f64::from(d.features[i * d.num_features + f]));
            let n = d.len().max(1) as f64;
            let (mut sum, mut sq, mut min, mut max) = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
            for v in col {
                sum += v;
                sq += v * v;
                min = min.min(v);
                max = max.max(v);
            }
            let mean = sum / n;
            FeatureStats {
                mean,
                std: (sq / n - mean * mean).max(0.0).sqrt(),
                min,
                max,
            }
        })
        .collect()
}
