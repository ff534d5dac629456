//! Trials: one training run of the step's model with some overrides. Shared by `regularize`,
//! `tune` and `squeeze`. Every finished trial is kept in `.art/trials/<step>/<fingerprint>.json`
//! and reused, so a config that was already tried is never trained again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::StepCx;
use crate::data::Splits;
use crate::models::net::{Arch, NetConfig};
use crate::train::{Session, TrainSpec};

/// Changes to the step's model and training: what a trial tries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Epochs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Learning rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Batch size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// L2 weight decay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Random image shifts of up to this many pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augment_shift: Option<usize>,
    /// Early-stopping patience in epochs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<usize>,
    /// Dropout of the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// Hidden widths (mlp) or dense width (cnn, first value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
}

impl Overrides {
    /// `other`'s values where set, else `self`'s.
    pub fn then(&self, other: &Overrides) -> Overrides {
        Overrides {
            epochs: other.epochs.or(self.epochs),
            lr: other.lr.or(self.lr),
            batch_size: other.batch_size.or(self.batch_size),
            weight_decay: other.weight_decay.or(self.weight_decay),
            augment_shift: other.augment_shift.or(self.augment_shift),
            early_stopping: other.early_stopping.or(self.early_stopping),
            dropout: other.dropout.or(self.dropout),
            hidden: other.hidden.clone().or_else(|| self.hidden.clone()),
        }
    }

    /// The network and training spec these overrides make of a base.
    pub fn apply(
        &self,
        net: &NetConfig,
        base: &TrainSpec,
    ) -> Result<(NetConfig, TrainSpec), String> {
        let mut net = net.clone();
        if let Some(d) = self.dropout {
            if !(0.0..1.0).contains(&d) {
                return Err(format!("dropout must be in [0, 1), got {d}"));
            }
            net.dropout = d;
            if let Arch::Custom { config, .. } = &mut net.arch {
                set_key(config, "dropout", serde_json::json!(d));
            }
        }
        if let Some(h) = &self.hidden {
            if h.contains(&0) {
                return Err("hidden widths must be >= 1".into());
            }
            match &mut net.arch {
                Arch::Mlp { hidden } => *hidden = h.clone(),
                Arch::Cnn { hidden, .. } => {
                    *hidden = *h.first().ok_or("hidden must not be empty for a cnn")?
                }
                // A registered model reads its own `hidden` key (its config type decides
                // whether it has one: an unknown key fails the trial with serde's message).
                Arch::Custom { config, .. } => set_key(config, "hidden", serde_json::json!(h)),
            }
        }
        let spec = TrainSpec {
            epochs: self.epochs.unwrap_or(base.epochs),
            lr: self.lr.unwrap_or(base.lr),
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            weight_decay: self.weight_decay.unwrap_or(base.weight_decay),
            augment_shift: self.augment_shift.unwrap_or(base.augment_shift),
            early_stopping: self.early_stopping.unwrap_or(base.early_stopping),
        };
        spec.validate()?;
        Ok((net, spec))
    }

    /// Canonical text, for deduplication and messages.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn set_key(config: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if !config.is_object() {
        *config = serde_json::Value::Object(Default::default());
    }
    if let Some(m) = config.as_object_mut() {
        m.insert(key.to_owned(), value);
    }
}

/// A finished trial.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialResult {
    /// What was tried (relative to the step's model and base training).
    pub overrides: Overrides,
    /// Seed of the trial.
    pub seed: u64,
    /// `train.*`, `valid.*`, `epochs`, `best_epoch`.
    #[serde(with = "crate::nonfinite::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Per-epoch validation accuracy.
    #[serde(default, with = "crate::nonfinite::vec")]
    pub valid_accuracy_curve: Vec<f64>,
    /// Validation logits, kept for ensembles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_logits: Option<Vec<f32>>,
    /// Whether it came from the trial store instead of being trained now.
    #[serde(default, skip_serializing)]
    pub cached: bool,
}

