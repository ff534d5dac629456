//! Run fingerprints: a stored passed run may stand in for a new one only when everything that
//! could change its result is the same. Unlike the Python ART (which hashes only the model
//! class's source), this covers config, model, data, seed, step code revision and host.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What goes into a fingerprint.
pub struct Inputs<'a> {
    /// `namespace::name`.
    pub uses: &'a str,
    /// Step config.
    pub config: &'a Value,
    /// Model config (or null).
    pub model: &'a Value,
    /// Dataset digest.
    pub dataset_digest: &'a str,
    /// Validation fraction.
    pub valid_ratio: f64,
    /// Seed.
    pub seed: u64,
    /// Pack name and version for pack steps, `recipe` and the host version otherwise.
    pub origin: (&'a str, &'a str),
    /// The step's revision.
    pub revision: u32,
    /// The fingerprint of the step before (empty for the first): a change upstream reruns
    /// everything after it, since later steps may depend on what earlier ones produced.
    pub upstream: &'a str,
}

/// sha256 of the canonical JSON of the inputs (serde_json sorts object keys).
pub fn fingerprint(i: &Inputs<'_>) -> String {
    let canonical = json!({
        "uses": i.uses,
        "config": i.config,
        "model": i.model,
        "dataset": i.dataset_digest,
        "valid_ratio": i.valid_ratio,
        "seed": i.seed,
        "origin": [i.origin.0, i.origin.1],
        "revision": i.revision,
        "upstream": i.upstream,
        "host": env!("CARGO_PKG_VERSION"),
    });
    format!("{:x}", Sha256::digest(canonical.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_input_changes_the_fingerprint() {
        let cfg = json!({"epochs": 3, "lr": 0.1});
        let cfg_reordered: Value = serde_json::from_str(r#"{"lr": 0.1, "epochs": 3}"#).unwrap();
        let base = Inputs {
            uses: "recipe::overfit",
            config: &cfg,
            model: &Value::Null,
            dataset_digest: "d",
            valid_ratio: 0.2,
            seed: 1,
            origin: ("recipe", "0.1.0"),
            revision: 1,
            upstream: "",
        };
        let a = fingerprint(&base);
        assert_eq!(
            a,
            fingerprint(&Inputs {
                config: &cfg_reordered,
                ..base
            })
        );
        assert_ne!(a, fingerprint(&Inputs { seed: 2, ..base }));
        assert_ne!(
            a,
            fingerprint(&Inputs {
                dataset_digest: "e",
                ..base
            })
        );
        assert_ne!(
            a,
            fingerprint(&Inputs {
                revision: 2,
                ..base
            })
        );
    }
}
