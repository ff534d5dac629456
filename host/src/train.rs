//! The training loop: one burn network, its Adam optimiser and the metrics every step reports.
//! Runs on burn's `flex` CPU backend with autodiff; evaluation runs on the plain backend.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::models::loss_and_accuracy;
use crate::models::mlp::{Mlp, NetConfig};

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
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            epochs: 20,
            lr: 1e-3,
            batch_size: 64,
            weight_decay: 0.0,
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
        if self.weight_decay < 0.0 {
            return Err("weight_decay must be >= 0".into());
        }
        Ok(())
    }
}

/// What one call to [`Session::fit`] measured.
#[derive(Debug, Clone, Default)]
pub struct FitReport {
    /// Mean training loss of each epoch (measured during the epoch, with dropout on).
    pub epoch_loss: Vec<f64>,
    /// Validation accuracy after each epoch.
    pub epoch_valid_accuracy: Vec<f64>,
    /// Examples processed.
    pub samples: usize,
}

/// A trainable network and its optimiser state.
pub struct Session {
    net: NetConfig,
    inputs: usize,
    classes: usize,
    device: Device,
    plain: Device,
    model: Mlp,
    optim: ModuleOptimizer,
    weight_decay: f64,
    checkpoints: Vec<Mlp>,
}

fn optimizer(weight_decay: f64) -> ModuleOptimizer {
    let cfg = AdamConfig::new();
    if weight_decay > 0.0 {
        cfg.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
            weight_decay as f32,
        )))
        .init()
    } else {
        cfg.init()
    }
}

/// burn initialises parameters lazily, on first use, from a global generator: seed it and
/// touch every parameter at once, or the weights depend on whatever ran in between.
fn init_model(net: &NetConfig, inputs: usize, classes: usize, device: &Device, seed: u64) -> Mlp {
    device.seed(seed);
    let model = Mlp::new(net, inputs, classes, device);
    let _ = model.forward(Tensor::<2>::zeros([1, inputs], device));
    model
}

impl Session {
    /// A new network initialised with `seed`.
    pub fn new(net: &NetConfig, inputs: usize, classes: usize, seed: u64) -> Self {
        let plain = Device::flex();
        let device = plain.clone().autodiff();
        let model = init_model(net, inputs, classes, &device, seed);
        Self {
            net: net.clone(),
            inputs,
            classes,
            device,
            plain,
            model,
            optim: optimizer(0.0),
            weight_decay: 0.0,
            checkpoints: Vec::new(),
        }
    }

    /// Re-initialises the weights and the optimiser.
    pub fn reinit(&mut self, seed: u64) {
        self.model = init_model(&self.net, self.inputs, self.classes, &self.device, seed);
        self.optim = optimizer(self.weight_decay);
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }

