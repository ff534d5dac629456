//! The built-in recipe: Karpathy's steps as code, one file each. Every step has defaults that
//! make sense without config and a typical check it brings when the project names none.

pub mod batch_independence;
pub mod check_loss_on_init;
pub mod data_analysis;
pub mod evaluate_baseline;
pub mod init_well;
pub mod input_independent_baseline;
pub mod overfit;
pub mod overfit_one_batch;
pub mod regularize;
pub mod squeeze;
pub mod trials;
pub mod tune;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::data::Splits;
use crate::models::ModelSpec;
use crate::store::SeriesRecord;
use crate::train::{Session, TrainSpec};

/// A bad step config: which key (if known) and why.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The offending key, for locating it in `art.toml`.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }
}

/// Deserialises a step config, remembering which key was wrong.
pub fn parse_config<T: DeserializeOwned>(table: &toml::Table) -> Result<T, ConfigError> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let key = if path == "." || path.is_empty() {
            // Unknown fields are reported at the table level: take the name from the message.
            inner.split('`').nth(1).map(str::to_owned)
        } else {
            path.split('.').next().map(str::to_owned)
        };
        ConfigError {
            message: match &key {
                Some(k) if !inner.contains(k.as_str()) => format!("`{k}`: {inner}"),
                _ => inner,
            },
            key,
        }
    })
}

/// What a built-in step can use while it runs.
pub struct StepCx<'a> {
    /// The project's id of this step.
    pub step_id: &'a str,
    /// Train and valid splits.
    pub splits: &'a Splits,
    /// The step's model, if it has one: (name, spec).
    pub model: Option<(&'a str, &'a ModelSpec)>,
    /// The seed for everything random in this step.
    pub seed: u64,
    /// Where to put files.
    pub artifact_dir: PathBuf,
    /// Metrics recorded so far.
    pub metrics: BTreeMap<String, f64>,
    /// Curves recorded so far.
    pub series: Vec<SeriesRecord>,
    /// Results of earlier steps, by step id (this run's, else the latest stored).
    pub earlier: &'a dyn Fn(&str) -> Option<Earlier>,
    /// Structured results for later steps and the store (e.g. `best_config`).
    pub extra: serde_json::Value,
    /// Digest of the dataset (part of trial fingerprints).
    pub dataset_digest: String,
    /// Where finished trials are kept so that a config is never trained twice.
    pub trial_dir: PathBuf,
    /// How many trials may train at once.
    pub threads: usize,
    /// Weights to start the step's model from (`init_from`), and where they came from.
    pub init_weights: Option<(Vec<u8>, String)>,
    session: Option<Session>,
}

/// What a later step can see of an earlier one.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Earlier {
    /// Its metrics.
    #[serde(with = "crate::nonfinite::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Its structured results.
    pub extra: serde_json::Value,
}

impl<'a> StepCx<'a> {
    /// A context for one step run.
    pub fn new(
        step_id: &'a str,
        splits: &'a Splits,
        model: Option<(&'a str, &'a ModelSpec)>,
        seed: u64,
        artifact_dir: PathBuf,
        earlier: &'a dyn Fn(&str) -> Option<Earlier>,
    ) -> Self {
        Self {
            step_id,
            splits,
            model,
            seed,
            artifact_dir,
            metrics: BTreeMap::new(),
            series: Vec::new(),
            earlier,
            extra: serde_json::Value::Null,
            dataset_digest: String::new(),
            trial_dir: PathBuf::new(),
            threads: 1,
            init_weights: None,
            session: None,
        }
    }

    /// The step's model, if the step created one (what its checkpoint saves).
    pub fn trained_session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Records a metric (the last value of a name wins).
    pub fn metric(&mut self, name: impl Into<String>, value: f64) {
        self.metrics.insert(name.into(), value);
    }

    /// Records a curve.
    pub fn series(&mut self, name: &str, xs: Vec<f64>, ys: Vec<f64>) {
        self.series.retain(|s| s.name != name);
        self.series.push(SeriesRecord {
            name: name.to_owned(),
            xs,
            ys,
        });
    }

