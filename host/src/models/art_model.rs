//! Bring your own burn model. Implement [`ArtModel`] for your `#[derive(Module)]` struct — an
//! `init` from a config and a `forward` to logits, what you already write for burn — and
//! [`register`] it under a name; `kind = "NAME"` in `art.toml` then trains it in every recipe
//! step. The built-in networks go through the same code ([`BurnEngine`]).

use std::sync::Arc;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use rand::SeedableRng;

use super::net::DenseProbe;
use super::trainable::{register_factory, Shape, Snapshot, Trainable};

/// A burn module art can train: a classifier from `[batch, inputs]` features to
/// `[batch, classes]` logits.
///
/// ```ignore
/// impl ArtModel for ResMlp {
///     type Config = ResMlpConfig;           // serde: the rest of [models.NAME]
///     fn init(c: &ResMlpConfig, shape: Shape, device: &Device) -> Result<Self, String> { ... }
///     fn forward(&self, x: Tensor<2>) -> Tensor<2> { ... }
/// }
/// art_host::models::register::<ResMlp>("resmlp");
/// ```
pub trait ArtModel: Module + 'static {
    /// The model's hyperparameters: the keys of its `[models.NAME]` table besides `kind`.
    /// Tune and regularize sweep `hidden` and `dropout` by setting those keys.
    type Config: Clone + Send + Sync + 'static;

    /// A fresh model for data of `shape` on `device` (parameters drawn from burn's generator,
    /// which the session seeds).
    fn init(config: &Self::Config, shape: Shape, device: &Device) -> Result<Self, String>;

    /// Logits. Runs on an autodiff device while training, a plain one for evaluation.
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;

    /// Logits in training mode; override to draw dropout masks from `masks`, a generator the
    /// session seeds (burn's own dropout uses a global generator, which makes parallel trials
    /// irreproducible).
    fn forward_train(&self, x: Tensor<2>, masks: &mut rand::rngs::SmallRng) -> Tensor<2> {
        let _ = masks;
        self.forward(x)
    }

    /// "Init well": the same model with its output bias set to `log_priors` and its output
    /// weights scaled by `weight_scale`. `None` (the default) makes the init-well step fail
    /// with a message saying so.
    fn with_output_bias(
        self,
        log_priors: &[f32],
        weight_scale: f32,
        device: &Device,
    ) -> Option<Self> {
        let _ = (log_priors, weight_scale, device);
        None
    }

    /// Dense layers' parameters and activations for gradient statistics; `None` by default.
    #[doc(hidden)]
    fn dense_probe(&self, x: Tensor<2>) -> Option<DenseProbe> {
        let _ = x;
        None
    }
}

/// Registers `M` under `kind` (e.g. `"resmlp"`), so `[models.X] kind = "resmlp"` builds it
/// from the table's other keys.
pub fn register<M: ArtModel>(kind: &str)
where
    M::Config: serde::de::DeserializeOwned,
{
    let kind_owned = kind.to_owned();
    register_factory(
        kind,
        Arc::new(move |config, shape, seed| {
            let cfg: M::Config = serde_json::from_value(config.clone())
                .map_err(|e| format!("[models] kind `{kind_owned}`: {e}"))?;
            let make = move |device: &Device| M::init(&cfg, shape, device);
            Ok(Box::new(BurnEngine::<M>::new(Arc::new(make), shape, seed)?) as Box<dyn Trainable>)
        }),
    );
}

/// How an engine makes a fresh module.
pub type Make<M> = Arc<dyn Fn(&Device) -> Result<M, String> + Send + Sync>;

/// The device models train on: burn's `flex` CPU backend, or a GPU backend when the host is
/// built with the `wgpu` or `cuda` feature.
pub fn compute_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0)
    }
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    {
        Device::wgpu(Default::default())
    }
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        Device::flex()
    }
}

