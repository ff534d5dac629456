//! The training loop and the metrics every step reports, over any model: a built-in burn
//! network, a burn user's own module, or a pack's model (see [`crate::models::trainable`]).

use std::sync::Arc;

use burn::tensor::Device;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::models::art_model::{BurnEngine, Make};
use crate::models::loss_and_accuracy;
use crate::models::net::{image_side, Arch, Net, NetConfig};
use crate::models::trainable::{self, Shape, Snapshot, Trainable};

/// How to train: the knobs a step config may set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// Passes over the training split.
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Examples per optimiser step.
    pub batch_size: usize,
    /// L2 weight decay (0 = none).
    pub weight_decay: f64,
    /// Data augmentation for square images: random shifts of up to this many pixels.
    pub augment_shift: usize,
    /// Stop after this many epochs without a better validation loss, keeping the best
    /// weights (0 = never).
    pub early_stopping: usize,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            epochs: 20,
            lr: 1e-3,
            batch_size: 64,
            weight_decay: 0.0,
            augment_shift: 0,
            early_stopping: 0,
        }
    }
}

impl TrainSpec {
    /// Refuses values that would make training meaningless.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err("epochs and batch_size must be >= 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(format!(
                "weight_decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        Ok(())
    }
}

/// What one call to [`Session::fit`] measured.
#[derive(Debug, Clone, Default)]
pub struct FitReport {
    /// Mean training loss of each epoch (measured during the epoch, with dropout on).
    pub epoch_loss: Vec<f64>,
    /// Training accuracy of each epoch (running, on the batches as trained, like the loss);
    /// empty unless [`Session::track_train_accuracy`] is on.
    pub epoch_accuracy: Vec<f64>,
    /// Validation loss after each epoch.
    pub epoch_valid_loss: Vec<f64>,
    /// Validation accuracy after each epoch.
    pub epoch_valid_accuracy: Vec<f64>,
    /// Loss of every optimiser step.
    pub batch_loss: Vec<f64>,
    /// Examples processed.
    pub samples: usize,
    /// Epoch whose weights were kept (1-based; the last unless early stopping restored one).
    pub best_epoch: usize,
}

/// A model being trained: the training loop, batching, augmentation, early stopping and
/// metrics, over any [`Trainable`] (built-in network, a burn user's model, a pack's model).
pub struct Session {
    inputs: usize,
    classes: usize,
    engine: Box<dyn Trainable>,
    checkpoints: Vec<Snapshot>,
    track_accuracy: bool,
}

impl Session {
    /// A new model initialised with `seed`; `Err` if it does not fit the data.
    pub fn new(net: &NetConfig, inputs: usize, classes: usize, seed: u64) -> Result<Self, String> {
        let shape = Shape { inputs, classes };
        let engine: Box<dyn Trainable> = match &net.arch {
            Arch::Custom { kind, config } => trainable::build(kind, config, shape, seed)?,
            _ => {
                let cfg = net.clone();
                let make: Make<Net> =
                    Arc::new(move |d: &Device| Net::new(&cfg, inputs, classes, d));
                Box::new(BurnEngine::new(make, shape, seed)?)
            }
        };
        Ok(Self {
            inputs,
            classes,
            engine,
            checkpoints: Vec::new(),
            track_accuracy: false,
        })
    }

    /// Record the running train accuracy of each epoch in [`FitReport::epoch_accuracy`]
    /// (an argmax per batch: worth it for the curves overfit shows, not for sweeps).
    pub fn track_train_accuracy(&mut self, on: bool) {
        self.track_accuracy = on;
    }

    /// Re-initialises the weights and the optimiser.
    pub fn reinit(&mut self, seed: u64) -> Result<(), String> {
        self.engine.reinit(seed)
    }

    /// Karpathy's "init well": output bias = log class priors, output weights scaled down, so
    /// the untrained model predicts the priors and the loss at init is their entropy.
    pub fn init_well(&mut self, log_priors: &[f32], weight_scale: f32) -> Result<(), String> {
        self.engine.init_well(log_priors, weight_scale)
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.engine.num_params()
    }

