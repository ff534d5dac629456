//! The built-in recipe: Karpathy's steps as code, one file each. Every step has defaults that
//! make sense without config and a typical check it brings when the project names none.

pub mod check_loss_on_init;
pub mod data_analysis;
pub mod evaluate_baseline;
pub mod overfit;
pub mod overfit_one_batch;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::data::Splits;
use crate::models::ModelSpec;
use crate::store::SeriesRecord;
use crate::train::Session;

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
    /// Metrics of earlier steps, by step id.
    pub earlier: &'a dyn Fn(&str) -> Option<BTreeMap<String, f64>>,
    session: Option<Session>,
}

impl<'a> StepCx<'a> {
    /// A context for one step run.
    pub fn new(
        step_id: &'a str,
        splits: &'a Splits,
        model: Option<(&'a str, &'a ModelSpec)>,
        seed: u64,
        artifact_dir: PathBuf,
        earlier: &'a dyn Fn(&str) -> Option<BTreeMap<String, f64>>,
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
            session: None,
        }
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
            let (name, spec) = self.model.ok_or(
                "this step needs a model: add `model = \"NAME\"` and a [models.NAME] table",
            )?;
            let net = spec.net().ok_or_else(|| {
                format!(
                    "model `{name}` is a `{}` baseline, which does not train; use an mlp or linear model",
                    spec.kind()
                )
            })?;
            let s = &self.splits.train;
            self.session = Some(Session::new(&net, s.num_features, s.num_classes, self.seed));
        }
        Ok(self.session.as_mut().expect("created above"))
    }

    /// Records loss and accuracy of the step's network on both splits, as `train.*`, `valid.*`.
    pub fn record_eval(&mut self) -> Result<(), String> {
        let splits = self.splits;
        let session = self.session()?;
        let (tl, ta) = session.evaluate(&splits.train);
        let (vl, va) = session.evaluate(&splits.valid);
        self.metric("train.loss", tl);
        self.metric("train.accuracy", ta);
        if !splits.valid.is_empty() {
            self.metric("valid.loss", vl);
            self.metric("valid.accuracy", va);
        }
        Ok(())
    }
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
        check_loss_on_init::BUILTIN,
        overfit_one_batch::BUILTIN,
        overfit::BUILTIN,
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
