//! `check-loss-on-init`: a freshly initialised classifier should be maximally unsure, so its
//! loss should be close to ln(C). Far above means overconfident logits at init (a bad scale);
//! far below means the labels leak into the inputs or the loss is wrong.

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "check-loss-on-init",
    summary: "Loss of the untrained model, compared with -ln(1/C)",
    revision: 1,
    default_checks: &["init.loss ~= init.expected_loss ± 10%"],
    needs_model: true,
    make,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let _: Config = parse_config(t)?;
    Ok(Box::new(LossOnInit))
}

struct LossOnInit;

impl RecipeStep for LossOnInit {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let train = &cx.splits.train;
        let session = cx.session()?;
        let (loss, acc) = session.evaluate(train)?;
        let params = session.num_params();
        let expected = (train.num_classes as f64).ln();
        cx.metric("init.loss", loss);
        cx.metric("init.accuracy", acc);
        cx.metric("init.expected_loss", expected);
        cx.metric("init.loss_ratio", loss / expected);
        cx.metric("model.params", params as f64);
        Ok(format!(
            "loss at init {loss:.4}, expected ln({}) = {expected:.4} ({:+.1}%)",
            train.num_classes,
            (loss / expected - 1.0) * 100.0
        ))
    }
}
