//! `evaluate-baseline`: the dumb models a real one must beat. `majority` (class priors),
//! `prototype` (nearest class centroid) and `linear` (logistic regression, trained).

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};
use crate::models::baselines::{Majority, Prototype};
use crate::models::loss_and_accuracy;
use crate::models::net::NetConfig;
use crate::train::{Session, TrainSpec};

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "evaluate-baseline",
    summary:
        "Score the majority, nearest-centroid and linear baselines; valid.accuracy is the best",
    revision: 1,
    default_checks: &["prototype.valid.accuracy > majority.valid.accuracy"],
    needs_model: false,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    baselines: Vec<String>,
    linear_epochs: usize,
    linear_lr: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            baselines: vec!["majority".into(), "prototype".into()],
            linear_epochs: 20,
            linear_lr: 1e-2,
        }
    }
}

const KNOWN: [&str; 3] = ["majority", "prototype", "linear"];

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if c.baselines.is_empty() {
        return Err(ConfigError::at("baselines", "name at least one baseline"));
    }
    for b in &c.baselines {
        if !KNOWN.contains(&b.as_str()) {
            return Err(ConfigError::at(
                "baselines",
                format!(
                    "unknown baseline `{b}`{}; known: {}",
                    crate::project::did_you_mean(b, KNOWN),
                    KNOWN.join(", ")
                ),
            ));
        }
    }
    Ok(Box::new(c))
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let (train, valid) = (&cx.splits.train, &cx.splits.valid);
        let classes = train.num_classes;
        let mut best: Option<(String, f64, f64, f64)> = None;
        let mut parts = Vec::new();
        for name in &self.baselines {
            let (train_logits, valid_logits) = match name.as_str() {
                "majority" => {
                    let m = Majority::fit(train);
                    (m.logits(train), m.logits(valid))
                }
                "prototype" => {
                    let m = Prototype::fit(train);
                    (m.logits(train), m.logits(valid))
                }
                _ => {
                    let net = NetConfig::mlp(vec![], 0.0);
                    let mut s = Session::new(&net, train.num_features, classes, cx.seed)?;
                    let spec = TrainSpec {
                        epochs: self.linear_epochs,
                        lr: self.linear_lr,
                        ..TrainSpec::default()
                    };
                    s.fit(train, None, &spec, cx.seed, |_, _| true)?;
                    (s.logits(train)?, s.logits(valid)?)
                }
            };
            let (_, train_acc) = loss_and_accuracy(&train_logits, &train.labels, classes);
            let (valid_loss, valid_acc) = loss_and_accuracy(&valid_logits, &valid.labels, classes);
            cx.metric(format!("{name}.train.accuracy"), train_acc);
            cx.metric(format!("{name}.valid.accuracy"), valid_acc);
            cx.metric(format!("{name}.valid.loss"), valid_loss);
            parts.push(format!("{name} {valid_acc:.3}"));
            if best.as_ref().is_none_or(|b| valid_acc > b.1) {
                best = Some((name.clone(), valid_acc, valid_loss, train_acc));
            }
        }
        let (name, acc, loss, train_acc) = best.ok_or("no baseline ran")?;
        cx.metric("valid.accuracy", acc);
        cx.metric("valid.loss", loss);
        cx.metric("train.accuracy", train_acc);
        Ok(format!(
            "valid accuracy: {} (best: {name})",
            parts.join(", ")
        ))
    }
}
