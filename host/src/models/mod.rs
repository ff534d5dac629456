//! Model architectures: burn networks (`mlp`, `linear`) and the dumb baselines every real
//! model must beat (`majority`, `prototype`).

pub mod art_model;
pub mod baselines;
pub mod net;
pub mod trainable;

pub use art_model::{register, ArtModel};
pub use trainable::Shape;

use serde::{Deserialize, Serialize};

use net::{Arch, NetConfig};

/// A `[models.NAME]` table of `art.toml`: a built-in kind, or one registered by a library
/// user (`kind = "resmlp"`) or exported by a pack (`kind = "pack::model"`).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// mlp, cnn, linear, majority, prototype.
    Builtin(BuiltinSpec),
    /// Any other kind; `config` is the rest of the table, handed to the model's factory.
    Custom {
        /// The registered kind.
        kind: String,
        /// The table without `kind`.
        config: serde_json::Value,
    },
}

/// The kinds `art-host` builds itself.
pub const BUILTIN_KINDS: [&str; 5] = ["mlp", "cnn", "linear", "majority", "prototype"];

impl Serialize for ModelSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ModelSpec::Builtin(b) => b.serialize(s),
            ModelSpec::Custom { kind, config } => {
                let mut m = config.as_object().cloned().unwrap_or_default();
                m.insert("kind".into(), serde_json::Value::String(kind.clone()));
                m.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let kind = v
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or_else(|| D::Error::custom("missing `kind` (mlp, cnn, linear, majority, prototype, a registered kind, or pack::model)"))?
            .to_owned();
        if BUILTIN_KINDS.contains(&kind.as_str()) {
            return BuiltinSpec::deserialize(v)
                .map(ModelSpec::Builtin)
                .map_err(D::Error::custom);
        }
        let mut config = v.as_object().cloned().unwrap_or_default();
        config.remove("kind");
        Ok(ModelSpec::Custom {
            kind,
            config: serde_json::Value::Object(config),
        })
    }
}

/// A built-in model kind and its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BuiltinSpec {
    /// A multi-layer perceptron with ReLU (and optional batch norm, dropout) between layers.
    Mlp {
        /// Widths of the hidden layers.
        #[serde(default = "default_hidden")]
        hidden: Vec<usize>,
        /// Dropout probability after each hidden layer.
        #[serde(default)]
        dropout: f64,
        /// Batch normalisation after each hidden layer.
        #[serde(default)]
        batch_norm: bool,
        /// Multiplies the output layer's initial weights.
        #[serde(default = "one")]
        init_scale: f64,
    },
    /// A small convolutional network for square one-channel images (8x8 digits, 28x28 MNIST).
    Cnn {
        /// Channels of each 3x3 conv + 2x2 max-pool block.
        #[serde(default = "default_channels")]
        channels: Vec<usize>,
        /// Width of the dense layer after the convolutions.
        #[serde(default = "default_cnn_hidden")]
        hidden: usize,
        /// Dropout after the dense layer.
        #[serde(default)]
        dropout: f64,
        /// Multiplies the output layer's initial weights.
        #[serde(default = "one")]
        init_scale: f64,
    },
    /// Multinomial logistic regression (no hidden layer).
    Linear {
        /// Multiplies the initial weights.
        #[serde(default = "one")]
        init_scale: f64,
    },
    /// Always predicts the class priors of the training split.
    Majority {},
    /// Nearest class centroid.
    Prototype {},
}

fn default_hidden() -> Vec<usize> {
    vec![128]
}
fn default_channels() -> Vec<usize> {
    vec![16, 32]
}
fn default_cnn_hidden() -> usize {
    64
}
fn one() -> f64 {
    1.0
}

impl ModelSpec {
    /// The kind, as written in `art.toml`.
    pub fn kind(&self) -> &str {
        match self {
            ModelSpec::Builtin(b) => b.kind(),
            ModelSpec::Custom { kind, .. } => kind,
        }
    }

    /// The network for trainable kinds; `None` for baselines, which do not train.
    pub fn net(&self) -> Option<NetConfig> {
        match self {
            ModelSpec::Builtin(b) => b.net(),
            ModelSpec::Custom { kind, config } => Some(NetConfig {
                arch: Arch::Custom {
                    kind: kind.clone(),
                    config: config.clone(),
                },
                dropout: config
                    .get("dropout")
                    .and_then(|d| d.as_f64())
                    .unwrap_or(0.0),
                batch_norm: false,
                init_scale: 1.0,
            }),
        }
    }

