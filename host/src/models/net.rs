//! The burn networks behind `mlp`, `linear` and `cnn`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::SmallRng;
use rand::Rng;

/// Which layers.
#[derive(Debug, Clone, PartialEq)]
pub enum Arch {
    /// Linear layers with ReLU between them; no hidden layer = logistic regression.
    Mlp {
        /// Hidden widths.
        hidden: Vec<usize>,
    },
    /// 3x3 convolutions (same padding, ReLU, 2x2 max-pool) over a square one-channel image,
    /// then one hidden dense layer.
    Cnn {
        /// Output channels of each conv block.
        channels: Vec<usize>,
        /// Width of the dense layer after the convolutions.
        hidden: usize,
    },
    /// A model not built in: a kind a burn user registered, or `pack::model` from a pack.
    /// `config` is the rest of its `[models.NAME]` table.
    Custom {
        /// Registered kind.
        kind: String,
        /// Its hyperparameters.
        config: serde_json::Value,
    },
}

/// Shape and initialisation of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Layers.
    pub arch: Arch,
    /// Dropout after each hidden dense layer.
    pub dropout: f64,
    /// Batch normalisation after each hidden dense layer (it mixes samples in training mode).
    pub batch_norm: bool,
    /// Multiplies the output layer's initial weights (1 = burn's Kaiming-uniform default).
    pub init_scale: f64,
}

impl NetConfig {
    /// A plain MLP.
    pub fn mlp(hidden: Vec<usize>, dropout: f64) -> Self {
        Self {
            arch: Arch::Mlp { hidden },
            dropout,
            batch_norm: false,
            init_scale: 1.0,
        }
    }
}

/// Inverted dropout with a mask from `rng`: zero with probability `p`, scale the rest by 1/(1-p).
fn dropout(x: Tensor<2>, p: f64, rng: &mut SmallRng) -> Tensor<2> {
    let [rows, cols] = x.dims();
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    // Two 32-bit draws per 64-bit word of a fast generator: masks are on the hot path.
    let threshold = (keep * f64::from(u32::MAX)) as u32;
    let n = rows * cols;
    let mut mask = Vec::with_capacity(n + 1);
    while mask.len() < n {
        let w = rng.random::<u64>();
        for half in [w as u32, (w >> 32) as u32] {
            mask.push(if half < threshold { scale } else { 0.0 });
        }
    }
    mask.truncate(n);
    let device = x.device();
    x * Tensor::<2>::from_data(TensorData::new(mask, [rows, cols]), &device)
}

/// What [`Net::dense_probe`] sees of one forward pass.
pub struct DenseProbe {
    /// (weight, bias) of each dense layer.
    pub params: Vec<(Tensor<2>, Option<Tensor<1>>)>,
    /// Post-ReLU activations of each hidden dense layer.
    pub activations: Vec<Tensor<2>>,
    /// The logits.
    pub logits: Tensor<2>,
}

/// A dense stack: the MLP itself, and the head of the CNN.
#[derive(Module, Debug)]
pub struct Dense {
    layers: Vec<Linear>,
    norms: Vec<BatchNorm>,
    dropout: Dropout,
}

impl Dense {
    fn new(widths: &[usize], cfg: &NetConfig, device: &Device) -> Self {
        let n = widths.len() - 1;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let layer = LinearConfig::new(w[0], w[1]).init(device);
                if i + 1 == n && cfg.init_scale != 1.0 {
                    let s = cfg.init_scale as f32;
                    Linear {
                        weight: layer.weight.map(|t| t * s),
                        bias: layer.bias,
                    }
                } else {
                    layer
                }
            })
            .collect();
        let norms = if cfg.batch_norm {
            widths[1..n]
                .iter()
                .map(|&w| BatchNormConfig::new(w).init(device))
                .collect()
        } else {
            vec![]
        };
        Self {
            layers,
            norms,
            dropout: DropoutConfig::new(cfg.dropout).init(),
        }
    }

    fn forward(&self, mut x: Tensor<2>, mut masks: Option<&mut SmallRng>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let p = self.dropout.prob;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                if let Some(norm) = self.norms.get(i) {
                    x = norm.forward(x);
                }
                x = relu(x);
                if let (Some(rng), true) = (masks.as_deref_mut(), p > 0.0) {
                    x = dropout(x, p, rng);
                }
            }
        }
        x
    }

    fn set_output_bias(self, bias: &[f32], weight_scale: f32, device: &Device) -> Self {
        let mut layers = self.layers;
        if let Some(last) = layers.pop() {
            let b = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [bias.len()]), device);
            layers.push(Linear {
                weight: last.weight.map(|w| w * weight_scale),
                bias: last.bias.map(|p| p.map(|_| b)),
            });
        }
        Self { layers, ..self }
    }
}

/// Convolution blocks then a dense head.
#[derive(Module, Debug)]
pub struct Cnn {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    head: Dense,
    side: usize,
}

/// A network of either architecture.
#[derive(Module, Debug)]
pub enum Net {
    /// Dense only.
    Mlp(Dense),
    /// Convolutional.
    Cnn(Cnn),
}

/// The side of a square image with `features` pixels, if it is one.
pub fn image_side(features: usize) -> Option<usize> {
    let side = (features as f64).sqrt().round() as usize;
    (side * side == features && side >= 2).then_some(side)
}

