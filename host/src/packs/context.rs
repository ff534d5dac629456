//! The host side of `StepContext`: what a pack step sees. It wraps the same [`StepCx`] the
//! built-in steps use, so packs get exactly the host's model services and metric bookkeeping.
//! Every method catches panics of host code (burn asserts, for instance): unwinding back
//! through the pack's `extern "C"` frames would abort the process.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
use art_plugin_api::{Batch, DatasetInfo, LogLevel, Metric, Split, StepContext};

use crate::data::Dataset;
use crate::recipe::StepCx;
use crate::train::TrainSpec;

/// Services of `StepContext::call`: `host_info` (1.0), `gradient_stats` (1.1).
pub const SERVICES: [&str; 2] = ["host_info", "gradient_stats"];

/// Most metrics a pack step may record (a pack is foreign code: bound what it can make us store).
pub const MAX_METRICS: usize = 10_000;
/// Most curves a pack step may record.
pub const MAX_SERIES: usize = 100;
/// Most points in one curve.
pub const MAX_POINTS: usize = 1_000_000;

/// Adapts a [`StepCx`] to the ABI trait.
pub struct HostCtx<'c, 'a> {
    /// The step's context.
    pub cx: &'c mut StepCx<'a>,
    /// Set when the user asked to stop.
    pub stop: &'c std::sync::atomic::AtomicBool,
    /// Whether the metric limit was hit (warned once).
    pub dropped: bool,
}

fn guard<T>(f: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(p) => RResult::RErr(
            format!(
                "host error while serving the pack: {}",
                art_plugin_api::export::panic_message(p.as_ref())
            )
            .into(),
        ),
    }
}

fn metrics(pairs: &[(&str, f64)]) -> RVec<Metric> {
    pairs.iter().map(|(k, v)| Metric::new(*k, *v)).collect()
}

impl HostCtx<'_, '_> {
    fn split(&self, split: Split) -> &Dataset {
        match split {
            Split::Train => &self.cx.splits.train,
            Split::Valid => &self.cx.splits.valid,
        }
    }

    fn check_batch(&self, b: &Batch) -> Result<usize, String> {
        let cols = self.cx.splits.train.num_features as u64;
        if b.cols != cols
            || b.features.len() as u64 != b.rows * b.cols
            || b.labels.len() as u64 != b.rows
        {
            return Err(format!(
                "malformed batch: {} rows x {} cols with {} values and {} labels (the dataset has {cols} features)",
                b.rows,
                b.cols,
                b.features.len(),
                b.labels.len()
            ));
        }
        Ok(b.rows as usize)
    }
}

impl StepContext for HostCtx<'_, '_> {
    fn dataset(&self) -> DatasetInfo {
        let s = self.cx.splits;
        DatasetInfo {
            name: s.train.name.as_str().into(),
            num_features: s.train.num_features as u64,
            num_classes: s.train.num_classes as u32,
            train_len: s.train.len() as u64,
            valid_len: s.valid.len() as u64,
        }
    }

    fn batch(&self, split: Split, start: u64, len: u64) -> RResult<Batch, RString> {
        guard(|| {
            let d = self.split(split);
            let start = (start as usize).min(d.len());
            let end = start.saturating_add(len as usize).min(d.len());
            let f = d.num_features;
            Ok(Batch {
                features: d.features[start * f..end * f].to_vec().into(),
                rows: (end - start) as u64,
                cols: f as u64,
                labels: d.labels[start..end].to_vec().into(),
            })
        })
    }

    fn model_init(&mut self, seed: u64) -> RResult<(), RString> {
        guard(|| self.cx.session()?.reinit(seed))
    }

    fn train_batch(&mut self, batch: &Batch, lr: f64) -> RResult<f64, RString> {
        guard(|| {
            self.check_batch(batch)?;
            if !(lr > 0.0 && lr.is_finite()) {
                return Err(format!(
                    "learning rate must be positive and finite, got {lr}"
                ));
            }
            self.cx
                .session()?
                .train_batch(&batch.features, &batch.labels, lr)
        })
    }

    fn train(&mut self, spec_json: RStr<'_>) -> RResult<RVec<Metric>, RString> {
        guard(|| {
            let spec: TrainSpec = if spec_json.as_str().trim().is_empty() {
                TrainSpec::default()
            } else {
                serde_json::from_str(spec_json.as_str())
                    .map_err(|e| format!("bad train spec: {e}"))?
            };
            let (splits, seed) = (self.cx.splits, self.cx.seed);
            self.cx
                .session()?
                .fit(&splits.train, Some(&splits.valid), &spec, seed, |_, _| true)?;
            self.cx.record_eval()?;
            let m = &self.cx.metrics;
            Ok([
                "train.loss",
                "train.accuracy",
                "valid.loss",
                "valid.accuracy",
            ]
            .iter()
            .filter_map(|k| m.get(*k).map(|v| Metric::new(*k, *v)))
            .collect())
        })
    }

