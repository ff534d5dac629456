//! `art-host status`: the latest state of every step, from the store alone (no packs are
//! loaded, no data is read), so it answers instantly even for a project mid-run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::project::{Project, ProjectError};
use crate::store::{Status, Store};

/// One step's line.
#[derive(Debug, Clone, Serialize)]
pub struct StepStatus {
    /// Step id.
    pub step_id: String,
    /// `namespace::name`.
    pub uses: String,
    /// Latest stored outcome (`None`: never run).
    pub status: Option<Status>,
    /// When that run started.
    pub started_at: Option<String>,
    /// Its run id.
    pub run_id: Option<String>,
    /// Its metrics.
    #[serde(with = "crate::nonfinite::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Failed checks of that run.
    pub failed_checks: Vec<String>,
    /// Number of stored runs of this step.
    pub runs: usize,
}

/// The status of a project.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectStatus {
    /// Project name.
    pub project: String,
    /// Steps in project order.
    pub steps: Vec<StepStatus>,
    /// Files in the store that could not be read: (path, reason). Kept, never deleted.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Reads the status of the project in `dir`.
pub fn read(dir: &Path) -> Result<ProjectStatus, ProjectError> {
    let project = Project::load(dir)?;
    let store = Store::new(dir);
    let mut unreadable = Vec::new();
    let steps = project
        .steps
        .iter()
        .map(|s| {
            let (history, bad) = store.step_history(&s.id);
            unreadable.extend(bad.into_iter().map(|u| (u.path, u.reason)));
            let last = history.last();
            StepStatus {
                step_id: s.id.clone(),
                uses: s.uses.clone(),
                status: last.map(|r| r.status),
                started_at: last.map(|r| r.started_at.clone()),
                run_id: last.map(|r| r.run_id.clone()),
                metrics: last.map(|r| r.metrics.clone()).unwrap_or_default(),
                failed_checks: last
                    .map(|r| {
                        r.checks
                            .iter()
                            .filter(|c| !c.passed)
                            .map(|c| format!("{}: {}", c.check, c.message))
                            .collect()
                    })
                    .unwrap_or_default(),
                runs: history.len(),
            }
        })
        .collect();
    Ok(ProjectStatus {
        project: project.meta.name.clone(),
        steps,
        unreadable,
    })
}