    fn tensors(&self, features: &[f32], labels: &[u32]) -> (Tensor<2>, Tensor<1, Int>) {
        let rows = labels.len();
        let x = Tensor::<2>::from_data(
            TensorData::new(features.to_vec(), [rows, self.inputs]),
            &self.device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i64).collect(), [rows]),
            &self.device,
        );
        (x, y)
    }

    /// One Adam step on a batch at learning rate `lr`; returns the loss before the step.
    pub fn train_batch(
        &mut self,
        features: &[f32],
        labels: &[u32],
        lr: f64,
    ) -> Result<f64, String> {
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
        let (x, y) = self.tensors(features, labels);
        let logits = self.model.forward(x);
        let loss = CrossEntropyLoss::new(None, &self.device).forward(logits, y);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let model = self.model.clone();
        self.model = self.optim.step(lr, model, grads);
        Ok(value)
    }

    /// Logits for every row of `data`, in eval mode (no dropout, no autodiff).
    pub fn logits(&self, data: &Dataset) -> Vec<f32> {
        self.logits_of(&data.features, data.len())
    }

    /// Logits for `rows` rows of row-major `features`.
    pub fn logits_of(&self, features: &[f32], rows: usize) -> Vec<f32> {
        const CHUNK: usize = 4096;
        let model = self.model.valid();
        let mut out = Vec::with_capacity(rows * self.classes);
        for start in (0..rows).step_by(CHUNK) {
            let n = CHUNK.min(rows - start);
            let slice = &features[start * self.inputs..(start + n) * self.inputs];
            let x = Tensor::<2>::from_data(
                TensorData::new(slice.to_vec(), [n, self.inputs]),
                &self.plain,
            );
            let data = model.forward(x).into_data();
            out.extend(data.iter::<f32>());
        }
        out
    }

    /// Mean loss and accuracy on `data`.
    pub fn evaluate(&self, data: &Dataset) -> (f64, f64) {
        loss_and_accuracy(&self.logits(data), &data.labels, self.classes)
    }

    /// Trains for `spec.epochs` over `train`, shuffling with `seed`; `on_epoch` sees progress
    /// and may stop early by returning false.
    pub fn fit(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        spec: &TrainSpec,
        seed: u64,
        mut on_epoch: impl FnMut(usize, f64) -> bool,
    ) -> Result<FitReport, String> {
        spec.validate()?;
        if spec.weight_decay != self.weight_decay {
            self.weight_decay = spec.weight_decay;
            self.optim = optimizer(spec.weight_decay);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut report = FitReport::default();
        let mut xb = Vec::with_capacity(spec.batch_size * self.inputs);
        let mut yb = Vec::with_capacity(spec.batch_size);
        for epoch in 0..spec.epochs {
            order.shuffle(&mut rng);
            let (mut sum, mut batches) = (0.0, 0usize);
            for chunk in order.chunks(spec.batch_size) {
                xb.clear();
                yb.clear();
                for &i in chunk {
                    xb.extend_from_slice(train.row(i));
                    yb.push(train.labels[i]);
                }
                let loss = self.train_batch(&xb, &yb, spec.lr)?;
                if !loss.is_finite() {
                    return Err(format!(
                        "loss became {loss} in epoch {} (lr {}): lower the learning rate",
                        epoch + 1,
                        spec.lr
                    ));
                }
                sum += loss;
                batches += 1;
                report.samples += chunk.len();
            }
            let mean = sum / batches.max(1) as f64;
            report.epoch_loss.push(mean);
            if let Some(v) = valid.filter(|v| !v.is_empty()) {
                report.epoch_valid_accuracy.push(self.evaluate(v).1);
            }
            if !on_epoch(epoch, mean) {
                break;
            }
        }
        Ok(report)
    }

    /// Saves the current weights in memory; returns a handle.
    pub fn checkpoint(&mut self) -> u64 {
        self.checkpoints.push(self.model.clone());
        (self.checkpoints.len() - 1) as u64
    }

    /// Restores saved weights and resets the optimiser (its moments belong to other weights).
    pub fn restore(&mut self, handle: u64) -> Result<(), String> {
        let m = self
            .checkpoints
            .get(handle as usize)
            .ok_or_else(|| format!("no checkpoint with handle {handle}"))?;
        self.model = m.clone();
        self.optim = optimizer(self.weight_decay);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{split, Dataset};

    #[test]
    fn same_seed_same_weights_and_training_lowers_loss() {
        let d = Dataset::digits().unwrap();
        let s = split(&d, 0.2, 1).unwrap();
        let net = NetConfig {
            hidden: vec![32],
            dropout: 0.0,
        };
        let a = Session::new(&net, 64, 10, 5);
        let b = Session::new(&net, 64, 10, 5);
        assert!(
            a.logits(&s.valid) == b.logits(&s.valid),
            "same seed gave different weights"
        );
        let mut a = a;
        let (before, _) = a.evaluate(&s.train);
        let spec = TrainSpec {
            epochs: 3,
            ..TrainSpec::default()
        };
        a.fit(&s.train, None, &spec, 5, |_, _| true).unwrap();
        let (after, acc) = a.evaluate(&s.train);
        assert!(after < before * 0.9, "{before} -> {after}");
        assert!(acc > 0.4, "{acc}");
    }
}
