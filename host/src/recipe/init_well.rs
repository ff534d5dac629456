//! `init-well`: set the output layer's bias to the log class priors and shrink its weights, so
//! the untrained model predicts the priors. Its loss at init is then the entropy of the
//! priors — the best a model without inputs can do — and training skips the "hockey stick".

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "init-well",
    summary: "Output bias from class priors; loss at init should equal the priors' entropy",
    revision: 1,
    default_checks: &["init.loss ~= init.prior_entropy ± 2%"],
    needs_model: true,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Multiplies the output weights (0 = predictions independent of the input at init).
    weight_scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self { weight_scale: 0.01 }
    }
}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if !(c.weight_scale >= 0.0 && c.weight_scale.is_finite()) {
        return Err(ConfigError::at("weight_scale", "weight_scale must be >= 0"));
    }
    Ok(Box::new(c))
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let train = &cx.splits.train;
        let counts = train.class_counts();
        let n = train.len() as f64;
        let priors: Vec<f64> = counts
            .iter()
            .map(|&c| (c as f64 + 1e-3) / (n + 1e-3 * counts.len() as f64))
            .collect();
        let entropy: f64 = -priors.iter().map(|p| p * p.ln()).sum::<f64>();
        let log_priors: Vec<f32> = priors.iter().map(|p| p.ln() as f32).collect();
        let session = cx.session()?;
        let (before, _) = session.evaluate(train)?;
        session.init_well(&log_priors, self.weight_scale as f32)?;
        let (after, _) = session.evaluate(train)?;
        cx.metric("init.loss_default", before);
        cx.metric("init.loss", after);
        cx.metric("init.prior_entropy", entropy);
        Ok(format!(
            "loss at init {before:.4} -> {after:.4}; prior entropy {entropy:.4}"
        ))
    }
}
