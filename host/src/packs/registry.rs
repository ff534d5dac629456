//! A pack registry is a plain folder — `index.json` plus `NAME/ARCHIVE.artpack` files — so any
//! static file server can host it. `publish` adds a version under a lock and rewrites the
//! index atomically; `resolve` picks the highest version that matches a requirement and that
//! this host can load (API version and target).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::archive::{self, host_target, ArchiveError, PackToml};

/// Registry trouble, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Something about the archive.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The registry cannot be used as asked.
    #[error("registry {}: {reason}", dir.display())]
    Refused {
        /// The registry folder.
        dir: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Pack version.
    pub version: String,
    /// The API version it was built with.
    pub api_version: String,
    /// Target triple.
    pub target: String,
    /// Archive path relative to the registry root.
    pub file: String,
    /// sha256 of the library.
    pub sha256: String,
    /// One sentence.
    #[serde(default)]
    pub description: String,
    /// Steps.
    #[serde(default)]
    pub steps: Vec<String>,
    /// Checks.
    #[serde(default)]
    pub checks: Vec<String>,
}

/// `index.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Layout version.
    pub schema: u32,
    /// Versions of each pack.
    pub packs: BTreeMap<String, Vec<Entry>>,
}

fn refused(dir: &Path, reason: impl Into<String>) -> RegistryError {
    RegistryError::Refused {
        dir: dir.to_owned(),
        reason: reason.into(),
    }
}

/// Adds an archive to the registry in `dir`; refuses to overwrite a published version.
pub fn publish(archive: &Path, dir: &Path) -> Result<Entry, RegistryError> {
    std::fs::create_dir_all(dir).map_err(|e| refused(dir, e.to_string()))?;
    let lock_path = dir.join(".lock");
    let _lock = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)
        .map_err(|_| {
            refused(
                dir,
                format!(
                    "{} exists: another publish is running (or crashed; then delete it)",
                    lock_path.display()
                ),
            )
        })?;
    struct Unlock<'a>(&'a Path);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _unlock = Unlock(&lock_path);

    let check = tempfile::tempdir().map_err(|e| refused(dir, e.to_string()))?;
    let meta: PackToml = archive::extract(archive, check.path())?;
    let mut index = read_index(dir)?;
    let versions = index.packs.entry(meta.name.clone()).or_default();
    if versions
        .iter()
        .any(|e| e.version == meta.version && e.target == meta.target)
    {
        return Err(refused(
            dir,
            format!(
                "{} {} ({}) is already published; bump the pack's version",
                meta.name, meta.version, meta.target
            ),
        ));
    }
    let file_name = archive
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("pack.artpack")
        .to_owned();
    let rel = format!("{}/{file_name}", meta.name);
    let dest = dir.join(&rel);
    std::fs::create_dir_all(dest.parent().unwrap_or(dir))
        .map_err(|e| refused(dir, e.to_string()))?;
    std::fs::copy(archive, &dest)
        .map_err(|e| refused(dir, format!("cannot copy the archive: {e}")))?;
    let entry = Entry {
        version: meta.version.clone(),
        api_version: meta.api_version.clone(),
        target: meta.target.clone(),
        file: rel,
        sha256: meta.sha256.clone(),
        description: meta.description.clone(),
        steps: meta.steps.clone(),
        checks: meta.checks.clone(),
    };
    versions.push(entry.clone());
    let json = serde_json::to_vec_pretty(&index).map_err(|e| refused(dir, e.to_string()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| refused(dir, e.to_string()))?;
    std::fs::write(tmp.path(), json).map_err(|e| refused(dir, e.to_string()))?;
    tmp.persist(dir.join("index.json"))
        .map_err(|e| refused(dir, e.error.to_string()))?;
    Ok(entry)
}

