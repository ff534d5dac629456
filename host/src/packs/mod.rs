//! Step packs: discovery in `plugins/` folders, the two load gates (manifest + semver, then
//! `abi_stable`'s layout check) and the set of packs a run can use.
//!
//! Loading a library runs its initialisers: packs are trusted code. The checks here stop
//! incompatible or damaged packs, they do not sandbox a malicious one.

pub mod archive;
pub mod context;
pub mod http;
pub mod loader;
pub mod model;
pub mod registry;

use std::path::{Path, PathBuf};

pub use loader::{LoadError, LoadedPack};

/// A library that was found but not loaded, with the reason and the fix.
#[derive(Debug)]
pub struct Refusal {
    /// The file.
    pub path: PathBuf,
    /// Name from the manifest, when it could be read.
    pub name: Option<String>,
    /// Why, and what to do.
    pub error: LoadError,
}

/// The packs of one run.
#[derive(Default)]
pub struct PackSet {
    /// Loaded, in discovery order.
    pub loaded: Vec<LoadedPack>,
    /// Refused, with reasons.
    pub refused: Vec<Refusal>,
}

/// `libfoo.so` / `libfoo.dylib` / `foo.dll`.
pub fn is_library(path: &Path) -> bool {
    let suffix = std::env::consts::DLL_SUFFIX.trim_start_matches('.');
    path.extension().is_some_and(|e| e == suffix) && path.is_file()
}

/// Libraries directly in each folder and one level below (`plugins/NAME/libNAME.so`), sorted.
pub fn discover(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                if let Ok(inner) = std::fs::read_dir(&p) {
                    let mut libs: Vec<PathBuf> = inner
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| is_library(p))
                        .collect();
                    libs.sort();
                    found.extend(libs);
                }
            } else if is_library(&p) {
                found.push(p);
            }
        }
    }
    found
}

impl PackSet {
    /// Loads every library in `dirs`. Never fails as a whole: each refusal is recorded.
    pub fn load_dirs(dirs: &[PathBuf]) -> Self {
        let mut set = PackSet::default();
        for path in discover(dirs) {
            set.add(&path);
        }
        set
    }

    /// Loads one library into the set.
    pub fn add(&mut self, path: &Path) {
        let started = std::time::Instant::now();
        match loader::load(path) {
            Ok(pack) => {
                if let Some(other) = self.get(&pack.manifest.name) {
                    let error = LoadError::Duplicate {
                        name: pack.manifest.name.clone(),
                        other: other.path.clone(),
                    };
                    self.refused.push(Refusal {
                        path: path.to_owned(),
                        name: Some(pack.manifest.name.clone()),
                        error,
                    });
                    return;
                }
                tracing::debug!(
                    "loaded pack {} {} from {} in {:.1} ms",
                    pack.manifest.name,
                    pack.manifest.version,
                    path.display(),
                    started.elapsed().as_secs_f64() * 1e3
                );
                model::register_models(&pack);
                self.loaded.push(pack);
            }
            Err((name, error)) => {
                tracing::debug!("refused {}: {error:?}", path.display());
                self.refused.push(Refusal {
                    path: path.to_owned(),
                    name,
                    error,
                });
            }
        }
    }

    /// The loaded pack called `name`.
    pub fn get(&self, name: &str) -> Option<&LoadedPack> {
        self.loaded.iter().find(|p| p.manifest.name == name)
    }

    /// The refusal of a pack called `name`, if one was refused.
    pub fn refusal_of(&self, name: &str) -> Option<&Refusal> {
        self.refused
            .iter()
            .find(|r| r.name.as_deref() == Some(name))
    }
}
