//! Bring your own burn model: a small residual MLP, registered under `resmlp`, trained by the
//! whole built-in recipe on the embedded digits data.
//!
//! ```sh
//! cargo run --release -p art-host --example custom_model -- [PROJECT_DIR]
//! ```
//! The project is built in code (`Project::builder`) and written to PROJECT_DIR/art.toml
//! (default `art-resmlp`), so `art-host status`, `report` and `dashboard` work on it too.

use std::path::PathBuf;
use std::process::ExitCode;

use art_host::models::{register, ArtModel, Shape};
use art_host::progress::Mode;
use art_host::project::Project;
use art_host::runner::{run_project, RunOptions};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;
use serde_json::json;

/// The `[models.NAME]` keys of a `resmlp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResMlpConfig {
    /// Width of the residual stream.
    #[serde(default = "width")]
    width: usize,
    /// Residual blocks.
    #[serde(default = "blocks")]
    blocks: usize,
}
fn width() -> usize {
    64
}
fn blocks() -> usize {
    2
}

/// One residual block: h + W2 relu(W1 h).
#[derive(Module, Debug)]
struct Block {
    a: Linear,
    b: Linear,
}

#[derive(Module, Debug)]
struct ResMlp {
    input: Linear,
    blocks: Vec<Block>,
    out: Linear,
}

impl ArtModel for ResMlp {
    type Config = ResMlpConfig;

    fn init(c: &ResMlpConfig, shape: Shape, device: &Device) -> Result<Self, String> {
        let block = || Block {
            a: LinearConfig::new(c.width, c.width).init(device),
            b: LinearConfig::new(c.width, c.width).init(device),
        };
        Ok(Self {
            input: LinearConfig::new(shape.inputs, c.width).init(device),
            blocks: (0..c.blocks).map(|_| block()).collect(),
            out: LinearConfig::new(c.width, shape.classes).init(device),
        })
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = relu(self.input.forward(x));
        for b in &self.blocks {
            h = h.clone() + b.b.forward(relu(b.a.forward(h)));
        }
        self.out.forward(h)
    }

    // Optional: lets the init-well step set the output bias to the class priors.
    fn with_output_bias(self, log_priors: &[f32], scale: f32, device: &Device) -> Option<Self> {
        let bias = Tensor::<1>::from_data(
            TensorData::new(log_priors.to_vec(), [log_priors.len()]),
            device,
        );
        let out = Linear {
            weight: self.out.weight.map(|w| w * scale),
            bias: self.out.bias.map(|p| p.map(|_| bias)),
        };
        Some(Self { out, ..self })
    }
}

fn main() -> ExitCode {
    register::<ResMlp>("resmlp");
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "art-resmlp".into()),
    );
    let recipe = [
        "data-analysis",
        "evaluate-baseline",
        "input-independent-baseline",
        "check-loss-on-init",
        "init-well",
        "batch-independence",
        "overfit-one-batch",
    ];
    let mut builder = Project::builder("digits-resmlp")
        .seed(42)
        .data("builtin", json!("digits"))
        .model("res", "resmlp", json!({ "width": 64, "blocks": 2 }));
    for step in recipe {
        builder = builder.step(&format!("recipe::{step}"), |s| s.model("res"));
    }
    builder = builder
        .step("recipe::overfit", |s| {
            s.model("res")
                .set("epochs", json!(30))
                .set("lr", json!(0.001))
                .check("valid.accuracy >= 0.95")
        })
        .step("recipe::regularize", |s| {
            s.model("res")
                .set("epochs", json!(30))
                .set("lr", json!(0.001))
                .set(
                    "configs",
                    json!([{ "weight_decay": 0.0001 }, { "early_stopping": 5, "epochs": 40 }]),
                )
        })
        .step("recipe::tune", |s| {
            s.model("res")
                .set("space", json!({ "lr": [0.001, 0.003] }))
                .set("trials", json!(2))
        })
        .step("recipe::squeeze", |s| s.model("res").set("seeds", json!(3)));
    let result = builder
        .write_to(&dir)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            let opts = RunOptions {
                progress: Mode::detect(false),
                ..RunOptions::default()
            };
            run_project(&dir, &opts).map_err(|e| e.to_string())
        });
    match result {
        Ok(report) => {
            for s in &report.steps {
                println!("{:<28} {:<8} {}", s.step_id, s.status.as_str(), s.summary);
            }
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