/// The best version of `name` matching `req` that this host can load.
pub fn resolve(src: &Source, name: &str, req: &semver::VersionReq) -> Result<Entry, RegistryError> {
    let dir = &src.label();
    let index = read_index_from(src)?;
    let Some(versions) = index.packs.get(name) else {
        let names: Vec<&str> = index.packs.keys().map(String::as_str).collect();
        return Err(refused(
            dir,
            format!(
                "no pack `{name}`{}; it has: {}",
                crate::project::did_you_mean(name, names.iter().copied()),
                names.join(", ")
            ),
        ));
    };
    let target = host_target();
    let mut why = Vec::new();
    let best = versions
        .iter()
        .filter_map(|e| {
            let v = semver::Version::parse(&e.version).ok()?;
            if !req.matches(&v) {
                return None;
            }
            if e.target != target {
                why.push(format!("{} is built for {}", e.version, e.target));
                return None;
            }
            if let Err(err) = super::loader::api_verdict(name, &e.api_version) {
                why.push(format!("{}: {err}", e.version));
                return None;
            }
            Some((v, e))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, e)| e.clone());
    best.ok_or_else(|| {
        let all: Vec<&str> = versions.iter().map(|e| e.version.as_str()).collect();
        refused(
            dir,
            format!(
                "no version of `{name}` matches {req} and this host (versions: {}){}",
                all.join(", "),
                if why.is_empty() {
                    String::new()
                } else {
                    format!("; {}", why.join("; "))
                }
            ),
        )
    })
}

/// Installs `name` (best match of `req`) from the registry into `plugins`.
pub fn install(
    src: &Source,
    name: &str,
    req: &semver::VersionReq,
    plugins: &Path,
) -> Result<PackToml, RegistryError> {
    let dir = &src.label();
    let entry = resolve(src, name, req)?;
    if entry.file.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(refused(
            dir,
            format!("index entry names an odd archive path `{}`", entry.file),
        ));
    }
    let bytes = src
        .fetch(&entry.file, (archive::MAX_ENTRY as usize) + (1 << 20))?
        .ok_or_else(|| refused(dir, format!("{} is in the index but missing", entry.file)))?;
    let tmp = tempfile::tempdir().map_err(|e| refused(dir, e.to_string()))?;
    let archive = tmp
        .path()
        .join(entry.file.rsplit('/').next().unwrap_or("pack.artpack"));
    std::fs::write(&archive, bytes).map_err(|e| refused(dir, e.to_string()))?;
    let meta = archive::install(&archive, plugins)?;
    if meta.sha256 != entry.sha256 {
        return Err(refused(
            dir,
            format!(
                "{} does not match its index entry's checksum",
                archive.display()
            ),
        ));
    }
    Ok(meta)
}

/// Packs whose name or description contains `text` (all when empty): (name, newest entry).
pub fn search(src: &Source, text: &str) -> Result<Vec<(String, Entry)>, RegistryError> {
    let index = read_index_from(src)?;
    let t = text.to_lowercase();
    Ok(index
        .packs
        .into_iter()
        .filter_map(|(name, versions)| {
            let newest = versions.into_iter().max_by_key(|e| {
                semver::Version::parse(&e.version).unwrap_or(semver::Version::new(0, 0, 0))
            })?;
            (name.to_lowercase().contains(&t) || newest.description.to_lowercase().contains(&t))
                .then_some((name, newest))
        })
        .collect())
}

/// Where a registry lives: a folder, or the same tree served over `http://`.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local folder.
    Dir(PathBuf),
    /// A static file server (`http://host:port/path`).
    Http(String),
}

impl Source {
    /// `http://...` is served, anything else is a folder.
    pub fn parse(text: &str) -> Source {
        if text.starts_with("http://") || text.starts_with("https://") {
            Source::Http(text.trim_end_matches('/').to_owned())
        } else {
            Source::Dir(PathBuf::from(text))
        }
    }

    fn label(&self) -> PathBuf {
        match self {
            Source::Dir(d) => d.clone(),
            Source::Http(u) => PathBuf::from(u),
        }
    }

    /// The bytes of `rel` (a path inside the registry); `Ok(None)` when it does not exist.
    fn fetch(&self, rel: &str, limit: usize) -> Result<Option<Vec<u8>>, RegistryError> {
        match self {
            Source::Dir(d) => match std::fs::read(d.join(rel)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(refused(d, format!("cannot read {rel}: {e}"))),
            },
            Source::Http(url) => super::http::get(&format!("{url}/{rel}"), limit)
                .map_err(|e| refused(&self.label(), e)),
        }
    }
}

/// Reads `DIR/index.json` (an absent one is an empty registry).
pub fn read_index(dir: &Path) -> Result<Index, RegistryError> {
    read_index_from(&Source::Dir(dir.to_owned()))
}

/// Reads the index of any registry source.
pub fn read_index_from(src: &Source) -> Result<Index, RegistryError> {
    match src.fetch("index.json", 64 << 20)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            refused(
                &src.label(),
                format!("index.json is unreadable ({e}); restore it from a backup"),
            )
        }),
        None => Ok(Index {
            schema: 1,
            ..Index::default()
        }),
    }
}
