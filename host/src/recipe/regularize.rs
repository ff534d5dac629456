//! `regularize`: trade some training fit for validation performance. Tries a list of configs
//! (dropout, weight decay, image-shift augmentation, early stopping, ...), each on top of the
//! base training; configs already tried (in this list or an earlier run) are not retrained.
//! The best one by `select` becomes the step's result and its `best_config`.

use serde::Deserialize;

use super::trials::{self, Overrides};
use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "regularize",
    summary: "Try regularisers (dropout, weight decay, shifts, early stopping); keep the best",
    revision: 1,
    default_checks: &["valid.accuracy >= @overfit.valid.accuracy"],
    needs_model: true,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    epochs: usize,
    lr: f64,
    batch_size: usize,
    /// Start from the best config of an earlier step.
    from: Option<String>,
    /// The configs to try.
    configs: Vec<Overrides>,
    /// Metric that picks the winner.
    select: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            epochs: 30,
            lr: 3e-3,
            batch_size: 64,
            from: None,
            configs: vec![
                Overrides {
                    dropout: Some(0.2),
                    ..Overrides::default()
                },
                Overrides {
                    weight_decay: Some(1e-4),
                    ..Overrides::default()
                },
                Overrides {
                    augment_shift: Some(1),
                    ..Overrides::default()
                },
                Overrides {
                    early_stopping: Some(5),
                    epochs: Some(60),
                    ..Overrides::default()
                },
            ],
            select: "valid.accuracy".into(),
        }
    }
}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if c.configs.is_empty() {
        return Err(ConfigError::at(
            "configs",
            "give at least one config to try",
        ));
    }
    super::base_spec(c.epochs, c.lr, c.batch_size)?;
    Ok(Box::new(c))
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let net = cx.net_config()?;
        let base =
            super::base_spec(self.epochs, self.lr, self.batch_size).map_err(|e| e.message)?;
        let start = trials::start_from(cx, self.from.as_deref())?;
        let candidates = self.configs.iter().map(|c| Ok(c.clone()));
        let jobs = trials::distinct_jobs(&start, candidates, cx.seed, usize::MAX)?;
        let results = trials::run_all(&cx.trial_env(), &net, &base, &jobs, false)?;
        let chosen = trials::best(&results, &self.select)
            .ok_or_else(|| format!("no trial recorded `{}`", self.select))?
            .clone();
        trials::report(cx, &results, &chosen, &self.select);
        cx.metric(
            "trials.duplicates",
            (self.configs.len() - results.len()) as f64,
        );
        Ok(format!(
            "best of {} configs: {} = {:.4} with {}",
            results.len(),
            self.select,
            chosen.metrics[&self.select],
            chosen.overrides.canonical()
        ))
    }
}
