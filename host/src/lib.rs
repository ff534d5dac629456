//! art: Actually Robust Training. The host library behind the `art-host` binary.
//!
//! A project (`art.toml`) is an ordered chain of steps from Karpathy's *Recipe for Training
//! Neural Networks*; each step trains or inspects a model and records metrics, and checks over
//! those metrics gate the next step. Steps come from the built-in [`recipe`] or from step packs
//! loaded at run time through the stable ABI of `art-plugin-api` ([`packs`]).

pub mod bench;
pub mod checks;
pub mod cli;
pub mod data;
pub mod demo;
pub mod fingerprint;
#[doc(hidden)]
pub mod fuzzing;
pub mod isolate;
pub mod lock;
pub mod models;
pub mod nonfinite;
pub mod packs;
pub mod png;
pub mod progress;
pub mod project;
pub mod recipe;
pub mod report;
pub mod runner;
pub mod scaffold;
pub mod status;
pub mod store;
pub mod train;