    /// Checks values that serde cannot (a custom kind's config is its factory's to judge).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ModelSpec::Builtin(b) => b.validate(),
            ModelSpec::Custom { .. } => Ok(()),
        }
    }
}

impl BuiltinSpec {
    /// The kind, as written in `art.toml`.
    pub fn kind(&self) -> &'static str {
        match self {
            BuiltinSpec::Mlp { .. } => "mlp",
            BuiltinSpec::Cnn { .. } => "cnn",
            BuiltinSpec::Linear { .. } => "linear",
            BuiltinSpec::Majority {} => "majority",
            BuiltinSpec::Prototype {} => "prototype",
        }
    }

    /// The network for trainable kinds; `None` for baselines, which do not train.
    pub fn net(&self) -> Option<NetConfig> {
        match self {
            BuiltinSpec::Mlp {
                hidden,
                dropout,
                batch_norm,
                init_scale,
            } => Some(NetConfig {
                arch: Arch::Mlp {
                    hidden: hidden.clone(),
                },
                dropout: *dropout,
                batch_norm: *batch_norm,
                init_scale: *init_scale,
            }),
            BuiltinSpec::Cnn {
                channels,
                hidden,
                dropout,
                init_scale,
            } => Some(NetConfig {
                arch: Arch::Cnn {
                    channels: channels.clone(),
                    hidden: *hidden,
                },
                dropout: *dropout,
                batch_norm: false,
                init_scale: *init_scale,
            }),
            BuiltinSpec::Linear { init_scale } => Some(NetConfig {
                arch: Arch::Mlp { hidden: vec![] },
                dropout: 0.0,
                batch_norm: false,
                init_scale: *init_scale,
            }),
            BuiltinSpec::Majority {} | BuiltinSpec::Prototype {} => None,
        }
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        let (widths, dropout, scale): (Vec<usize>, f64, f64) = match self {
            BuiltinSpec::Mlp {
                hidden,
                dropout,
                init_scale,
                ..
            } => (hidden.clone(), *dropout, *init_scale),
            BuiltinSpec::Cnn {
                channels,
                hidden,
                dropout,
                init_scale,
            } => {
                if channels.is_empty() {
                    return Err("a cnn needs at least one conv block in `channels`".into());
                }
                let mut w = channels.clone();
                w.push(*hidden);
                (w, *dropout, *init_scale)
            }
            BuiltinSpec::Linear { init_scale } => (vec![], 0.0, *init_scale),
            BuiltinSpec::Majority {} | BuiltinSpec::Prototype {} => return Ok(()),
        };
        if widths.contains(&0) {
            return Err("layer widths and channel counts must be >= 1".into());
        }
        if !(0.0..1.0).contains(&dropout) {
            return Err(format!("dropout must be in [0, 1), got {dropout}"));
        }
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(format!(
                "init_scale must be a finite number >= 0, got {scale}"
            ));
        }
        Ok(())
    }
}

/// Mean cross-entropy and accuracy of row-major `logits` against `labels`, computed with a
/// stable log-sum-exp. Shared by every model so that all report the same quantity.
pub fn loss_and_accuracy(logits: &[f32], labels: &[u32], classes: usize) -> (f64, f64) {
    if labels.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (row, &y) in logits.chunks_exact(classes).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max
            + row
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln();
        loss += lse - row[y as usize] as f64;
        let argmax = row
            .iter()
            .enumerate()
            .fold(0, |best, (i, &v)| if v > row[best] { i } else { best });
        correct += usize::from(argmax == y as usize);
    }
    let n = labels.len() as f64;
    (loss / n, correct as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_ln_c() {
        let (loss, _) = loss_and_accuracy(&[0.0; 20], &[3, 7], 10);
        assert!((loss - 10f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn accuracy_counts_argmax() {
        let logits = [1.0, 0.0, 0.0, 2.0, 5.0, 1.0];
        let (_, acc) = loss_and_accuracy(&logits, &[0, 1, 1], 2);
        assert!((acc - 2.0 / 3.0).abs() < 1e-12);
    }
}
