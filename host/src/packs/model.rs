//! Models a pack exports (`kind = "pack::model"`): the ABI [`Model`](art_plugin_api::Model)
//! object behind the host's [`Trainable`], so every recipe step trains it like a built-in.
//!
//! Abilities beyond train/predict/save/load go through the model's `call(op, json)`:
//! `set_weight_decay`, `init_output_bias` (init-well), `cross_sample_gradients`
//! (batch-independence) and `gradient_stats` (grad-health). A pack that lacks one fails
//! only the step that needs it, with the pack's own message.

use std::sync::Arc;

use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use art_plugin_api::pack::ModelsEntry;
use art_plugin_api::{Batch, ModelBox, ModelShape};

use super::loader::LoadedPack;
use crate::models::trainable::{register_factory, Shape, Trainable};

/// Rows per `predict` call, so the pack never sees an unbounded batch.
const PREDICT_CHUNK: usize = 2048;

/// A pack's model instance.
pub struct PackEngine {
    kind: String,
    model: ModelBox,
    shape: Shape,
    weight_decay: f64,
}

fn res<T>(
    kind: &str,
    what: &str,
    r: RResult<T, abi_stable::std_types::RString>,
) -> Result<T, String> {
    r.into_result()
        .map_err(|e| format!("model `{kind}` {what}: {e}"))
}

fn batch(features: Vec<f32>, labels: Vec<u32>, rows: usize, cols: usize) -> Batch {
    Batch {
        features: RVec::from(features),
        rows: rows as u64,
        cols: cols as u64,
        labels: RVec::from(labels),
    }
}

impl PackEngine {
    fn call(&mut self, op: &str, args: serde_json::Value) -> Result<serde_json::Value, String> {
        let text = args.to_string();
        let out = res(
            &self.kind,
            op,
            self.model.call(RStr::from_str(op), RStr::from_str(&text)),
        )?;
        serde_json::from_str(out.as_str()).map_err(|e| {
            format!(
                "model `{}` {op}: answered with invalid JSON: {e}",
                self.kind
            )
        })
    }
}

impl Trainable for PackEngine {
    fn reinit(&mut self, seed: u64) -> Result<(), String> {
        res(&self.kind, "reset", self.model.reset(seed))
    }

    fn step(
        &mut self,
        features: Vec<f32>,
        labels: &[u32],
        lr: f64,
        _count_correct: bool,
    ) -> Result<(f64, usize), String> {
        let rows = labels.len();
        let b = batch(features, labels.to_vec(), rows, self.shape.inputs);
        let s = res(&self.kind, "train_batch", self.model.train_batch(&b, lr))?;
        if s.correct as usize > rows {
            return Err(format!(
                "model `{}` train_batch: claims {} right of {rows} rows",
                self.kind, s.correct
            ));
        }
        Ok((s.loss, s.correct as usize))
    }

    fn set_weight_decay(&mut self, wd: f64) -> Result<(), String> {
        if wd == self.weight_decay {
            return Ok(());
        }
        self.call(
            "set_weight_decay",
            serde_json::json!({ "weight_decay": wd }),
        )?;
        self.weight_decay = wd;
        Ok(())
    }

    fn logits(&self, features: &[f32], rows: usize) -> Result<Vec<f32>, String> {
        let inputs = self.shape.inputs;
        let mut out = Vec::with_capacity(rows * self.shape.classes);
        for start in (0..rows).step_by(PREDICT_CHUNK) {
            let n = PREDICT_CHUNK.min(rows - start);
            let b = batch(
                features[start * inputs..(start + n) * inputs].to_vec(),
                Vec::new(),
                n,
                inputs,
            );
            let l = res(&self.kind, "predict", self.model.predict(&b))?;
            if l.len() != n * self.shape.classes {
                return Err(format!(
                    "model `{}` predict: returned {} logits for {n} rows of {} classes",
                    self.kind,
                    l.len(),
                    self.shape.classes
                ));
            }
            out.extend_from_slice(&l);
        }
        Ok(out)
    }

    fn num_params(&self) -> usize {
        self.model.num_params() as usize
    }

    fn save(&self) -> Result<Vec<u8>, String> {
        res(&self.kind, "save", self.model.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        res(
            &self.kind,
            "load",
            self.model.load(RSlice::from_slice(bytes)),
        )
    }

    fn init_well(&mut self, log_priors: &[f32], weight_scale: f32) -> Result<(), String> {
        self.call(
            "init_output_bias",
            serde_json::json!({ "log_priors": log_priors, "weight_scale": weight_scale }),
        )
        .map(|_| ())
    }

    fn cross_sample_gradients(
        &mut self,
        features: &[f32],
        labels: &[u32],
        probes: &[usize],
    ) -> Result<(f64, f64), String> {
        let v = self.call(
            "cross_sample_gradients",
            serde_json::json!({ "features": features, "labels": labels, "probes": probes }),
        )?;
        match (v["own"].as_f64(), v["cross"].as_f64()) {
            (Some(own), Some(cross)) => Ok((own, cross)),
            _ => Err(format!(
                "model `{}` cross_sample_gradients: expected {{\"own\": number, \"cross\": number}}, got {v}",
                self.kind
            )),
        }
    }

    fn gradient_stats(
        &mut self,
        features: &[f32],
        labels: &[u32],
    ) -> Result<serde_json::Value, String> {
        self.call(
            "gradient_stats",
            serde_json::json!({ "features": features, "labels": labels }),
        )
    }
}

/// Registers the models of a loaded pack as `pack::model`.
pub fn register_models(pack: &LoadedPack) {
    let Some(entry) = pack.models else { return };
    for m in &pack.manifest.models {
        let kind = format!("{}::{}", pack.manifest.name, m.name);
        let name = m.name.clone();
        let kind_owned = kind.clone();
        register_factory(
            &kind,
            Arc::new(move |config, shape, seed| {
                build(entry, &kind_owned, &name, config, shape, seed)
            }),
        );
    }
}

fn build(
    entry: ModelsEntry,
    kind: &str,
    name: &str,
    config: &serde_json::Value,
    shape: Shape,
    seed: u64,
) -> Result<Box<dyn Trainable>, String> {
    let text = config.to_string();
    let model = res(
        kind,
        "construction",
        (entry.new_model)(
            RStr::from_str(name),
            RStr::from_str(&text),
            ModelShape {
                inputs: shape.inputs as u64,
                classes: shape.classes as u32,
                seed,
            },
        ),
    )?;
    Ok(Box::new(PackEngine {
        kind: kind.to_owned(),
        model,
        shape,
        weight_decay: 0.0,
    }))
}
