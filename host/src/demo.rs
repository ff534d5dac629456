//! `art-host run --demo`: lay down the default digits project and the first-party packs built
//! beside the binary, so the first command a newcomer types shows the whole recipe working.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The default project (also what `art-host new` will write).
pub const DEFAULT_PROJECT: &str = include_str!("../../templates/project/art.toml");

/// First-party pack libraries next to `exe` (`libart_pack_*.so` on Linux).
pub fn packs_beside(exe: &Path) -> Vec<PathBuf> {
    let Some(dir) = exe.parent() else {
        return vec![];
    };
    let prefix = format!("{}art_pack_", std::env::consts::DLL_PREFIX);
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&prefix) && n.ends_with(std::env::consts::DLL_SUFFIX)
            })
        })
        .collect();
    found.sort();
    found
}

/// Writes `dir/art.toml` if absent and refreshes `dir/plugins/` with the packs beside the
/// binary. An existing `art.toml` and the `.art/` store are left alone.
pub fn prepare(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating demo folder {}", dir.display()))?;
    let project = dir.join(crate::project::PROJECT_FILE);
    if !project.exists() {
        std::fs::write(&project, DEFAULT_PROJECT)
            .with_context(|| format!("writing {}", project.display()))?;
    }
    install_first_party(dir)
}

/// Copies the first-party packs built beside the `art-host` binary into `dir/plugins/`
/// (refreshing changed ones); returns the installed paths.
fn install_first_party(dir: &Path) -> Result<Vec<PathBuf>> {
    let exe = std::env::current_exe().context("finding the art-host binary")?;
    let packs = packs_beside(&exe);
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).with_context(|| format!("creating {}", plugins.display()))?;
    let mut copied = Vec::new();
    for src in packs {
        let dst = plugins.join(src.file_name().expect("a file"));
        let same = std::fs::read(&dst).ok() == std::fs::read(&src).ok();
        if !same {
            // Write beside, then rename: a library being replaced may be mapped by a running host.
            let tmp = plugins.join(format!(
                ".{}.tmp",
                dst.file_name().and_then(|n| n.to_str()).unwrap_or("pack")
            ));
            std::fs::copy(&src, &tmp)
                .and_then(|_| std::fs::rename(&tmp, &dst))
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
        copied.push(dst);
    }
    Ok(copied)
}