/// What trials need of a step: shareable across threads (a `StepCx` is not).
#[derive(Clone, Copy)]
pub struct TrialEnv<'a> {
    /// The data.
    pub splits: &'a Splits,
    /// Its digest.
    pub digest: &'a str,
    /// Where finished trials are kept.
    pub dir: &'a Path,
    /// How many trials may train at once.
    pub threads: usize,
}

/// One trial to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// What to try.
    pub overrides: Overrides,
    /// With which seed.
    pub seed: u64,
}

fn fingerprint(env: &TrialEnv<'_>, net: &NetConfig, spec: &TrainSpec, seed: u64) -> String {
    let text = format!(
        "{net:?}|{}|{}|{seed}|{}|{}",
        serde_json::to_string(spec).unwrap_or_default(),
        env.digest,
        env.splits.valid.len(),
        env.splits.train.len(),
    );
    // The host version is hashed too: a new host may train differently, so its trials are new.
    let text = format!("{text}|{}", env!("CARGO_PKG_VERSION"));
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Runs (or reuses) one trial. With `want_logits`, the validation logits are kept too
/// (an ensemble needs them); a stored trial without them is trained again.
fn run_one(
    env: &TrialEnv<'_>,
    base_net: &NetConfig,
    base: &TrainSpec,
    job: &Job,
    want_logits: bool,
) -> Result<TrialResult, String> {
    let (net, spec) = job.overrides.apply(base_net, base)?;
    let fp = fingerprint(env, &net, &spec, job.seed);
    let name = format!("{fp}.json");
    let file = env.dir.join(&name);
    if let Some(mut r) = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice::<TrialResult>(&b).ok())
    {
        if !want_logits || r.valid_logits.is_some() {
            r.cached = true;
            return Ok(r);
        }
    }
    let splits = env.splits;
    let mut s = Session::new(
        &net,
        splits.train.num_features,
        splits.train.num_classes,
        job.seed,
    )?;
    let report = s.fit(
        &splits.train,
        Some(&splits.valid),
        &spec,
        job.seed,
        |_, _| true,
    )?;
    let (tl, ta) = s.evaluate(&splits.train)?;
    let logits = s.logits(&splits.valid)?;
    let (vl, va) =
        crate::models::loss_and_accuracy(&logits, &splits.valid.labels, splits.valid.num_classes);
    let metrics: BTreeMap<String, f64> = [
        ("train.loss", tl),
        ("train.accuracy", ta),
        ("valid.loss", vl),
        ("valid.accuracy", va),
        ("epochs", report.epoch_loss.len() as f64),
        ("best_epoch", report.best_epoch as f64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let result = TrialResult {
        overrides: job.overrides.clone(),
        seed: job.seed,
        metrics,
        valid_accuracy_curve: report.epoch_valid_accuracy,
        valid_logits: want_logits.then_some(logits),
        cached: false,
    };
    // A trial stored without logits is replaced, atomically, by one with them (same result,
    // more data): a crash leaves one or the other, never neither.
    crate::store::write_replacing(env.dir, &name, &result)
        .map_err(|e| format!("cannot store the trial: {e}"))?;
    Ok(result)
}

/// Runs every job, `env.threads` at a time; results come back in job order, and each is the
/// same whatever the thread count (every trial has its own seed and generators).
pub fn run_all(
    env: &TrialEnv<'_>,
    net: &NetConfig,
    base: &TrainSpec,
    jobs: &[Job],
    want_logits: bool,
) -> Result<Vec<TrialResult>, String> {
    let threads = env.threads.clamp(1, jobs.len().max(1));
    crate::progress::trials(0, jobs.len());
    if threads == 1 {
        return jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let r = run_one(env, net, base, j, want_logits);
                crate::progress::trials(i + 1, jobs.len());
                r
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<TrialResult, String>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_one(env, net, base, job, want_logits)
                }))
                .unwrap_or_else(|p| {
                    Err(format!(
                        "trial panicked: {}",
                        art_plugin_api::export::panic_message(p.as_ref())
                    ))
                });
                *slots[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
                crate::progress::trials(done.fetch_add(1, Ordering::Relaxed) + 1, jobs.len());
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or_else(|| Err("a trial did not run".into()))
        })
        .collect()
}