impl Net {
    /// A freshly initialised network; `Err` when the architecture does not fit the data.
    pub fn new(
        cfg: &NetConfig,
        inputs: usize,
        classes: usize,
        device: &Device,
    ) -> Result<Self, String> {
        match &cfg.arch {
            Arch::Mlp { hidden } => {
                let mut widths = vec![inputs];
                widths.extend(hidden);
                widths.push(classes);
                Ok(Net::Mlp(Dense::new(&widths, cfg, device)))
            }
            Arch::Cnn { channels, hidden } => {
                let side = image_side(inputs).ok_or_else(|| {
                    format!(
                        "a cnn needs square one-channel images; {inputs} features is not a square"
                    )
                })?;
                let mut c_in = 1;
                let mut s = side;
                let mut convs = Vec::new();
                for &c in channels {
                    convs.push(
                        Conv2dConfig::new([c_in, c], [3, 3])
                            .with_padding(PaddingConfig2d::Same)
                            .init(device),
                    );
                    c_in = c;
                    s = (s / 2).max(1);
                }
                let flat = c_in * s * s;
                Ok(Net::Cnn(Cnn {
                    convs,
                    pool: MaxPool2dConfig::new([2, 2]).init(),
                    head: Dense::new(&[flat, *hidden, classes], cfg, device),
                    side,
                }))
            }
            Arch::Custom { kind, .. } => Err(format!(
                "`{kind}` is not a built-in network; it is built through the model registry"
            )),
        }
    }

    /// Logits for a `[batch, inputs]` tensor, without dropout.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_masked(x, None)
    }

    /// Logits in training mode: dropout masks drawn from `rng`. The masks come from our own
    /// seeded generator, not burn's global one, so trials can train in parallel threads and
    /// still give the same weights for the same seed.
    pub fn forward_train(&self, x: Tensor<2>, rng: &mut SmallRng) -> Tensor<2> {
        self.forward_masked(x, Some(rng))
    }

    fn forward_masked(&self, x: Tensor<2>, masks: Option<&mut SmallRng>) -> Tensor<2> {
        match self {
            Net::Mlp(d) => d.forward(x, masks),
            Net::Cnn(c) => {
                let [b, _] = x.dims();
                let mut h: Tensor<4> = x.reshape([b, 1, c.side, c.side]);
                for conv in &c.convs {
                    h = relu(conv.forward(h));
                    let [_, _, hh, _] = h.dims();
                    if hh >= 2 {
                        h = c.pool.forward(h);
                    }
                }
                let [b, ch, hh, ww] = h.dims();
                c.head.forward(h.reshape([b, ch * hh * ww]), masks)
            }
        }
    }

    /// For gradient statistics: the dense layers' parameters, the post-ReLU activations of
    /// each hidden dense layer on `x`, and the logits (no dropout).
    pub fn dense_probe(&self, x: Tensor<2>) -> DenseProbe {
        let (dense, mut h) = match self {
            Net::Mlp(d) => (d, x),
            Net::Cnn(c) => {
                let [b, _] = x.dims();
                let mut t: Tensor<4> = x.reshape([b, 1, c.side, c.side]);
                for conv in &c.convs {
                    t = relu(conv.forward(t));
                    let [_, _, hh, _] = t.dims();
                    if hh >= 2 {
                        t = c.pool.forward(t);
                    }
                }
                let [b, ch, hh, ww] = t.dims();
                (&c.head, t.reshape([b, ch * hh * ww]))
            }
        };
        let params = dense
            .layers
            .iter()
            .map(|l| (l.weight.val(), l.bias.as_ref().map(|b| b.val())))
            .collect();
        let mut acts = Vec::new();
        let last = dense.layers.len() - 1;
        for (i, layer) in dense.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                if let Some(norm) = dense.norms.get(i) {
                    h = norm.forward(h);
                }
                h = relu(h);
                acts.push(h.clone());
            }
        }
        DenseProbe {
            params,
            activations: acts,
            logits: h,
        }
    }

    /// Sets the output bias (to log class priors: "init well") and scales the output weights.
    pub fn with_output_bias(self, bias: &[f32], weight_scale: f32, device: &Device) -> Self {
        match self {
            Net::Mlp(d) => Net::Mlp(d.set_output_bias(bias, weight_scale, device)),
            Net::Cnn(c) => Net::Cnn(Cnn {
                head: c.head.set_output_bias(bias, weight_scale, device),
                ..c
            }),
        }
    }
}

impl crate::models::art_model::ArtModel for Net {
    type Config = NetConfig;

    fn init(
        config: &NetConfig,
        shape: crate::models::Shape,
        device: &Device,
    ) -> Result<Self, String> {
        Net::new(config, shape.inputs, shape.classes, device)
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        Net::forward(self, x)
    }

    fn forward_train(&self, x: Tensor<2>, masks: &mut SmallRng) -> Tensor<2> {
        Net::forward_train(self, x, masks)
    }

    fn with_output_bias(
        self,
        log_priors: &[f32],
        weight_scale: f32,
        device: &Device,
    ) -> Option<Self> {
        Some(Net::with_output_bias(
            self,
            log_priors,
            weight_scale,
            device,
        ))
    }

    fn dense_probe(&self, x: Tensor<2>) -> Option<DenseProbe> {
        Some(Net::dense_probe(self, x))
    }
}
