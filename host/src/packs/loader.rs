//! Loads one pack library through two gates.
//!
//! 1. **Manifest**: a plain `extern "C"` symbol read with `libloading` returns JSON naming the
//!    `art-plugin-api` version the pack was built against. An incompatible pack is refused here
//!    with one line naming both versions, before any `abi_stable` type is touched.
//! 2. **Layout**: `abi_stable` compares the layout of every type in the root module with the
//!    host's. Its report is pages long: the user gets its first line, `-v` logs all of it.
//!
//! Libraries are loaded with `lib_header_from_path`, not `RootModule::load_from_*`, which
//! caches one library per interface type and would hand every pack the first one (abi_stable
//! issue #92). Libraries are never unloaded.

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};

use abi_stable::library::lib_header_from_path;
use abi_stable::std_types::RStr;
use art_plugin_api::{LogLevel, LogSink, Manifest, PackModRef, API_VERSION, MANIFEST_SYMBOL};
use sha2::{Digest, Sha256};

/// Why a library was refused. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The OS could not load it.
    #[error("not a loadable library ({reason}); remove it from plugins/ or rebuild it for this platform")]
    NotALibrary {
        /// What the dynamic loader said.
        reason: String,
    },
    /// It loads but exports no manifest.
    #[error("not an art step pack: it exports no `{MANIFEST_SYMBOL}` symbol; packs are built with art_plugin_api::export_pack!")]
    NoManifest,
    /// The manifest is not valid.
    #[error(
        "its manifest is unreadable ({reason}); rebuild the pack with a released art-plugin-api"
    )]
    BadManifest {
        /// What is wrong.
        reason: String,
    },
    /// Built against an API this host cannot speak.
    #[error("pack `{name}` was built against art-plugin-api {pack_api}, this host speaks {host_api}; {fix}")]
    IncompatibleApi {
        /// Pack name.
        name: String,
        /// The pack's API version.
        pack_api: String,
        /// The host's API version.
        host_api: String,
        /// What to do.
        fix: String,
    },
    /// `abi_stable` found a layout mismatch or could not initialise the root module.
    #[error("pack `{name}` failed the ABI layout check: {summary} (run with -v for the full report); rebuild it against art-plugin-api {API_VERSION}")]
    Layout {
        /// Pack name.
        name: String,
        /// First line of abi_stable's report.
        summary: String,
        /// The whole report.
        full: String,
    },
    /// The checksum next to the library does not match.
    #[error("checksum mismatch: {expected_file} says {expected} but the library hashes to {actual}; reinstall the pack")]
    Checksum {
        /// The `.sha256` file.
        expected_file: PathBuf,
        /// Its value.
        expected: String,
        /// The library's hash.
        actual: String,
    },
    /// Two libraries claim the same pack name.
    #[error("another library already provides pack `{name}` ({}); remove one of them", other.display())]
    Duplicate {
        /// The name.
        name: String,
        /// The one that was loaded.
        other: PathBuf,
    },
}

impl LoadError {
    /// One word for listings: `incompatible`, `checksum mismatch`, `duplicate` or `failed to load`.
    pub fn status(&self) -> &'static str {
        match self {
            LoadError::IncompatibleApi { .. } => "incompatible",
            LoadError::Checksum { .. } => "checksum mismatch",
            LoadError::Duplicate { .. } => "duplicate",
            _ => "failed to load",
        }
    }
}

/// A pack that passed both gates.
pub struct LoadedPack {
    /// Its manifest.
    pub manifest: Manifest,
    /// The library file.
    pub path: PathBuf,
    /// sha256 of the library file.
    pub sha256: String,
    /// The root module.
    pub module: PackModRef,
    /// Its model entry points, when it exports models (API 1.2+) and their layout matches.
    pub models: Option<art_plugin_api::pack::ModelsEntry>,
    // Keeps the probe handle open: libraries are never unloaded.
    _probe: libloading::Library,
}

impl std::fmt::Debug for LoadedPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPack")
            .field("manifest", &self.manifest)
            .field("path", &self.path)
            .finish()
    }
}

extern "C" fn forward_log(level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    let (target, message) = (target.as_str(), message.as_str());
    match level {
        LogLevel::Error => tracing::error!(pack = target, "{message}"),
        LogLevel::Warn => tracing::warn!(pack = target, "{message}"),
        LogLevel::Info => tracing::info!(pack = target, "{message}"),
        LogLevel::Debug => tracing::debug!(pack = target, "{message}"),
        LogLevel::Trace => tracing::trace!(pack = target, "{message}"),
    }
}

