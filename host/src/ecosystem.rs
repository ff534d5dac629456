//! The pack life cycle on the command line: pack, publish, install, search, info, verify,
//! remove. Failures print one line naming the file and the fix, and exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use art_host::packs::{archive, loader, registry, PackSet};

fn fail(msg: impl std::fmt::Display) -> Result<ExitCode> {
    eprintln!("error: {msg}");
    Ok(ExitCode::from(2))
}

/// The library `cargo build --release` makes for the crate in `dir`.
fn built_library(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "reading {} (run `art-host pack` in a pack crate, or pass --lib)",
            manifest.display()
        )
    })?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
    let lib_name = doc
        .get("lib")
        .and_then(|l| l.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .or_else(|| {
            doc.get("package")?
                .get("name")?
                .as_str()
                .map(|n| n.replace('-', "_"))
        })
        .with_context(|| format!("{} names no package", manifest.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release"])
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed in {}", dir.display());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from);
    let lib = target.join("release").join(format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    if !lib.exists() {
        bail!("{} was not built; is the crate a cdylib?", lib.display());
    }
    Ok(lib)
}

pub fn pack(dir: &Path, lib: Option<PathBuf>, out: Option<PathBuf>) -> Result<ExitCode> {
    let (lib, default_out) = match lib {
        Some(l) => (l, PathBuf::from(".")),
        None => (built_library(dir)?, dir.join("target/package")),
    };
    match archive::create(&lib, &out.unwrap_or(default_out)) {
        Ok((path, meta)) => {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            println!(
                "{} ({} {}, {} KB)",
                path.display(),
                meta.name,
                meta.version,
                size / 1024
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

pub fn publish(archive_path: &Path, dir: &Path) -> Result<ExitCode> {
    match registry::publish(archive_path, dir) {
        Ok(e) => {
            println!("published {} to {}", e.file, dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

pub fn install(spec: &str, project: &Path, reg: Option<&Path>) -> Result<ExitCode> {
    let plugins = project.join("plugins");
    let result = if spec.ends_with(".artpack") {
        archive::install(Path::new(spec), &plugins).map_err(|e| e.to_string())
    } else {
        let Some(reg) = reg else {
            return fail(format!("installing `{spec}` by name needs --registry DIR"));
        };
        let (name, req) = spec.split_once('@').unwrap_or((spec, "*"));
        let req = match semver::VersionReq::parse(req) {
            Ok(r) => r,
            Err(e) => {
                return fail(format!(
                    "`{req}` is not a version requirement ({e}); try NAME@^1.2"
                ))
            }
        };
        let src = registry::Source::parse(&reg.display().to_string());
        registry::install(&src, name, &req, &plugins).map_err(|e| e.to_string())
    };
    match result {
        Ok(meta) => {
            println!(
                "installed {} {} into {} (steps: {}; checks: {})",
                meta.name,
                meta.version,
                plugins.join(&meta.name).display(),
                meta.steps.join(", "),
                meta.checks.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

pub fn search(text: &str, reg: &Path) -> Result<ExitCode> {
    match registry::search(&registry::Source::parse(&reg.display().to_string()), text) {
        Ok(found) => {
            for (name, e) in found {
                println!(
                    "{name:<20} {:<9} api {:<7} {}  steps: {}",
                    e.version,
                    e.api_version,
                    e.description,
                    e.steps.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

pub fn info(project: &Path, name: &str) -> Result<ExitCode> {
    let set = PackSet::load_dirs(&[project.join("plugins")]);
    if let Some(p) = set.get(name) {
        let m = &p.manifest;
        println!(
            "{} {} (art-plugin-api {})\n{}",
            m.name, m.version, m.api_version, m.description
        );
        println!("library: {}\nsha256:  {}", p.path.display(), p.sha256);
        for s in &m.steps {
            println!(
                "step  {}::{} (revision {}): {}",
                m.name, s.name, s.revision, s.summary
            );
        }
        for c in &m.checks {
            println!(
                "check {}::{} (revision {}): {}",
                m.name, c.name, c.revision, c.summary
            );
        }
        for c in &m.models {
            println!(
                "model {}::{} (revision {}): {}  [kind = \"{}::{}\"]",
                m.name, c.name, c.revision, c.summary, m.name, c.name
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    match set.refusal_of(name) {
        Some(r) => fail(format!(
            "pack `{name}` ({}) is refused: {}",
            r.path.display(),
            r.error
        )),
        None => fail(format!(
            "no pack `{name}` in {}",
            project.join("plugins").display()
        )),
    }
}

pub fn verify(project: &Path) -> Result<ExitCode> {
    let plugins = project.join("plugins");
    let mut bad = 0;
    for lib in art_host::packs::discover(&[plugins]) {
        match loader::load(&lib) {
            Ok(p) => println!(
                "ok       {} {}  {}",
                p.manifest.name,
                p.manifest.version,
                lib.display()
            ),
            Err((_, e)) => {
                bad += 1;
                println!("REFUSED  {}: {e}", lib.display());
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn remove(project: &Path, name: &str) -> Result<ExitCode> {
    let ok_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let dir = project.join("plugins").join(name);
    if !ok_name || !dir.is_dir() {
        return fail(format!(
            "no installed pack `{name}` (looked for {})",
            dir.display()
        ));
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    println!("removed {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
