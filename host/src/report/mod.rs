//! Seeing a project: the self-contained HTML report, the live dashboard that serves it, and the
//! MLflow export. All three read the store only; none of them loads a pack or trains.

pub mod charts;
pub mod dashboard;
pub mod html;
pub mod mlflow;

use std::path::{Path, PathBuf};

use crate::project::Project;
use crate::store::{RunRecord, Status, StepRecord, Store, Unreadable};

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Neither `art.toml` nor a store.
    #[error("{} holds no art project (no art.toml and no .art/ store): pass the project folder, or run `art-host new` to start one", .0.display())]
    NoProject(PathBuf),
    /// Writing the output failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Every stored run of one step.
#[derive(Debug, Clone)]
pub struct StepRuns {
    /// Step id.
    pub id: String,
    /// `namespace::name` (from art.toml, else from its latest run).
    pub uses: String,
    /// False for a step with runs in the store that art.toml no longer lists.
    pub in_project: bool,
    /// Its runs, oldest first.
    pub runs: Vec<StepRecord>,
    /// Its outcome in the latest invocation that reached it (`cached` included), else the
    /// status of its latest stored run.
    pub latest: Option<Status>,
}

impl StepRuns {
    /// Runs that passed / failed or errored.
    pub fn counts(&self) -> (usize, usize) {
        let ok = self.runs.iter().filter(|r| r.status.is_ok()).count();
        (ok, self.runs.len() - ok)
    }

    /// Distinct model names used by its runs, in first-use order.
    pub fn models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.runs {
            if let Some(m) = model_name(r) {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
}

/// The model name a run used, if any.
pub fn model_name(r: &StepRecord) -> Option<String> {
    r.model
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
}

/// A project as the store knows it.
#[derive(Debug, Clone)]
pub struct ProjectData {
    /// Project name.
    pub name: String,
    /// Project folder.
    pub dir: PathBuf,
    /// Steps in project order, then steps only the store knows.
    pub steps: Vec<StepRuns>,
    /// `art-host run` invocations, oldest first.
    pub invocations: Vec<RunRecord>,
    /// Store files that could not be read (kept on disk, left out here).
    pub unreadable: Vec<Unreadable>,
    /// Set when art.toml could not be read and the store gave the order.
    pub warning: Option<String>,
}

impl ProjectData {
    /// Number of stored step runs.
    pub fn num_runs(&self) -> usize {
        self.steps.iter().map(|s| s.runs.len()).sum()
    }

    /// Where a run's artifacts live.
    pub fn artifact_dir(&self, r: &StepRecord) -> PathBuf {
        Store::new(&self.dir).artifact_dir(&r.step_id, &r.run_id)
    }
}

/// Reads everything the store holds about the project in `dir`.
pub fn collect(dir: &Path) -> Result<ProjectData, ReportError> {
    let store = Store::new(dir);
    let (project, warning) = match Project::load(dir) {
        Ok(p) => (Some(p), None),
        Err(e) => {
            if !store.root().is_dir() {
                return Err(ReportError::NoProject(dir.to_owned()));
            }
            (
                None,
                Some(format!(
                    "art.toml could not be read, so steps are in store order: {e}"
                )),
            )
        }
    };
    let (invocations, mut unreadable) = store.run_history();
    let mut order: Vec<(String, Option<String>)> = project
        .as_ref()
        .map(|p| {
            p.steps
                .iter()
                .map(|s| (s.id.clone(), Some(s.uses.clone())))
                .collect()
        })
        .unwrap_or_default();
    let listed = order.len();
    for id in store.step_ids() {
        if !order.iter().any(|(o, _)| *o == id) {
            order.push((id, None));
        }
    }
    let steps = order
        .into_iter()
        .enumerate()
        .map(|(i, (id, uses))| {
            let (runs, bad) = store.step_history(&id);
            unreadable.extend(bad);
            let latest = invocations
                .iter()
                .rev()
                .find_map(|inv| {
                    inv.steps
                        .iter()
                        .find(|(s, st)| *s == id && *st != Status::Skipped)
                        .map(|(_, st)| *st)
                })
                .or_else(|| runs.last().map(|r| r.status));
            let uses = uses
                .or_else(|| runs.last().map(|r| r.uses.clone()))
                .unwrap_or_default();
            StepRuns {
                id,
                uses,
                in_project: i < listed,
                runs,
                latest,
            }
        })
        .collect();
    let name = project
        .as_ref()
        .map(|p| p.meta.name.clone())
        .or_else(|| invocations.last().map(|r| r.project.clone()))
        .unwrap_or_else(|| "art project".into());
    Ok(ProjectData {
        name,
        dir: dir.to_owned(),
        steps,
        invocations,
        unreadable,
        warning,
    })
}

/// Writes the report of the project in `dir` to `out`; returns its size in bytes.
pub fn write_report(dir: &Path, out: &Path) -> Result<usize, ReportError> {
    let data = collect(dir)?;
    let page = html::render(&data, &html::Options::default());
    let write = |p: &Path| -> std::io::Result<()> {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        std::io::Write::write_all(&mut tmp, page.as_bytes())?;
        // A temp file is private (0600); a report is meant to be opened and shared.
        #[cfg(unix)]
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )?;
        tmp.persist(p).map_err(|e| e.error)?;
        Ok(())
    };
    write(out).map_err(|source| ReportError::Write {
        path: out.to_owned(),
        source,
    })?;
    Ok(page.len())
}