/// The sink handed to every pack at load.
pub fn host_log_sink() -> LogSink {
    LogSink { log: forward_log }
}

fn sha256_file(path: &Path) -> Result<String, std::io::Error> {
    let bytes = std::fs::read(path)?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// What the rule "same major, pack minor <= host minor" says about `pack_api`.
pub fn api_verdict(name: &str, pack_api: &str) -> Result<(), LoadError> {
    let host = semver::Version::parse(API_VERSION).expect("API_VERSION is semver");
    let bad = |fix: String| LoadError::IncompatibleApi {
        name: name.to_owned(),
        pack_api: pack_api.to_owned(),
        host_api: API_VERSION.to_owned(),
        fix,
    };
    let pack = semver::Version::parse(pack_api).map_err(|e| {
        bad(format!(
            "`{pack_api}` is not a semver version ({e}); rebuild the pack"
        ))
    })?;
    if art_plugin_api::api_compatible(&host, &pack) {
        return Ok(());
    }
    Err(bad(if pack.major != host.major {
        format!(
            "rebuild the pack with art-plugin-api {}.x, or use an art-host that speaks {}.x",
            host.major, pack.major
        )
    } else {
        format!(
            "the pack needs a newer host: upgrade art-host to {}.{} or later, or rebuild the pack against art-plugin-api {}.{}",
            pack.major, pack.minor, host.major, host.minor
        )
    }))
}

/// Reads the manifest through the plain C symbol (gate 1).
pub(crate) fn probe(path: &Path) -> Result<(Manifest, libloading::Library), LoadError> {
    // SAFETY: loading runs the library's initialisers; packs are trusted code by design (see
    // the module docs). The symbol's signature is fixed by art-plugin-api.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::NotALibrary {
        reason: e.to_string(),
    })?;
    let text = {
        let sym: libloading::Symbol<'_, extern "C" fn() -> *const c_char> =
            unsafe { lib.get(MANIFEST_SYMBOL.as_bytes()) }.map_err(|_| LoadError::NoManifest)?;
        let ptr = sym();
        if ptr.is_null() {
            return Err(LoadError::BadManifest {
                reason: "the manifest function returned nothing".into(),
            });
        }
        // SAFETY: the pack promises a NUL-terminated string that lives as long as the library.
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((parse_manifest(&text)?, lib))
}

/// Parses and checks a manifest's JSON (gate 1 without the library).
pub fn parse_manifest(text: &str) -> Result<Manifest, LoadError> {
    let manifest: Manifest = serde_json::from_str(text).map_err(|e| LoadError::BadManifest {
        reason: e.to_string(),
    })?;
    if manifest.name.is_empty()
        || manifest.name == "recipe"
        || !manifest
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(LoadError::BadManifest {
            reason: format!(
                "pack name `{}` is empty, reserved or has characters other than letters, digits, - and _",
                manifest.name
            ),
        });
    }
    Ok(manifest)
}

/// abi_stable's report is pages of type dumps; users get its verdicts in one line, e.g.
/// "mismatched type: expected PackMod, found SkewedMod".
fn summarize_layout_report(full: &str) -> String {
    let lines: Vec<&str> = full.lines().map(str::trim).collect();
    let after = |from: usize, label: &str| {
        lines[from..]
            .iter()
            .position(|l| *l == label)
            .and_then(|i| lines[from + i + 1..].iter().find(|l| !l.is_empty()))
            .copied()
    };
    let mut verdicts: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(what) = l.strip_prefix("Error:") {
            let mut v = what.trim().to_owned();
            if let (Some(e), Some(f)) = (after(i, "Expected:"), after(i, "Found:")) {
                v = format!("{v}: expected {e}, found {f}");
            }
            if !verdicts.contains(&v) {
                verdicts.push(v);
            }
        }
    }
    let text = if verdicts.is_empty() {
        lines
            .iter()
            .find(|l| !l.is_empty())
            .copied()
            .unwrap_or("unknown error")
            .to_owned()
    } else {
        verdicts.join("; ")
    };
    text.chars().take(300).collect()
}

