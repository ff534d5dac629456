//! The pack manifest: JSON that the host reads through a plain C symbol before it trusts any
//! `abi_stable` layout, so that a pack built against another API gets a one-line refusal.

use serde::{Deserialize, Serialize};

/// Name of the `extern "C" fn() -> *const c_char` every pack exports. It returns NUL-terminated
/// UTF-8 JSON of a [`Manifest`], valid for as long as the library stays loaded.
pub const MANIFEST_SYMBOL: &str = "art_pack_manifest";

/// Who a pack is and what it offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The pack's name: the namespace of its steps (`lr-tools::lr-range-test`).
    pub name: String,
    /// The pack's own semver version.
    pub version: String,
    /// One sentence.
    #[serde(default)]
    pub description: String,
    /// Who wrote it.
    #[serde(default)]
    pub authors: Vec<String>,
    /// The `art-plugin-api` version the pack was compiled against.
    pub api_version: String,
    /// The steps it offers.
    #[serde(default)]
    pub steps: Vec<ItemInfo>,
    /// The checks it offers.
    #[serde(default)]
    pub checks: Vec<ItemInfo>,
    /// The models it offers (`kind = "pack::model"`), since 1.2.0.
    #[serde(default)]
    pub models: Vec<ItemInfo>,
}

/// One step, check or model a pack offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemInfo {
    /// Name inside the pack (without the `pack::` prefix).
    pub name: String,
    /// One line for `art-host steps`.
    pub summary: String,
    /// Bumped by the author whenever the behaviour changes: part of the run fingerprint.
    #[serde(default)]
    pub revision: u32,
    /// JSON Schema of the config, or `null`.
    #[serde(default)]
    pub config_schema: serde_json::Value,
}
