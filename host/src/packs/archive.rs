//! Pack archives (`NAME-VERSION-TARGET.artpack`): a tar.gz holding `pack.toml` and the library
//! under `lib/`. Archives are untrusted input: absolute paths, `..`, links, devices, unexpected
//! files and oversize entries are refused before anything is written, and an install either
//! completes or leaves `plugins/` exactly as it was.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::loader::{api_verdict, probe};

/// Largest library an archive may carry.
pub const MAX_ENTRY: u64 = 512 << 20;
/// Most entries an archive may have.
pub const MAX_ENTRIES: usize = 16;

/// What went wrong with an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is malformed or unsafe.
    #[error("{}: {reason}", path.display())]
    Refused {
        /// The archive.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// Filesystem trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// `pack.toml`: what an archive (and an installed pack's folder) says about the pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackToml {
    /// Pack name.
    pub name: String,
    /// Pack version.
    pub version: String,
    /// One sentence.
    #[serde(default)]
    pub description: String,
    /// Authors.
    #[serde(default)]
    pub authors: Vec<String>,
    /// The `art-plugin-api` version it was built with.
    pub api_version: String,
    /// The target triple it was built for.
    pub target: String,
    /// File name of the library.
    pub library: String,
    /// sha256 of the library.
    pub sha256: String,
    /// Step names.
    #[serde(default)]
    pub steps: Vec<String>,
    /// Check names.
    #[serde(default)]
    pub checks: Vec<String>,
}

/// This host's target triple (archives are made and checked with it).
pub fn host_target() -> String {
    env!("ART_TARGET").to_owned()
}

fn sha256(path: &Path) -> Result<String, ArchiveError> {
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Writes `NAME-VERSION-TARGET.artpack` for a built library into `out_dir`.
pub fn create(lib: &Path, out_dir: &Path) -> Result<(PathBuf, PackToml), ArchiveError> {
    let refused = |reason: String| ArchiveError::Refused {
        path: lib.to_owned(),
        reason,
    };
    let (manifest, _lib) = probe(lib).map_err(|e| refused(e.to_string()))?;
    let file = lib
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| refused("odd file name".into()))?;
    let meta = PackToml {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        description: manifest.description.clone(),
        authors: manifest.authors.clone(),
        api_version: manifest.api_version.clone(),
        target: host_target(),
        library: file.to_owned(),
        sha256: sha256(lib)?,
        steps: manifest.steps.iter().map(|s| s.name.clone()).collect(),
        checks: manifest.checks.iter().map(|s| s.name.clone()).collect(),
    };
    let out = out_dir.join(format!(
        "{}-{}-{}.artpack",
        meta.name, meta.version, meta.target
    ));
    let io = |source| ArchiveError::Io {
        path: out.clone(),
        source,
    };
    std::fs::create_dir_all(out_dir).map_err(io)?;
    let toml_text = toml::to_string(&meta).map_err(|e| refused(e.to_string()))?;
    let tmp = tempfile::NamedTempFile::new_in(out_dir).map_err(io)?;
    {
        let gz = flate2::write::GzEncoder::new(tmp.as_file(), flate2::Compression::best());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(toml_text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "pack.toml", toml_text.as_bytes())
            .map_err(io)?;
        let mut f = std::fs::File::open(lib).map_err(io)?;
        tar.append_file(format!("lib/{file}"), &mut f).map_err(io)?;
        tar.into_inner().and_then(|gz| gz.finish()).map_err(io)?;
    }
    tmp.persist(&out).map_err(|e| io(e.error))?;
    Ok((out, meta))
}

