//! `art-host new` and `art-host new-pack`: lay down a project or a step-pack crate from the
//! templates embedded in the binary (sources under `templates/`), so the installed binary needs
//! no source tree.

use std::path::{Path, PathBuf};

/// Why nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be used.
    #[error("`{0}` is not a usable name: use letters, digits, `-` and `_`, starting with a letter (and not `recipe`)")]
    BadName(String),
    /// The folder exists and is not empty.
    #[error("{} already exists and is not empty; choose another name or remove it", .0.display())]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

const PROJECT_README: &str = include_str!("../../templates/project/README.md");
const PROJECT_GITIGNORE: &str = include_str!("../../templates/project/gitignore");
const PACK_CARGO: &str = include_str!("../../templates/step-pack/Cargo.toml");
const PACK_LIB: &str = include_str!("../../templates/step-pack/src/lib.rs");
const PACK_README: &str = include_str!("../../templates/step-pack/README.md");

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name != "recipe";
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::BadName(name.to_owned()))
    }
}

fn fresh_dir(dir: &Path) -> Result<(), ScaffoldError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    let io = |source| ScaffoldError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// The default recipe with the steps of packs commented out: a new project's `plugins/` is
/// empty, and each such step says which pack to install to use it.
fn without_pack_steps(toml: &str) -> String {
    toml.split("\n\n")
        .map(|block| {
            let pack = block.lines().find_map(|l| {
                let v = l.trim().strip_prefix("use = \"")?;
                let (ns, _) = v.split_once("::")?;
                (ns != "recipe").then(|| ns.to_owned())
            });
            match pack {
                Some(ns) if block.contains("[[steps]]") => {
                    let mut out = String::new();
                    for l in block.lines() {
                        if !l.starts_with('#') {
                            out.push_str("# ");
                        }
                        out.push_str(l);
                        out.push('\n');
                    }
                    out.push_str(&format!(
                        "# (needs the `{ns}` pack: `art-host install {ns} --registry ...`, then uncomment)"
                    ));
                    out
                }
                _ => block.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Writes a project in `dir` (whose last component is the project's name).
pub fn new_project(dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    check_name(&name)?;
    fresh_dir(dir)?;
    let toml = without_pack_steps(
        &crate::demo::DEFAULT_PROJECT
            .replace("name = \"digits-demo\"", &format!("name = \"{name}\"")),
    );
    let files = [
        (dir.join("art.toml"), toml),
        (
            dir.join("README.md"),
            PROJECT_README.replace("{{name}}", &name),
        ),
        (dir.join(".gitignore"), PROJECT_GITIGNORE.to_owned()),
        (dir.join("plugins/.gitkeep"), String::new()),
    ];
    for (p, t) in &files {
        write(p, t)?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// The `art-plugin-api` dependency line: by version, plus a path to this host's source tree
/// when it is there (the API crate is then taken from it rather than from a registry).
pub fn api_dependency(api_path: Option<&Path>) -> String {
    let version = art_plugin_api::API_VERSION;
    let local = api_path.map(Path::to_owned).or_else(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api");
        p.join("Cargo.toml")
            .exists()
            .then(|| p.canonicalize().unwrap_or(p))
    });
    match local {
        Some(p) => format!(
            "{{ version = \"{version}\", path = {:?} }}",
            p.display().to_string()
        ),
        None => format!("\"{version}\""),
    }
}

/// Writes a step-pack crate in `dir` (whose last component is the pack's name).
pub fn new_pack(dir: &Path, api_path: Option<&Path>) -> Result<Vec<PathBuf>, ScaffoldError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    check_name(&name)?;
    fresh_dir(dir)?;
    let crate_name = name.replace('-', "_");
    let fill = |t: &str| {
        t.replace("{{name}}", &name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{api_dep}}", &api_dependency(api_path))
    };
    let files = [
        (dir.join("Cargo.toml"), fill(PACK_CARGO)),
        (dir.join("src/lib.rs"), fill(PACK_LIB)),
        (dir.join("README.md"), fill(PACK_README)),
        (dir.join(".gitignore"), "target/\n".to_owned()),
    ];
    for (p, t) in &files {
        write(p, t)?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_a_loadable_art_toml_with_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("my-proj");
        new_project(&dir).unwrap();
        let p = crate::project::Project::load(&dir).unwrap();
        assert_eq!(p.meta.name, "my-proj");
        // Only built-in steps stay active; the pack steps are there, commented, with the fix.
        assert!(p.steps.iter().all(|s| s.namespace_and_name().0 == "recipe"));
        assert!(p.steps.len() >= 11, "{}", p.steps.len());
        let text = std::fs::read_to_string(dir.join("art.toml")).unwrap();
        assert!(
            text.contains("# use = \"lr-tools::lr-range-test\"")
                && text.contains("art-host install lr-tools")
        );
        assert!(dir.join("plugins").is_dir() && dir.join(".gitignore").exists());
        assert!(matches!(new_project(&dir), Err(ScaffoldError::Exists(_))));
    }

    #[test]
    fn names_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            new_pack(&tmp.path().join("9lives"), None),
            Err(ScaffoldError::BadName(_))
        ));
        assert!(matches!(
            new_pack(&tmp.path().join("recipe"), None),
            Err(ScaffoldError::BadName(_))
        ));
    }

    #[test]
    fn a_pack_gets_its_names_filled_in() {
        let tmp = tempfile::tempdir().unwrap();
        let files = new_pack(&tmp.path().join("my-pack"), None).unwrap();
        let lib = std::fs::read_to_string(&files[1]).unwrap();
        assert!(
            lib.contains("name: \"my-pack\"") && !lib.contains("{{"),
            "{lib}"
        );
        let cargo = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            cargo.contains("name = \"my_pack\"") && cargo.contains("art-plugin-api = {"),
            "{cargo}"
        );
    }
}
