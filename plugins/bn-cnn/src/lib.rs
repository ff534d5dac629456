//! A model pack: `kind = "bn-cnn::bn-cnn"` in `art.toml` trains this convolutional network
//! with batch normalisation (a model the host does not have) in every recipe step.
//!
//! The pack links its own copy of burn; the host only sees the ABI `Model` object: reset,
//! train a batch, predict, save/load weights (burn's recorder, burnpack bytes), parameter
//! count, and the optional operations `set_weight_decay`, `init_output_bias` and
//! `cross_sample_gradients` by name.

use std::sync::Mutex;

use art_plugin_api::{export_pack, Batch, ModelDecl, ModelShape, PackModel, TrainStats};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use serde::Deserialize;

/// `[models.NAME]` keys besides `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Output channels of each conv + batch-norm + ReLU + 2x2 max-pool block.
    #[serde(default = "default_channels")]
    pub channels: Vec<usize>,
    /// Width of the dense layer after the convolutions (tune sweeps it as `hidden = [N]`).
    #[serde(default = "default_hidden", deserialize_with = "one_or_list")]
    pub hidden: usize,
    /// Dropout before the output layer.
    #[serde(default)]
    pub dropout: f64,
}

fn default_channels() -> Vec<usize> {
    vec![16, 32]
}
fn default_hidden() -> usize {
    64
}

/// `hidden = 64` or `hidden = [64]` (the form tune and regularize write).
fn one_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum H {
        One(usize),
        List(Vec<usize>),
    }
    match H::deserialize(d)? {
        H::One(n) => Ok(n),
        H::List(v) if v.len() == 1 => Ok(v[0]),
        H::List(v) => Err(serde::de::Error::custom(format!(
            "bn-cnn has one dense layer: hidden must be one width, got {v:?}"
        ))),
    }
}

#[derive(Module, Debug)]
struct Net {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    pool: MaxPool2d,
    fc: Linear,
    out: Linear,
    dropout: Dropout,
    side: usize,
}

impl Net {
    fn new(cfg: &Config, shape: ModelShape, device: &Device) -> Result<Self, String> {
        let inputs = shape.inputs as usize;
        let side = (inputs as f64).sqrt().round() as usize;
        if side * side != inputs || side < 2 {
            return Err(format!(
                "bn-cnn needs square one-channel images; {inputs} features is not a square"
            ));
        }
        if cfg.channels.is_empty() || cfg.channels.contains(&0) || cfg.hidden == 0 {
            return Err("bn-cnn: channels must be non-empty and every width >= 1".into());
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(format!(
                "bn-cnn: dropout must be in [0, 1), got {}",
                cfg.dropout
            ));
        }
        let (mut c_in, mut s) = (1, side);
        let (mut convs, mut norms) = (Vec::new(), Vec::new());
        for &c in &cfg.channels {
            convs.push(
                Conv2dConfig::new([c_in, c], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
            );
            norms.push(BatchNormConfig::new(c).init(device));
            c_in = c;
            if s >= 2 {
                s /= 2;
            }
        }
        Ok(Self {
            convs,
            norms,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc: LinearConfig::new(c_in * s * s, cfg.hidden).init(device),
            out: LinearConfig::new(cfg.hidden, shape.classes as usize).init(device),
            dropout: DropoutConfig::new(cfg.dropout).init(),
            side,
        })
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let mut h: Tensor<4> = x.reshape([b, 1, self.side, self.side]);
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            h = relu(norm.forward(conv.forward(h)));
            let [_, _, hh, _] = h.dims();
            if hh >= 2 {
                h = self.pool.forward(h);
            }
        }
        let [b, c, hh, ww] = h.dims();
        let h = relu(self.fc.forward(h.reshape([b, c * hh * ww])));
        self.out.forward(self.dropout.forward(h))
    }
}

