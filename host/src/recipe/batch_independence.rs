//! `batch-independence`: Karpathy's backprop dependency check. The loss of sample i must not
//! depend on the input of sample j: the gradient of sample i's loss with respect to every
//! other sample's input is exactly zero unless something mixes the batch (batch norm in
//! training mode, a wrong reshape or reduction).

use serde::Deserialize;

use super::{parse_config, Builtin, ConfigError, RecipeStep, StepCx};

/// The step's registration.
pub const BUILTIN: Builtin = Builtin {
    name: "batch-independence",
    summary: "Gradient of one sample's loss w.r.t. the other samples' inputs must be zero",
    revision: 1,
    default_checks: &["batch.cross_grad <= 1e-9", "batch.own_grad > 0"],
    needs_model: true,
    make,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    batch_size: usize,
    /// How many samples' losses to differentiate.
    probes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            batch_size: 16,
            probes: 4,
        }
    }
}

fn make(t: &toml::Table) -> Result<Box<dyn RecipeStep>, ConfigError> {
    let c: Config = parse_config(t)?;
    if c.batch_size < 2 {
        return Err(ConfigError::at(
            "batch_size",
            "batch_size must be >= 2 for a cross-sample check",
        ));
    }
    if c.probes == 0 {
        return Err(ConfigError::at("probes", "probes must be >= 1"));
    }
    Ok(Box::new(c))
}

impl RecipeStep for Config {
    fn run(&mut self, cx: &mut StepCx<'_>) -> Result<String, String> {
        let train = &cx.splits.train;
        let n = self.batch_size.min(train.len());
        let batch = train.subset(&(0..n).collect::<Vec<_>>());
        let probes: Vec<usize> = (0..self.probes.min(n))
            .map(|k| k * n / self.probes.min(n))
            .collect();
        let (own, cross) =
            cx.session()?
                .cross_sample_gradients(&batch.features, &batch.labels, &probes)?;
        cx.metric("batch.own_grad", own);
        cx.metric("batch.cross_grad", cross);
        cx.metric("batch.probes", probes.len() as f64);
        Ok(if cross == 0.0 {
            format!(
                "{} samples' losses depend on their own inputs only (max own gradient {own:.3e})",
                probes.len()
            )
        } else {
            format!("samples are mixed across the batch: cross-sample gradient up to {cross:.3e}")
        })
    }
}
