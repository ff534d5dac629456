//! `squeeze`: the last drops of performance from the best config found so far. An ensemble of
//! `seeds` models with averaged predicted probabilities, optionally trained `epochs_factor`
//! times longer; reports the gain over the single model.

use serde::Deserialize;

use super::trials::{self, Overrides};
use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};
use crate::models::loss_and_accuracy;

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "squeeze",
    summary: "Ensemble of N seeds (and/or longer training) of the best config; reports the gain",
    revision: 1,
    default_checks: &["squeeze.gain >= 0"],
    needs_model: true,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Step whose best_config to use; default: `tune`, else `regularize`, else the base.
    from: Option<String>,
    seeds: usize,
    epochs_factor: f64,
    epochs: usize,
    lr: f64,
    batch_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            from: None,
            seeds: 5,
            epochs_factor: 1.0,
            epochs: 30,
            lr: 3e-3,
            batch_size: 64,
        }
    }
}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if c.seeds == 0 {
        return Err(ConfigError::at("seeds", "seeds must be >= 1"));
    }
    if !(c.epochs_factor > 0.0 && c.epochs_factor.is_finite()) {
        return Err(ConfigError::at(
            "epochs_factor",
            "epochs_factor must be > 0",
        ));
    }
    Ok(Box::new(c))
}

fn softmax_rows(logits: &[f32], classes: usize, acc: &mut [f64]) {
    for (row, out) in logits
        .chunks_exact(classes)
        .zip(acc.chunks_exact_mut(classes))
    {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
        for (o, &v) in out.iter_mut().zip(row) {
            *o += f64::from(v - max).exp() / sum;
        }
    }
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let net = cx.net_config()?;
        let base =
            super::base_spec(self.epochs, self.lr, self.batch_size).map_err(|e| e.message)?;
        let (source, best) = match &self.from {
            Some(step) => (step.clone(), trials::best_config_of(cx, step)?),
            None => ["tune", "regularize"]
                .iter()
                .find_map(|s| {
                    trials::best_config_of(cx, s)
                        .ok()
                        .map(|b| ((*s).to_owned(), b))
                })
                .unwrap_or_else(|| ("the base config".into(), Overrides::default())),
        };
        let (_, spec) = best.apply(&net, &base)?;
        let longer = Overrides {
            epochs: Some(((spec.epochs as f64) * self.epochs_factor).round().max(1.0) as usize),
            ..best.clone()
        };
        let valid = &cx.splits.valid;
        let classes = valid.num_classes;
        let mut probs = vec![0f64; valid.len() * classes];
        let jobs: Vec<trials::Job> = (0..self.seeds)
            .map(|k| trials::Job {
                overrides: longer.clone(),
                seed: cx.seed + k as u64,
            })
            .collect();
        let mut singles = Vec::new();
        for r in trials::run_all(&cx.trial_env(), &net, &base, &jobs, true)? {
            let logits = r.valid_logits.as_ref().ok_or("the trial kept no logits")?;
            softmax_rows(logits, classes, &mut probs);
            singles.push(r.metrics["valid.accuracy"]);
        }
        // Log of averaged probabilities: a valid logit vector for the shared metric code.
        let logits: Vec<f32> = probs
            .iter()
            .map(|p| ((p / self.seeds as f64).max(1e-30)).ln() as f32)
            .collect();
        let (loss, acc) = loss_and_accuracy(&logits, &valid.labels, classes);
        let single = singles[0];
        let mean_single = singles.iter().sum::<f64>() / singles.len() as f64;
        cx.metric("valid.accuracy", acc);
        cx.metric("valid.loss", loss);
        cx.metric("single.valid.accuracy", single);
        cx.metric("members.mean.valid.accuracy", mean_single);
        // Against the members' mean, not seed 0: the config was picked for seed 0's validation
        // score, so that one number is biased upwards.
        cx.metric("squeeze.gain", acc - mean_single);
        cx.metric("squeeze.gain_vs_first", acc - single);
        cx.metric("ensemble.size", self.seeds as f64);
        cx.metric("epochs", longer.epochs.unwrap_or(base.epochs) as f64);
        cx.series(
            "member_valid_accuracy",
            (0..singles.len()).map(|i| i as f64).collect(),
            singles,
        );
        cx.extra = serde_json::json!({"best_config": longer, "from": source});
        Ok(format!(
            "ensemble of {} (config from {source}): valid accuracy {acc:.4} vs {mean_single:.4} for its members on average ({:+.2} points)",
            self.seeds,
            (acc - mean_single) * 100.0
        ))
    }
}