/// Loads a library through both gates. On refusal, returns the pack name if it was readable.
pub fn load(path: &Path) -> Result<LoadedPack, (Option<String>, LoadError)> {
    let sha256 = sha256_file(path).map_err(|e| {
        (
            None,
            LoadError::NotALibrary {
                reason: format!("cannot read it: {e}"),
            },
        )
    })?;
    // An installed pack's folder has pack.toml with the library's checksum.
    if let Some(dir) = path.parent() {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        if let Some(meta) = super::archive::installed_meta(dir).filter(|m| m.library == file) {
            if meta.sha256 != sha256 {
                return Err((
                    Some(meta.name),
                    LoadError::Checksum {
                        expected_file: dir.join("pack.toml"),
                        expected: meta.sha256,
                        actual: sha256,
                    },
                ));
            }
        }
    }
    let sum_file = PathBuf::from(format!("{}.sha256", path.display()));
    if let Ok(expected) = std::fs::read_to_string(&sum_file) {
        let expected = expected
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_lowercase();
        if expected != sha256 {
            return Err((
                None,
                LoadError::Checksum {
                    expected_file: sum_file,
                    expected,
                    actual: sha256,
                },
            ));
        }
    }
    let (manifest, probe_lib) = probe(path).map_err(|e| (None, e))?;
    let name = manifest.name.clone();
    api_verdict(&name, &manifest.api_version).map_err(|e| (Some(name.clone()), e))?;

    let layout_err = |e: abi_stable::library::LibraryError| {
        let full = e.to_string();
        let summary = summarize_layout_report(&full);
        tracing::debug!("abi_stable report for {}:\n{full}", path.display());
        (
            Some(name.clone()),
            LoadError::Layout {
                name: name.clone(),
                summary,
                full,
            },
        )
    };
    let module = lib_header_from_path(path)
        .and_then(|h| h.init_root_module::<PackModRef>())
        .map_err(layout_err)?;
    (module.install_log_sink())(host_log_sink());
    let models = if manifest.models.is_empty() {
        None
    } else {
        Some(models_entry(&probe_lib, &name).map_err(|e| (Some(name.clone()), e))?)
    };
    Ok(LoadedPack {
        manifest,
        path: path.to_owned(),
        sha256,
        module,
        models,
        _probe: probe_lib,
    })
}

/// The model entry points of a pack whose manifest lists models: both symbols must be there
/// and the entry's layout must match the host's (abi_stable's check, on this type alone).
fn models_entry(
    lib: &libloading::Library,
    name: &str,
) -> Result<art_plugin_api::pack::ModelsEntry, LoadError> {
    use abi_stable::type_layout::TypeLayout;
    use abi_stable::StableAbi;
    use art_plugin_api::pack::{ModelsEntry, MODELS_LAYOUT_SYMBOL, MODELS_SYMBOL};
    let missing = |sym: &str, e: libloading::Error| {
        LoadError::Layout {
        name: name.to_owned(),
        summary: format!("its manifest lists models but it exports no `{sym}` ({e}); rebuild it with art-plugin-api's export_pack!"),
        full: String::new(),
    }
    };
    // SAFETY: the symbols are the `extern "C"` functions export_pack! writes, with these
    // signatures; a pack that lies about them is refused by the layout check below.
    unsafe {
        let layout: libloading::Symbol<'_, extern "C" fn() -> &'static TypeLayout> = lib
            .get(MODELS_LAYOUT_SYMBOL.as_bytes())
            .map_err(|e| missing(MODELS_LAYOUT_SYMBOL, e))?;
        if let Err(e) = abi_stable::abi_stability::abi_checking::check_layout_compatibility(
            <ModelsEntry as StableAbi>::LAYOUT,
            layout(),
        ) {
            let full = e.to_string();
            return Err(LoadError::Layout {
                name: name.to_owned(),
                summary: format!(
                    "its model interface does not match this host's: {}",
                    summarize_layout_report(&full)
                ),
                full,
            });
        }
        let entry: libloading::Symbol<'_, extern "C" fn() -> ModelsEntry> = lib
            .get(MODELS_SYMBOL.as_bytes())
            .map_err(|e| missing(MODELS_SYMBOL, e))?;
        Ok(entry())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_messages_name_both_versions_and_the_fix() {
        assert!(api_verdict("p", API_VERSION).is_ok());
        let e = api_verdict("p", "2.0.0").unwrap_err().to_string();
        assert!(
            e.contains("art-plugin-api 2.0.0") && e.contains(API_VERSION),
            "{e}"
        );
        assert!(
            e.contains("rebuild the pack with art-plugin-api 1.x"),
            "{e}"
        );
        let e = api_verdict("p", "1.99.0").unwrap_err().to_string();
        assert!(e.contains("upgrade art-host to 1.99"), "{e}");
        let e = api_verdict("p", "one").unwrap_err().to_string();
        assert!(e.contains("not a semver version"), "{e}");
    }

    #[test]
    fn garbage_is_not_a_library() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir
            .path()
            .join(format!("libjunk{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&p, b"this is not an ELF file").unwrap();
        let (_, e) = load(&p).unwrap_err();
        assert!(matches!(e, LoadError::NotALibrary { .. }), "{e}");
    }
}