/// A burn module with its Adam optimiser: the engine behind every burn model.
pub struct BurnEngine<M: ArtModel> {
    make: Make<M>,
    shape: Shape,
    device: Device,
    plain: Device,
    model: M,
    optim: ModuleOptimizer,
    weight_decay: f64,
    masks: rand::rngs::SmallRng,
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

/// The generator of a session's dropout masks (derived from its seed).
fn mask_rng(seed: u64) -> rand::rngs::SmallRng {
    rand::rngs::SmallRng::seed_from_u64(seed ^ 0x6d61_736b_0000_0000)
}

impl<M: ArtModel> BurnEngine<M> {
    /// A model made by `make`, initialised with `seed`.
    pub fn new(make: Make<M>, shape: Shape, seed: u64) -> Result<Self, String> {
        let plain = compute_device();
        let device = plain.clone().autodiff();
        let model = Self::init_model(&make, shape, &device, seed)?;
        Ok(Self {
            make,
            shape,
            device,
            plain,
            model,
            optim: optimizer(0.0),
            weight_decay: 0.0,
            masks: mask_rng(seed),
        })
    }

    /// burn initialises parameters lazily, on first use, from a global generator: seed it and
    /// touch every parameter at once, or the weights depend on whatever ran in between.
    fn init_model(make: &Make<M>, shape: Shape, device: &Device, seed: u64) -> Result<M, String> {
        // burn's generator is one global: hold this lock from seeding to the last parameter
        // drawn, so sessions created in parallel threads still get their seed's weights.
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        device.seed(seed);
        let model = make(device)?;
        let _ = model.forward(Tensor::<2>::zeros([2, shape.inputs], device));
        Ok(model)
    }

    fn tensors(&self, features: Vec<f32>, labels: &[u32]) -> (Tensor<2>, Tensor<1, Int>) {
        let rows = labels.len();
        let x = Tensor::<2>::from_data(
            TensorData::new(features, [rows, self.shape.inputs]),
            &self.device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i64).collect(), [rows]),
            &self.device,
        );
        (x, y)
    }
}

impl<M: ArtModel> Trainable for BurnEngine<M> {
    fn reinit(&mut self, seed: u64) -> Result<(), String> {
        self.model = Self::init_model(&self.make, self.shape, &self.device, seed)?;
        self.optim = optimizer(self.weight_decay);
        self.masks = mask_rng(seed);
        Ok(())
    }

    fn step(
        &mut self,
        features: Vec<f32>,
        labels: &[u32],
        lr: f64,
        count_correct: bool,
    ) -> Result<(f64, usize), String> {
        let (x, y) = self.tensors(features, labels);
        let logits = self.model.forward_train(x, &mut self.masks);
        // One op and a 64-int readback, compared here: cheaper than equal + sum on the device.
        let correct = if count_correct {
            logits
                .clone()
                .argmax(1)
                .into_data()
                .iter::<i64>()
                .zip(labels)
                .filter(|(p, l)| *p == i64::from(**l))
                .count()
        } else {
            0
        };
        let loss = CrossEntropyLoss::new(None, &self.device).forward(logits, y);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if lr > 0.0 {
            let model = self.model.clone();
            self.model = self.optim.step(lr, model, grads);
        }
        Ok((value, correct))
    }

    fn set_weight_decay(&mut self, wd: f64) -> Result<(), String> {
        if wd != self.weight_decay {
            self.weight_decay = wd;
            self.optim = optimizer(wd);
        }
        Ok(())
    }

    fn logits(&self, features: &[f32], rows: usize) -> Result<Vec<f32>, String> {
        const CHUNK: usize = 2048;
        let inputs = self.shape.inputs;
        let model = self.model.valid();
        let mut out = Vec::with_capacity(rows * self.shape.classes);
        for start in (0..rows).step_by(CHUNK) {
            let n = CHUNK.min(rows - start);
            let slice = &features[start * inputs..(start + n) * inputs];
            let x =
                Tensor::<2>::from_data(TensorData::new(slice.to_vec(), [n, inputs]), &self.plain);
            out.extend(model.forward(x).into_data().iter::<f32>());
        }
        Ok(out)
    }