/// One instance of the model with its optimiser.
struct BnCnn {
    cfg: Config,
    shape: ModelShape,
    device: Device,
    plain: Device,
    net: Net,
    optim: ModuleOptimizer,
    weight_decay: f64,
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

/// burn draws initial weights from one global generator (this pack's own copy): hold a lock
/// from seeding to the last parameter, so models built in parallel trials get their seed's.
fn init(cfg: &Config, shape: ModelShape, device: &Device) -> Result<Net, String> {
    static INIT: Mutex<()> = Mutex::new(());
    let _g = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(shape.seed);
    let net = Net::new(cfg, shape, device)?;
    let _ = net.forward(Tensor::<2>::zeros([2, shape.inputs as usize], device));
    Ok(net)
}

impl BnCnn {
    fn new(cfg: Config, shape: ModelShape) -> Result<Self, String> {
        let plain = Device::flex();
        let device = plain.clone().autodiff();
        let net = init(&cfg, shape, &device)?;
        Ok(Self {
            cfg,
            shape,
            device,
            plain,
            net,
            optim: optimizer(0.0),
            weight_decay: 0.0,
        })
    }

    fn tensors(&self, batch: &Batch) -> Result<(Tensor<2>, Tensor<1, Int>), String> {
        let (rows, cols) = (batch.rows as usize, batch.cols as usize);
        if cols != self.shape.inputs as usize || batch.features.len() != rows * cols {
            return Err(format!(
                "batch of {rows}x{cols} with {} values; this model takes {} features",
                batch.features.len(),
                self.shape.inputs
            ));
        }
        if batch.labels.len() != rows {
            return Err(format!("{} labels for {rows} rows", batch.labels.len()));
        }
        let x = Tensor::<2>::from_data(
            TensorData::new(batch.features.to_vec(), [rows, cols]),
            &self.device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(batch.labels.iter().map(|&l| l as i64).collect(), [rows]),
            &self.device,
        );
        Ok((x, y))
    }

    fn input_gradients(&self, args: &serde_json::Value) -> Result<serde_json::Value, String> {
        let floats = |k: &str| -> Vec<f32> {
            args[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_f64())
                        .map(|v| v as f32)
                        .collect()
                })
                .unwrap_or_default()
        };
        let ints = |k: &str| -> Vec<u64> {
            args[k]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
                .unwrap_or_default()
        };
        let features = floats("features");
        let labels: Vec<u32> = ints("labels").into_iter().map(|l| l as u32).collect();
        let inputs = self.shape.inputs as usize;
        let rows = labels.len();
        let batch = Batch {
            features: features.into(),
            rows: rows as u64,
            cols: inputs as u64,
            labels: labels.into(),
        };
        let (mut own, mut cross) = (0f64, 0f64);
        for i in ints("probes")
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| i < rows)
        {
            let (x, y) = self.tensors(&batch)?;
            let x = x.require_grad();
            let logits = self.net.forward(x.clone());
            let loss = CrossEntropyLoss::new(None, &self.device)
                .forward(logits.narrow(0, i, 1), y.narrow(0, i, 1));
            let grads = loss.backward();
            let g = x.grad(&grads).ok_or("no gradient reached the input")?;
            let g: Vec<f32> = g.into_data().iter::<f32>().collect();
            for (j, row) in g.chunks_exact(inputs).enumerate() {
                let m = row.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
                if j == i {
                    own = own.max(m);
                } else {
                    cross = cross.max(m);
                }
            }
        }
        Ok(serde_json::json!({ "own": own, "cross": cross }))
    }
}

impl PackModel for BnCnn {
    fn reset(&mut self, seed: u64) -> Result<(), String> {
        self.shape.seed = seed;
        self.net = init(&self.cfg, self.shape, &self.device)?;
        self.optim = optimizer(self.weight_decay);
        Ok(())
    }

    fn train_batch(&mut self, batch: &Batch, lr: f64) -> Result<TrainStats, String> {
        let (x, y) = self.tensors(batch)?;
        let logits = self.net.forward(x);
        let correct = logits
            .clone()
            .argmax(1)
            .squeeze_dim::<1>(1)
            .equal(y.clone())
            .int()
            .sum()
            .into_scalar::<i64>() as u64;
        let loss = CrossEntropyLoss::new(None, &self.device).forward(logits, y);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        if lr > 0.0 {
            let net = self.net.clone();
            self.net = self.optim.step(lr, net, grads);
        }
        Ok(TrainStats {
            loss: value,
            correct,
        })
    }