    fn evaluate(&mut self, split: Split) -> RResult<RVec<Metric>, RString> {
        guard(|| {
            let splits = self.cx.splits;
            let d = match split {
                Split::Train => &splits.train,
                Split::Valid => &splits.valid,
            };
            let (loss, acc) = self.cx.session()?.evaluate(d)?;
            let p = split.as_str();
            Ok(metrics(&[
                (&format!("{p}.loss"), loss),
                (&format!("{p}.accuracy"), acc),
            ]))
        })
    }

    fn predict(&mut self, batch: &Batch) -> RResult<RVec<f32>, RString> {
        guard(|| {
            let rows = self.check_batch(batch)?;
            Ok(self.cx.session()?.logits_of(&batch.features, rows)?.into())
        })
    }

    fn checkpoint(&mut self) -> RResult<u64, RString> {
        guard(|| self.cx.session()?.checkpoint())
    }

    fn restore(&mut self, handle: u64) -> RResult<(), RString> {
        guard(|| self.cx.session()?.restore(handle))
    }

    fn earlier_metrics(&self, step_id: RStr<'_>) -> ROption<RVec<Metric>> {
        (self.cx.earlier)(step_id.as_str())
            .map(|e| {
                e.metrics
                    .into_iter()
                    .map(|(k, v)| Metric::new(k, v))
                    .collect()
            })
            .into()
    }

    fn log_metric(&mut self, name: RStr<'_>, value: f64) {
        let known = self.cx.metrics.contains_key(name.as_str());
        if known || self.cx.metrics.len() < MAX_METRICS {
            self.cx.metric(name.as_str(), value);
        } else if !self.dropped {
            self.dropped = true;
            tracing::warn!(
                step = self.cx.step_id,
                "more than {MAX_METRICS} metrics: the rest are dropped"
            );
        }
    }

    fn log_series(&mut self, name: RStr<'_>, xs: RVec<f64>, ys: RVec<f64>) {
        if self.cx.series.len() >= MAX_SERIES || xs.len() > MAX_POINTS || xs.len() != ys.len() {
            tracing::warn!(
                step = self.cx.step_id,
                "curve `{name}` dropped: {} x and {} y values (at most {MAX_POINTS} each, equal counts, {MAX_SERIES} curves)",
                xs.len(),
                ys.len()
            );
            return;
        }
        self.cx.series(name.as_str(), xs.into_vec(), ys.into_vec());
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let (id, m) = (self.cx.step_id, message.as_str());
        match level {
            LogLevel::Error => tracing::error!(step = id, "{m}"),
            LogLevel::Warn => tracing::warn!(step = id, "{m}"),
            LogLevel::Info => tracing::info!(step = id, "{m}"),
            LogLevel::Debug => tracing::debug!(step = id, "{m}"),
            LogLevel::Trace => tracing::trace!(step = id, "{m}"),
        }
    }

    fn artifact_dir(&self) -> RString {
        let _ = std::fs::create_dir_all(&self.cx.artifact_dir);
        self.cx.artifact_dir.display().to_string().into()
    }

    fn seed(&self) -> u64 {
        self.cx.seed
    }

    fn call(&mut self, service: RStr<'_>, args_json: RStr<'_>) -> RResult<RString, RString> {
        guard(|| {
            let args: serde_json::Value = if args_json.as_str().trim().is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(args_json.as_str())
                    .map_err(|e| format!("arguments of `{service}` are not JSON: {e}"))?
            };
            let answer = match service.as_str() {
                "host_info" => serde_json::json!({
                    "api_version": art_plugin_api::API_VERSION,
                    "host_version": env!("CARGO_PKG_VERSION"),
                    "services": SERVICES,
                }),
                "gradient_stats" => {
                    let start = args
                        .get("start")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0);
                    let len = args
                        .get("len")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(64);
                    let batch = self
                        .batch(Split::Train, start, len)
                        .into_result()
                        .map_err(String::from)?;
                    if batch.rows == 0 {
                        return Err("gradient_stats: the requested rows are empty".into());
                    }
                    self.cx
                        .session()?
                        .gradient_stats(&batch.features, &batch.labels)?
                }
                other => {
                    return Err(format!(
                    "unknown host service `{other}`{}; this host (art-plugin-api {}) offers: {}",
                    crate::project::did_you_mean(other, SERVICES),
                    art_plugin_api::API_VERSION,
                    SERVICES.join(", ")
                ))
                }
            };
            Ok(RString::from(answer.to_string()))
        })
    }

    fn should_stop(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }
}