    /// The step's network, created (with the step's seed) on first use.
    pub fn session(&mut self) -> Result<&mut Session, String> {
        if self.session.is_none() {
            let net = self.net_config()?;
            let mut session = self.new_session(&net, self.seed)?;
            if let Some((bytes, from)) = &self.init_weights {
                session
                    .load_weights(bytes)
                    .map_err(|e| format!("init_from {from}: {e}"))?;
                tracing::debug!("step {} starts from the weights of {from}", self.step_id);
            }
            self.session = Some(session);
        }
        Ok(self.session.as_mut().expect("created above"))
    }

    /// The step's network config, or why it has none.
    pub fn net_config(&self) -> Result<crate::models::net::NetConfig, String> {
        let (name, spec) = self
            .model
            .ok_or("this step needs a model: add `model = \"NAME\"` and a [models.NAME] table")?;
        spec.net().ok_or_else(|| {
            format!(
                "model `{name}` is a `{}` baseline, which does not train; use an mlp, cnn or linear model",
                spec.kind()
            )
        })
    }

    /// A fresh network of the step's model with `seed` (not the step's shared one).
    pub fn new_session(
        &self,
        net: &crate::models::net::NetConfig,
        seed: u64,
    ) -> Result<Session, String> {
        let s = &self.splits.train;
        Session::new(net, s.num_features, s.num_classes, seed)
    }

    /// What trials need, shareable across threads.
    pub fn trial_env(&self) -> trials::TrialEnv<'_> {
        trials::TrialEnv {
            splits: self.splits,
            digest: &self.dataset_digest,
            dir: &self.trial_dir,
            threads: self.threads,
        }
    }

    /// Records loss and accuracy of the step's network on both splits, as `train.*`, `valid.*`.
    pub fn record_eval(&mut self) -> Result<(), String> {
        let splits = self.splits;
        let session = self.session()?;
        let (tl, ta) = session.evaluate(&splits.train)?;
        let (vl, va) = session.evaluate(&splits.valid)?;
        self.metric("train.loss", tl);
        self.metric("train.accuracy", ta);
        if !splits.valid.is_empty() {
            self.metric("valid.loss", vl);
            self.metric("valid.accuracy", va);
        }
        Ok(())
    }
}

/// The training knobs steps take at top level (`epochs`, `lr`, `batch_size`), on the
/// defaults for the rest, refused with a config error when meaningless.
pub fn base_spec(epochs: usize, lr: f64, batch_size: usize) -> Result<TrainSpec, ConfigError> {
    let spec = TrainSpec {
        epochs,
        lr,
        batch_size,
        ..TrainSpec::default()
    };
    spec.validate()
        .map_err(|message| ConfigError { key: None, message })?;
    Ok(spec)
}

/// A built-in step, ready to run.
pub trait RecipeStep {
    /// Runs; returns the summary line.
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String>;
}

/// Factory of a built-in step from its config table.
pub type Make = fn(&toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError>;

/// A built-in step's description.
pub struct Builtin {
    /// Name, used as `recipe::NAME`.
    pub name: &'static str,
    /// One line for `art-host steps`.
    pub summary: &'static str,
    /// Bumped when the behaviour changes: part of the fingerprint.
    pub revision: u32,
    /// Checks used when the project names none.
    pub default_checks: &'static [&'static str],
    /// Whether the step needs a trainable model.
    pub needs_model: bool,
    /// Builds it from config.
    pub make: Make,
}

/// Every built-in step, in recipe order.
pub fn builtins() -> &'static [Builtin] {
    &[
        data_analysis::BUILTIN,
        evaluate_baseline::BUILTIN,
        input_independent_baseline::BUILTIN,
        check_loss_on_init::BUILTIN,
        init_well::BUILTIN,
        batch_independence::BUILTIN,
        overfit_one_batch::BUILTIN,
        overfit::BUILTIN,
        regularize::BUILTIN,
        tune::BUILTIN,
        squeeze::BUILTIN,
    ]
}

/// The built-in called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    builtins().iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct C {
        epochs: usize,
    }

    #[test]
    fn config_errors_name_the_key() {
        let t: toml::Table = toml::from_str("epochs = \"ten\"").unwrap();
        let e = parse_config::<C>(&t).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("epochs"), "{}", e.message);
        let t: toml::Table = toml::from_str("epochs = 1\nepoch = 2").unwrap();
        let e = parse_config::<C>(&t).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("epoch"), "{}", e.message);
    }

    #[test]
    fn every_default_check_parses() {
        for b in builtins() {
            for c in b.default_checks {
                crate::checks::CheckExpr::parse(c).unwrap();
            }
        }
    }
}
