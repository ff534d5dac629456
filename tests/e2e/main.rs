//! End-to-end tests: real cdylibs built from this workspace, loaded by the real `art-host`
//! binary, running real projects on the embedded digits data.

mod config_errors;
mod crash;
mod data;
mod demo;
mod fuzz_corpus;
mod loading;
mod models;
mod recipe;
mod running;
mod scaffold;
mod see;

/// A project header with the embedded digits data and one small MLP.
pub const HEADER: &str = r#"
[project]
name = "e2e"
seed = 7

[data]
builtin = "digits"

[models.mlp]
kind = "mlp"
hidden = [32]
"#;
