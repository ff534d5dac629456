//! The burn network behind `mlp` and `linear`.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Shape of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Hidden widths; empty means a linear model.
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer.
    pub dropout: f64,
}

/// Linear layers with ReLU and dropout between them.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
}

impl Mlp {
    /// A freshly initialised network (burn's Kaiming-uniform default, as PyTorch).
    pub fn new(cfg: &NetConfig, inputs: usize, classes: usize, device: &Device) -> Self {
        let mut widths = vec![inputs];
        widths.extend(&cfg.hidden);
        widths.push(classes);
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Self {
            layers,
            dropout: DropoutConfig::new(cfg.dropout).init(),
        }
    }

    /// Logits for a `[batch, inputs]` tensor.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.dropout.forward(relu(x));
            }
        }
        x
    }
}