    fn num_params(&self) -> usize {
        self.model.num_params()
    }

    fn save(&self) -> Result<Vec<u8>, String> {
        let bytes = self
            .model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| format!("cannot record the weights: {e}"))?;
        Ok(bytes.to_vec())
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let record = burn::store::ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| format!("not a weights file of this model: {e}"))?;
        self.model = self
            .model
            .clone()
            .try_load_record(record)
            .map_err(|e| format!("the weights do not fit this model: {e}"))?;
        self.optim = optimizer(self.weight_decay);
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot, String> {
        Ok(Box::new(self.model.clone()))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), String> {
        let m = snapshot
            .downcast_ref::<M>()
            .ok_or("a snapshot of another model")?;
        self.model = m.clone();
        self.optim = optimizer(self.weight_decay);
        Ok(())
    }

    fn init_well(&mut self, log_priors: &[f32], weight_scale: f32) -> Result<(), String> {
        let model = self
            .model
            .clone()
            .with_output_bias(log_priors, weight_scale, &self.device)
            .ok_or("this model cannot set its output bias: implement ArtModel::with_output_bias")?;
        self.model = model;
        self.optim = optimizer(self.weight_decay);
        Ok(())
    }

    fn cross_sample_gradients(
        &mut self,
        features: &[f32],
        labels: &[u32],
        probes: &[usize],
    ) -> Result<(f64, f64), String> {
        let rows = labels.len();
        let (mut own, mut cross) = (0f64, 0f64);
        for &i in probes.iter().filter(|&&i| i < rows) {
            let (x, y) = self.tensors(features.to_vec(), labels);
            let x = x.require_grad();
            let logits = self.model.forward(x.clone());
            let loss = CrossEntropyLoss::new(None, &self.device)
                .forward(logits.narrow(0, i, 1), y.narrow(0, i, 1));
            let grads = loss.backward();
            let g = x.grad(&grads).ok_or("no gradient reached the input")?;
            let g: Vec<f32> = g.into_data().iter::<f32>().collect();
            for (j, row) in g.chunks_exact(self.shape.inputs).enumerate() {
                let m = row.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
                if j == i {
                    own = own.max(m);
                } else {
                    cross = cross.max(m);
                }
            }
        }
        Ok((own, cross))
    }

    fn gradient_stats(
        &mut self,
        features: &[f32],
        labels: &[u32],
    ) -> Result<serde_json::Value, String> {
        let (x, y) = self.tensors(features.to_vec(), labels);
        let probe = self
            .model
            .dense_probe(x)
            .ok_or("gradient statistics need a model that exposes its dense layers (the built-in mlp, cnn, linear)")?;
        let (params, acts, logits) = (probe.params, probe.activations, probe.logits);
        let loss = CrossEntropyLoss::new(None, &self.device).forward(logits, y);
        let loss_value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = loss.backward();
        let norm = |v: Vec<f32>| {
            v.iter()
                .map(|g| f64::from(*g) * f64::from(*g))
                .sum::<f64>()
                .sqrt()
        };
        let mut layers = Vec::new();
        for (i, (w, b)) in params.iter().enumerate() {
            let wg = w
                .grad(&grads)
                .map(|g| norm(g.into_data().iter::<f32>().collect()));
            let bg = b
                .as_ref()
                .and_then(|b| b.grad(&grads))
                .map(|g| norm(g.into_data().iter::<f32>().collect()));
            let dead = acts.get(i).map(|a| {
                let [rows, cols] = a.dims();
                let v: Vec<f32> = a.clone().into_data().iter::<f32>().collect();
                let dead = (0..cols)
                    .filter(|&c| (0..rows).all(|r| v[r * cols + c] <= 0.0))
                    .count();
                dead as f64 / cols.max(1) as f64
            });
            layers.push(serde_json::json!({
                "layer": i,
                "weight_grad_norm": wg,
                "bias_grad_norm": bg,
                "dead_fraction": dead,
            }));
        }
        Ok(serde_json::json!({"loss": loss_value, "layers": layers}))
    }
}