    fn predict(&self, batch: &Batch) -> Result<Vec<f32>, String> {
        let (rows, cols) = (batch.rows as usize, batch.cols as usize);
        if cols != self.shape.inputs as usize || batch.features.len() != rows * cols {
            return Err(format!(
                "batch of {rows}x{cols}; this model takes {} features",
                self.shape.inputs
            ));
        }
        let x = Tensor::<2>::from_data(
            TensorData::new(batch.features.to_vec(), [rows, cols]),
            &self.plain,
        );
        Ok(self
            .net
            .valid()
            .forward(x)
            .into_data()
            .iter::<f32>()
            .collect())
    }

    fn save(&self) -> Result<Vec<u8>, String> {
        let bytes = self
            .net
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| format!("cannot record the weights: {e}"))?;
        Ok(bytes.to_vec())
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let record = burn::store::ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| format!("not bn-cnn weights: {e}"))?;
        self.net = self
            .net
            .clone()
            .try_load_record(record)
            .map_err(|e| format!("the weights do not fit this bn-cnn: {e}"))?;
        self.optim = optimizer(self.weight_decay);
        Ok(())
    }

    fn num_params(&self) -> u64 {
        self.net.num_params() as u64
    }

    fn call(&mut self, op: &str, args: &serde_json::Value) -> Result<serde_json::Value, String> {
        match op {
            "set_weight_decay" => {
                let wd = args["weight_decay"]
                    .as_f64()
                    .ok_or("weight_decay: a number")?;
                self.weight_decay = wd;
                self.optim = optimizer(wd);
                Ok(serde_json::Value::Null)
            }
            "init_output_bias" => {
                let priors: Vec<f32> = args["log_priors"]
                    .as_array()
                    .ok_or("log_priors: a list")?
                    .iter()
                    .filter_map(|v| v.as_f64().map(|v| v as f32))
                    .collect();
                if priors.len() != self.shape.classes as usize {
                    return Err(format!(
                        "{} priors for {} classes",
                        priors.len(),
                        self.shape.classes
                    ));
                }
                let scale = args["weight_scale"].as_f64().unwrap_or(1.0) as f32;
                let b = Tensor::<1>::from_data(
                    TensorData::new(priors.clone(), [priors.len()]),
                    &self.device,
                );
                let out = self.net.out.clone();
                self.net.out = Linear {
                    weight: out.weight.map(|w| w * scale),
                    bias: out.bias.map(|p| p.map(|_| b)),
                };
                self.optim = optimizer(self.weight_decay);
                Ok(serde_json::Value::Null)
            }
            "cross_sample_gradients" => self.input_gradients(args),
            other => Err(format!("bn-cnn does not support `{other}`")),
        }
    }
}

fn new_bn_cnn(config: &serde_json::Value, shape: ModelShape) -> Result<Box<dyn PackModel>, String> {
    let cfg: Config =
        serde_json::from_value(config.clone()).map_err(|e| format!("bn-cnn config: {e}"))?;
    Ok(Box::new(BnCnn::new(cfg, shape)?))
}

export_pack! {
    name: "bn-cnn",
    description: "A CNN with batch normalisation, as a model for every recipe step",
    authors: ["art developers"],
    steps: [],
    checks: [],
    models: [ModelDecl::new(
        "bn-cnn",
        "conv + batch norm + ReLU + max-pool blocks, a dense layer, dropout; square 1-channel images",
        1,
        serde_json::json!({
            "type": "object",
            "properties": {
                "channels": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "hidden": {"type": ["integer", "array"]},
                "dropout": {"type": "number", "minimum": 0, "maximum": 1}
            }
        }),
        new_bn_cnn
    )],
}