    fn check_batch(&self, features: &[f32], labels: &[u32]) -> Result<(), String> {
        if labels.is_empty() || features.len() != labels.len() * self.inputs {
            return Err(format!(
                "batch has {} values for {} labels; expected {} features per row",
                features.len(),
                labels.len(),
                self.inputs
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= self.classes) {
            return Err(format!(
                "label {bad} is out of range for {} classes",
                self.classes
            ));
        }
        Ok(())
    }

    /// One Adam step on a batch at learning rate `lr`; returns the loss before the step.
    /// `lr = 0` computes the loss and gradients but leaves the weights as they are.
    pub fn train_batch(
        &mut self,
        features: &[f32],
        labels: &[u32],
        lr: f64,
    ) -> Result<f64, String> {
        self.check_batch(features, labels)?;
        self.step(features.to_vec(), labels, lr)
            .map(|(loss, _)| loss)
    }

    /// Returns the loss and how many rows the model classified right before the step.
    fn step(
        &mut self,
        features: Vec<f32>,
        labels: &[u32],
        lr: f64,
    ) -> Result<(f64, usize), String> {
        let count = self.track_accuracy;
        self.engine.step(features, labels, lr, count)
    }

    /// The backprop dependency check: for each probed row `i`, the gradient of row `i`'s loss
    /// with respect to every input row, in training mode. Returns (largest gradient magnitude
    /// on a row's own input, largest on any other row's input). A model that mixes samples
    /// (batch norm in training mode, a reshape bug) has a non-zero second number.
    pub fn cross_sample_gradients(
        &mut self,
        features: &[f32],
        labels: &[u32],
        probes: &[usize],
    ) -> Result<(f64, f64), String> {
        self.check_batch(features, labels)?;
        self.engine.cross_sample_gradients(features, labels, probes)
    }

    /// Gradient health on a batch: per dense layer the L2 norm of the weight and bias
    /// gradients, and per hidden layer the fraction of ReLU units that are zero for every
    /// example (dead units).
    pub fn gradient_stats(
        &mut self,
        features: &[f32],
        labels: &[u32],
    ) -> Result<serde_json::Value, String> {
        self.check_batch(features, labels)?;
        self.engine.gradient_stats(features, labels)
    }

    /// Logits for every row of `data`, in eval mode (no dropout, no autodiff).
    pub fn logits(&self, data: &Dataset) -> Result<Vec<f32>, String> {
        self.logits_of(&data.features, data.len())
    }

    /// Logits for `rows` rows of row-major `features`.
    pub fn logits_of(&self, features: &[f32], rows: usize) -> Result<Vec<f32>, String> {
        if features.len() != rows * self.inputs {
            return Err(format!(
                "{} values for {rows} rows; expected {} features per row",
                features.len(),
                self.inputs
            ));
        }
        let out = self.engine.logits(features, rows)?;
        if out.len() != rows * self.classes {
            return Err(format!(
                "the model returned {} logits for {rows} rows of {} classes",
                out.len(),
                self.classes
            ));
        }
        Ok(out)
    }

    /// Mean loss and accuracy on `data`.
    pub fn evaluate(&self, data: &Dataset) -> Result<(f64, f64), String> {
        Ok(loss_and_accuracy(
            &self.logits(data)?,
            &data.labels,
            self.classes,
        ))
    }

    /// Trains for `spec.epochs` over `train`, shuffling (and augmenting) with `seed`;
    /// `on_epoch` sees progress and may stop early by returning false.
    pub fn fit(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        spec: &TrainSpec,
        seed: u64,
        mut on_epoch: impl FnMut(usize, f64) -> bool,
    ) -> Result<FitReport, String> {
        spec.validate()?;
        self.engine.set_weight_decay(spec.weight_decay)?;
        let side = match spec.augment_shift {
            0 => None,
            _ => Some(image_side(self.inputs).ok_or_else(|| {
                format!(
                    "augment_shift needs square images; {} features is not a square",
                    self.inputs
                )
            })?),
        };
        let valid = valid.filter(|v| !v.is_empty());
        if spec.early_stopping > 0 && valid.is_none() {
            return Err("early_stopping needs a validation split (valid_ratio > 0)".into());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut report = FitReport::default();
        let mut xb = Vec::with_capacity(spec.batch_size * self.inputs);
        let mut yb = Vec::with_capacity(spec.batch_size);
        let mut best: Option<(f64, Snapshot)> = None;
        let mut since_best = 0;
        let per_epoch = train.len().div_ceil(spec.batch_size.max(1));
        for epoch in 0..spec.epochs {
            order.shuffle(&mut rng);
            let (mut sum, mut batches, mut right) = (0.0, 0usize, 0usize);
            for chunk in order.chunks(spec.batch_size) {
                xb.clear();
                yb.clear();
                for &i in chunk {
                    match side {
                        Some(side) => {
                            let k = spec.augment_shift as i64;
                            let (dx, dy) = (rng.random_range(-k..=k), rng.random_range(-k..=k));
                            shift(train.row(i), side, dx as isize, dy as isize, &mut xb);
                        }
                        None => xb.extend_from_slice(train.row(i)),
                    }
                    yb.push(train.labels[i]);
                }
                self.check_batch(&xb, &yb)?;
                let batch =
                    std::mem::replace(&mut xb, Vec::with_capacity(spec.batch_size * self.inputs));
                let (loss, correct) = self.step(batch, &yb, spec.lr)?;
                right += correct;
                if !loss.is_finite() {
                    return Err(format!(
                        "loss became {loss} in epoch {} (lr {}): lower the learning rate",
                        epoch + 1,
                        spec.lr
                    ));
                }
                report.batch_loss.push(loss);
                sum += loss;
                batches += 1;
                report.samples += chunk.len();
                if batches % 16 == 0 {
                    crate::progress::batch(batches, per_epoch, loss);
                }
            }
            let mean = sum / batches.max(1) as f64;
            crate::progress::epoch(epoch + 1, spec.epochs, mean);
            report.epoch_loss.push(mean);
            if self.track_accuracy {
                report
                    .epoch_accuracy
                    .push(right as f64 / train.len().max(1) as f64);
            }
            report.best_epoch = epoch + 1;
            if let Some(v) = valid {
                let (vl, va) = self.evaluate(v)?;
                report.epoch_valid_loss.push(vl);
                report.epoch_valid_accuracy.push(va);
                if spec.early_stopping > 0 {
                    if best.as_ref().is_none_or(|(b, _)| vl < *b) {
                        best = Some((vl, self.engine.snapshot()?));
                        since_best = 0;
                    } else {
                        since_best += 1;
                    }
                }
            }
            if !on_epoch(epoch, mean)
                || (spec.early_stopping > 0 && since_best >= spec.early_stopping)
            {
                break;
            }
        }
        if let Some((_, model)) = best {
            let best_epoch = report
                .epoch_valid_loss
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(report.best_epoch, |(i, _)| i + 1);
            report.best_epoch = best_epoch;
            self.engine.restore(&model)?;
        }
        Ok(report)
    }

    /// Saves the current weights in memory; returns a handle.
    pub fn checkpoint(&mut self) -> Result<u64, String> {
        self.checkpoints.push(self.engine.snapshot()?);
        Ok((self.checkpoints.len() - 1) as u64)
    }

    /// Restores saved weights and resets the optimiser (its moments belong to other weights).
    pub fn restore(&mut self, handle: u64) -> Result<(), String> {
        let s = self
            .checkpoints
            .get(handle as usize)
            .ok_or_else(|| format!("no checkpoint with handle {handle}"))?;
        self.engine.restore(s)
    }

    /// The weights as bytes (burn's recorder for burn models): what a checkpoint file holds.
    pub fn save_weights(&self) -> Result<Vec<u8>, String> {
        self.engine.save()
    }

    /// Loads weights from [`Session::save_weights`] of the same model; resets the optimiser.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.engine.load(bytes)
    }
}

/// Shifts a square image by (dx, dy) pixels, filling with zeros.
fn shift(img: &[f32], side: usize, dx: isize, dy: isize, out: &mut Vec<f32>) {
    for y in 0..side as isize {
        for x in 0..side as isize {
            let (sx, sy) = (x - dx, y - dy);
            out.push(
                if (0..side as isize).contains(&sx) && (0..side as isize).contains(&sy) {
                    img[(sy as usize) * side + sx as usize]
                } else {
                    0.0
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{split, Dataset};
    use crate::models::net::Arch;

    fn digits() -> crate::data::Splits {
        split(&Dataset::digits().unwrap(), 0.2, 1).unwrap()
    }

    #[test]
    fn same_seed_same_weights_and_training_lowers_loss() {
        let s = digits();
        let net = NetConfig::mlp(vec![32], 0.0);
        let a = Session::new(&net, 64, 10, 5).unwrap();
        let b = Session::new(&net, 64, 10, 5).unwrap();
        assert!(
            a.logits(&s.valid).unwrap() == b.logits(&s.valid).unwrap(),
            "same seed gave different weights"
        );
        let mut a = a;
        let (before, _) = a.evaluate(&s.train).unwrap();
        let spec = TrainSpec {
            epochs: 3,
            ..TrainSpec::default()
        };
        let r = a.fit(&s.train, None, &spec, 5, |_, _| true).unwrap();
        let (after, acc) = a.evaluate(&s.train).unwrap();
        assert!(after < before * 0.9, "{before} -> {after}");
        assert!(acc > 0.4, "{acc}");
        assert_eq!(r.batch_loss.len(), 3 * s.train.len().div_ceil(64));
    }

    #[test]
    fn per_sample_gradients_stay_in_their_row_unless_batch_norm_mixes_them() {
        let s = digits();
        let idx: Vec<usize> = (0..16).collect();
        let batch = s.train.subset(&idx);
        let mut plain = Session::new(&NetConfig::mlp(vec![16], 0.0), 64, 10, 1).unwrap();
        let (own, cross) = plain
            .cross_sample_gradients(&batch.features, &batch.labels, &[0, 5])
            .unwrap();
        assert!(own > 0.0 && cross == 0.0, "own {own} cross {cross}");
        let bn = NetConfig {
            batch_norm: true,
            ..NetConfig::mlp(vec![16], 0.0)
        };
        let mut mixed = Session::new(&bn, 64, 10, 1).unwrap();
        let (_, cross) = mixed
            .cross_sample_gradients(&batch.features, &batch.labels, &[0, 5])
            .unwrap();
        assert!(cross > 1e-6, "batch norm should mix samples, cross {cross}");
    }

    #[test]
    fn init_well_makes_the_untrained_model_predict_the_priors() {
        let s = digits();
        let mut m = Session::new(&NetConfig::mlp(vec![32], 0.0), 64, 10, 2).unwrap();
        let priors = [0.1f32; 10].map(f32::ln);
        m.init_well(&priors, 0.0).unwrap();
        let (loss, _) = m.evaluate(&s.valid).unwrap();
        assert!((loss - 10f64.ln()).abs() < 1e-4, "{loss}");
    }

    #[test]
    fn a_cnn_trains_on_8x8_digits() {
        let s = digits();
        let cfg = NetConfig {
            arch: Arch::Cnn {
                channels: vec![8],
                hidden: 32,
            },
            ..NetConfig::mlp(vec![], 0.0)
        };
        let mut m = Session::new(&cfg, 64, 10, 3).unwrap();
        let spec = TrainSpec {
            epochs: 2,
            lr: 3e-3,
            ..TrainSpec::default()
        };
        m.fit(&s.train, Some(&s.valid), &spec, 3, |_, _| true)
            .unwrap();
        assert!(m.evaluate(&s.valid).unwrap().1 > 0.5);
        assert!(Session::new(&cfg, 63, 10, 3).is_err());
    }

    #[test]
    fn shifting_moves_pixels_and_fills_with_zeros() {
        let img = [1.0, 2.0, 3.0, 4.0];
        let mut out = vec![];
        shift(&img, 2, 1, 0, &mut out);
        assert_eq!(out, [0.0, 1.0, 0.0, 3.0]);
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch() {
        let s = digits();
        let mut m = Session::new(&NetConfig::mlp(vec![32], 0.0), 64, 10, 4).unwrap();
        let spec = TrainSpec {
            epochs: 40,
            lr: 3e-2,
            early_stopping: 2,
            ..TrainSpec::default()
        };
        let r = m
            .fit(&s.train, Some(&s.valid), &spec, 4, |_, _| true)
            .unwrap();
        let best = r
            .epoch_valid_loss
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        assert!((m.evaluate(&s.valid).unwrap().0 - best).abs() < 1e-6);
        assert!(r.epoch_loss.len() < 40, "should have stopped early");
    }
}
