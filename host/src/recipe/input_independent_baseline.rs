//! `input-independent-baseline`: train the model once on the real inputs and once on inputs
//! set to zero. If zeroed inputs do about as well, the model is not using its inputs — a
//! pipeline bug (features not reaching the model, labels leaking through another path).

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};
use crate::data::Dataset;

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "input-independent-baseline",
    summary: "Train on real and on zeroed inputs: the real ones must do clearly better",
    revision: 1,
    default_checks: &["input.gain > 0.2"],
    needs_model: true,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    epochs: usize,
    lr: f64,
    batch_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            epochs: 10,
            lr: 3e-3,
            batch_size: 64,
        }
    }
}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    super::base_spec(c.epochs, c.lr, c.batch_size)?;
    Ok(Box::new(c))
}

fn zeroed(d: &Dataset) -> Dataset {
    Dataset {
        features: vec![0.0; d.features.len()],
        ..d.clone()
    }
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let net = cx.net_config()?;
        let spec =
            super::base_spec(self.epochs, self.lr, self.batch_size).map_err(|e| e.message)?;
        let (train, valid) = (&cx.splits.train, &cx.splits.valid);
        let mut real = cx.new_session(&net, cx.seed)?;
        real.fit(train, None, &spec, cx.seed, |_, _| true)?;
        let (_, real_acc) = real.evaluate(valid)?;
        let (ztrain, zvalid) = (zeroed(train), zeroed(valid));
        let mut zero = cx.new_session(&net, cx.seed)?;
        zero.fit(&ztrain, None, &spec, cx.seed, |_, _| true)?;
        let (_, zero_acc) = zero.evaluate(&zvalid)?;
        cx.metric("real.valid.accuracy", real_acc);
        cx.metric("zeroed.valid.accuracy", zero_acc);
        cx.metric("input.gain", real_acc - zero_acc);
        Ok(format!(
            "valid accuracy {real_acc:.4} on real inputs vs {zero_acc:.4} on zeroed ones"
        ))
    }
}