/// Extracts an archive into `dest` (which must be empty), refusing anything unsafe, and checks
/// that the library is the one `pack.toml` describes and that this host can load it.
pub fn extract(archive: &Path, dest: &Path) -> Result<PackToml, ArchiveError> {
    let refused = |reason: String| ArchiveError::Refused {
        path: archive.to_owned(),
        reason,
    };
    let file = std::fs::File::open(archive).map_err(|source| ArchiveError::Io {
        path: archive.to_owned(),
        source,
    })?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar
        .entries()
        .map_err(|e| refused(format!("not a pack archive (tar.gz): {e}")))?;
    let mut count = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| refused(format!("damaged archive: {e}")))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(refused(format!("more than {MAX_ENTRIES} entries")));
        }
        let kind = entry.header().entry_type();
        let path = entry
            .path()
            .map_err(|e| refused(format!("bad entry name: {e}")))?
            .into_owned();
        let shown = path.display().to_string();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(refused(format!(
                "entry `{shown}` is a link or a device; archives may only hold plain files"
            )));
        }
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(refused(format!(
                "entry `{shown}` has an absolute path or `..`; refusing to write outside the pack"
            )));
        }
        let parts: Vec<&str> = path.iter().filter_map(|c| c.to_str()).collect();
        let allowed = matches!(parts.as_slice(), ["pack.toml"] | ["lib", _]);
        if !allowed {
            return Err(refused(format!(
                "unexpected entry `{shown}` (a pack holds pack.toml and lib/LIBRARY)"
            )));
        }
        let size = entry.header().size().map_err(|e| refused(e.to_string()))?;
        if size > MAX_ENTRY {
            return Err(refused(format!(
                "entry `{shown}` is {size} bytes, over the {MAX_ENTRY}-byte limit"
            )));
        }
        let target = dest.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ArchiveError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        let mut out = std::fs::File::create(&target).map_err(|source| ArchiveError::Io {
            path: target.clone(),
            source,
        })?;
        // Bounded copy: a lying header cannot make us write more than the limit.
        std::io::copy(&mut (&mut entry).take(MAX_ENTRY), &mut out).map_err(|source| {
            ArchiveError::Io {
                path: target.clone(),
                source,
            }
        })?;
    }
    let toml_path = dest.join("pack.toml");
    let text = std::fs::read_to_string(&toml_path)
        .map_err(|_| refused("no pack.toml in the archive".into()))?;
    let meta: PackToml =
        toml::from_str(&text).map_err(|e| refused(format!("pack.toml: {}", e.message())))?;
    if meta.library.contains('/') || meta.library.contains('\\') || meta.library.starts_with('.') {
        return Err(refused(format!(
            "pack.toml names an odd library `{}`",
            meta.library
        )));
    }
    let lib = dest.join("lib").join(&meta.library);
    if !lib.exists() {
        return Err(refused(format!(
            "pack.toml names lib/{} but the archive does not hold it",
            meta.library
        )));
    }
    let actual = sha256(&lib)?;
    if actual != meta.sha256 {
        return Err(refused(format!(
            "checksum mismatch: pack.toml says {} but lib/{} hashes to {actual}; the archive is damaged or tampered with",
            meta.sha256, meta.library
        )));
    }
    if meta.target != host_target() {
        return Err(refused(format!(
            "built for {}, this host is {}; get the archive for your platform",
            meta.target,
            host_target()
        )));
    }
    api_verdict(&meta.name, &meta.api_version).map_err(|e| refused(e.to_string()))?;
    Ok(meta)
}

/// Installs an archive as `plugins/NAME/` (pack.toml + library). Extraction happens in a temp
/// folder inside `plugins/`; only a fully checked pack is renamed into place, and a previous
/// version is replaced only then.
pub fn install(archive: &Path, plugins: &Path) -> Result<PackToml, ArchiveError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ArchiveError::Io { path, source }
    };
    std::fs::create_dir_all(plugins).map_err(io(plugins))?;
    let tmp = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(plugins)
        .map_err(io(plugins))?;
    let meta = extract(archive, tmp.path())?;
    let staged = tmp.path().join("pack");
    std::fs::create_dir(&staged).map_err(io(&staged))?;
    std::fs::rename(tmp.path().join("pack.toml"), staged.join("pack.toml")).map_err(io(&staged))?;
    std::fs::rename(
        tmp.path().join("lib").join(&meta.library),
        staged.join(&meta.library),
    )
    .map_err(io(&staged))?;
    let target = plugins.join(&meta.name);
    let old = tmp.path().join("old");
    if target.exists() {
        std::fs::rename(&target, &old).map_err(io(&target))?;
    }
    if let Err(e) = std::fs::rename(&staged, &target) {
        if old.exists() {
            let _ = std::fs::rename(&old, &target);
        }
        return Err(io(&target)(e));
    }
    Ok(meta)
}

/// Reads `pack.toml` of an installed pack folder, if there is one.
pub fn installed_meta(dir: &Path) -> Option<PackToml> {
    toml::from_str(&std::fs::read_to_string(dir.join("pack.toml")).ok()?).ok()
}
