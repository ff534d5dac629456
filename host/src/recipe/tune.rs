//! `tune`: grid or random search over declared ranges with a trial budget. Every trial is
//! stored (and reused when the same config comes up again); the best config is reported as
//! `best_config`, which `squeeze` (or a later `tune`/`regularize` with `from`) builds on.

use std::collections::BTreeMap;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::trials::{self, Overrides};
use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "tune",
    summary:
        "Grid or random search over hyperparameters with a trial budget; reports the best config",
    revision: 1,
    default_checks: &["valid.accuracy >= @overfit.valid.accuracy"],
    needs_model: true,
    make,
};

/// One dimension of the search space.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Dim {
    /// Pick among these values.
    Choices(Vec<toml::Value>),
    /// A continuous range (random search only).
    Range {
        min: f64,
        max: f64,
        #[serde(default)]
        log: bool,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    search: String,
    trials: usize,
    epochs: usize,
    lr: f64,
    batch_size: usize,
    from: Option<String>,
    space: BTreeMap<String, Dim>,
    select: String,
}

impl Default for Config {
    fn default() -> Self {
        let choices = |v: Vec<toml::Value>| Dim::Choices(v);
        Self {
            search: "grid".into(),
            trials: 6,
            epochs: 30,
            lr: 3e-3,
            batch_size: 64,
            from: None,
            space: [
                (
                    "lr".to_owned(),
                    choices(vec![1e-3.into(), 3e-3.into(), 1e-2.into()]),
                ),
                (
                    "hidden".to_owned(),
                    choices(vec![
                        toml::Value::Array(vec![128.into()]),
                        toml::Value::Array(vec![256.into()]),
                    ]),
                ),
            ]
            .into(),
            select: "valid.accuracy".into(),
        }
    }
}

const KEYS: [&str; 8] = [
    "epochs",
    "lr",
    "batch_size",
    "weight_decay",
    "augment_shift",
    "early_stopping",
    "dropout",
    "hidden",
];

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if c.search != "grid" && c.search != "random" {
        return Err(ConfigError::at(
            "search",
            format!("search must be \"grid\" or \"random\", got `{}`", c.search),
        ));
    }
    if c.trials == 0 {
        return Err(ConfigError::at("trials", "the trial budget must be >= 1"));
    }
    if c.space.is_empty() {
        return Err(ConfigError::at(
            "space",
            "declare at least one dimension, e.g. space = { lr = [0.001, 0.01] }",
        ));
    }
    for (k, d) in &c.space {
        if !KEYS.contains(&k.as_str()) {
            return Err(ConfigError::at(
                "space",
                format!(
                    "cannot tune `{k}`{}; tunable: {}",
                    crate::project::did_you_mean(k, KEYS),
                    KEYS.join(", ")
                ),
            ));
        }
        match d {
            Dim::Choices(v) if v.is_empty() => {
                return Err(ConfigError::at("space", format!("`{k}` has no values")))
            }
            Dim::Range { .. } if c.search == "grid" => {
                return Err(ConfigError::at(
                    "space",
                    format!("`{k}` is a range; grid search needs a list of values"),
                ))
            }
            Dim::Range { min, max, log }
                if min.partial_cmp(max) != Some(std::cmp::Ordering::Less)
                    || (*log && *min <= 0.0) =>
            {
                return Err(ConfigError::at(
                    "space",
                    format!("`{k}`: need min < max (and min > 0 for log)"),
                ))
            }
            _ => {}
        }
    }
    // Every value must make a valid override.
    for cand in grid(&c.space).into_iter().take(1000) {
        overrides(&cand).map_err(|m| ConfigError::at("space", m))?;
    }
    Ok(Box::new(c))
}

fn grid(space: &BTreeMap<String, Dim>) -> Vec<toml::Table> {
    let mut out = vec![toml::Table::new()];
    for (k, d) in space {
        let Dim::Choices(values) = d else { continue };
        out = out
            .into_iter()
            .flat_map(|t| {
                values.iter().map(move |v| {
                    let mut t = t.clone();
                    t.insert(k.clone(), v.clone());
                    t
                })
            })
            .collect();
    }
    out
}

fn overrides(t: &toml::Table) -> Result<Overrides, String> {
    super::parse_config::<Overrides>(t).map_err(|e| format!("space: {}", e.message))
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let net = cx.net_config()?;
        let base =
            super::base_spec(self.epochs, self.lr, self.batch_size).map_err(|e| e.message)?;
        let start = trials::start_from(cx, self.from.as_deref())?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(cx.seed ^ 0x7475_6e65);
        let candidates: Vec<toml::Table> = if self.search == "grid" {
            let mut all = grid(&self.space);
            if all.len() > self.trials {
                // Over budget: a seeded sample of the grid, in grid order.
                let mut idx: Vec<usize> = (0..all.len()).collect();
                idx.shuffle(&mut rng);
                let mut keep: Vec<usize> = idx.into_iter().take(self.trials).collect();
                keep.sort_unstable();
                all = keep.into_iter().map(|i| all[i].clone()).collect();
            }
            all
        } else {
            (0..self.trials * 4)
                .map(|_| {
                    self.space
                        .iter()
                        .map(|(k, d)| {
                            let v = match d {
                                Dim::Choices(v) => v
                                    .choose(&mut rng)
                                    .cloned()
                                    .unwrap_or(toml::Value::Integer(0)),
                                Dim::Range { min, max, log } => {
                                    let u: f64 = rng.random();
                                    let x = if *log {
                                        (min.ln() + u * (max.ln() - min.ln())).exp()
                                    } else {
                                        min + u * (max - min)
                                    };
                                    if matches!(
                                        k.as_str(),
                                        "epochs"
                                            | "batch_size"
                                            | "augment_shift"
                                            | "early_stopping"
                                    ) {
                                        toml::Value::Integer(x.round() as i64)
                                    } else {
                                        toml::Value::Float(x)
                                    }
                                }
                            };
                            (k.clone(), v)
                        })
                        .collect()
                })
                .collect()
        };
        let jobs = trials::distinct_jobs(
            &start,
            candidates.iter().map(overrides),
            cx.seed,
            self.trials,
        )?;
        let results = trials::run_all(&cx.trial_env(), &net, &base, &jobs, false)?;
        let chosen = trials::best(&results, &self.select)
            .ok_or_else(|| format!("no trial recorded `{}`", self.select))?
            .clone();
        trials::report(cx, &results, &chosen, &self.select);
        Ok(format!(
            "{} search, {} trials ({} reused): best {} = {:.4} with {}",
            self.search,
            results.len(),
            results.iter().filter(|r| r.cached).count(),
            self.select,
            chosen.metrics[&self.select],
            chosen.overrides.canonical()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_the_cartesian_product() {
        let t: toml::Table =
            toml::from_str("space = { lr = [0.1, 0.2], dropout = [0.0, 0.1, 0.2] }").unwrap();
        let c: Config = parse_config(&t).map_err(|e| e.message).unwrap();
        assert_eq!(grid(&c.space).len(), 6);
    }

    #[test]
    fn untunable_keys_are_refused() {
        let t: toml::Table = toml::from_str("space = { lrr = [0.1] }").unwrap();
        let e = make(&t).err().unwrap();
        assert!(e.message.contains("did you mean `lr`"), "{}", e.message);
    }
}