/// Picks the best trial by `metric` (higher is better unless the name ends in `loss`).
pub fn best<'r>(results: &'r [TrialResult], metric: &str) -> Option<&'r TrialResult> {
    let lower = metric.ends_with("loss");
    results
        .iter()
        .filter(|r| r.metrics.get(metric).is_some_and(|v| v.is_finite()))
        .max_by(|a, b| {
            let (x, y) = (a.metrics[metric], b.metrics[metric]);
            if lower {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        })
}

/// Records the chosen trial's metrics as the step's own, plus one line per trial.
pub fn report(cx: &mut StepCx<'_>, results: &[TrialResult], chosen: &TrialResult, select: &str) {
    for (k, v) in &chosen.metrics {
        cx.metric(k.clone(), *v);
    }
    cx.metric("trials.total", results.len() as f64);
    cx.metric(
        "trials.cached",
        results.iter().filter(|r| r.cached).count() as f64,
    );
    for (i, r) in results.iter().enumerate() {
        if let Some(v) = r.metrics.get(select) {
            cx.metric(format!("trial.{i}.{select}"), *v);
        }
    }
    let xs: Vec<f64> = (0..results.len()).map(|i| i as f64).collect();
    let ys: Vec<f64> = results
        .iter()
        .map(|r| r.metrics.get(select).copied().unwrap_or(f64::NAN))
        .collect();
    cx.series(&format!("trial_{select}"), xs, ys);
    if !chosen.valid_accuracy_curve.is_empty() {
        let n = chosen.valid_accuracy_curve.len();
        cx.series(
            "best_valid_accuracy",
            (1..=n).map(|e| e as f64).collect(),
            chosen.valid_accuracy_curve.clone(),
        );
    }
    cx.extra = serde_json::json!({
        "best_config": chosen.overrides,
        "select": select,
        "trials": results.iter().map(|r| serde_json::json!({
            "overrides": r.overrides, "seed": r.seed, "metrics": r.metrics, "cached": r.cached
        })).collect::<Vec<_>>(),
    });
}

/// The config a step starts from: an earlier step's best (`from`), or nothing changed.
pub fn start_from(cx: &StepCx<'_>, from: Option<&str>) -> Result<Overrides, String> {
    from.map_or(Ok(Overrides::default()), |step| best_config_of(cx, step))
}

/// Trials for candidate overrides on top of `start`: configs that come out the same are
/// tried once; at most `budget` of them.
pub fn distinct_jobs(
    start: &Overrides,
    candidates: impl IntoIterator<Item = Result<Overrides, String>>,
    seed: u64,
    budget: usize,
) -> Result<Vec<Job>, String> {
    let mut jobs: Vec<Job> = Vec::new();
    for c in candidates {
        if jobs.len() >= budget {
            break;
        }
        let o = start.then(&c?);
        if !jobs.iter().any(|j| j.overrides == o) {
            jobs.push(Job { overrides: o, seed });
        }
    }
    Ok(jobs)
}

/// The best config an earlier step (`regularize`, `tune`) reported.
pub fn best_config_of(cx: &StepCx<'_>, step: &str) -> Result<Overrides, String> {
    let e =
        (cx.earlier)(step).ok_or_else(|| format!("no step `{step}` has run in this project"))?;
    let best = e.extra.get("best_config").ok_or_else(|| {
        format!("step `{step}` reported no best_config (only regularize and tune do)")
    })?;
    serde_json::from_value(best.clone())
        .map_err(|err| format!("best_config of `{step}` is unreadable: {err}"))
}
