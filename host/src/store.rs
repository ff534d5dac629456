//! The run store under `<project>/.art/`. One JSON file per step run, never rewritten, written
//! to a temporary file in the same folder, fsynced and renamed into place, so a crash leaves
//! either the old state or the new file, never half a file. Unreadable files are reported and
//! skipped, never deleted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Version of the record layout written by this host.
pub const SCHEMA: u32 = 1;

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Filesystem trouble.
    #[error("run store {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Outcome of one step run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Ran and every check passed.
    Passed,
    /// Ran, but a check failed.
    Failed,
    /// Could not run to the end (error, panic, refused pack).
    Error,
    /// Not run: an earlier gate failed.
    NotRun,
    /// Not run: a passed run with the same fingerprint was found and its checks still pass.
    Cached,
    /// Not run: not selected (`--only`, `--from`).
    Skipped,
}

impl Status {
    /// As shown in the summary table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "FAILED",
            Status::Error => "ERROR",
            Status::NotRun => "not run",
            Status::Cached => "cached",
            Status::Skipped => "skipped",
        }
    }

    /// Whether the gate after this step is open.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Passed | Status::Cached | Status::Skipped)
    }
}

/// One check's verdict as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// The check as written.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// Why.
    pub message: String,
}

/// A recorded curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRecord {
    /// Name.
    pub name: String,
    /// X values.
    #[serde(with = "crate::nonfinite::vec")]
    pub xs: Vec<f64>,
    /// Y values.
    #[serde(with = "crate::nonfinite::vec")]
    pub ys: Vec<f64>,
}

/// The pack a step came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackRecord {
    /// Pack name.
    pub name: String,
    /// Pack version.
    pub version: String,
    /// sha256 of the library file.
    pub sha256: String,
}

/// Everything known about one run of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Layout version.
    pub schema: u32,
    /// The invocation this run belongs to.
    pub run_id: String,
    /// Step id in the project.
    pub step_id: String,
    /// `namespace::name`.
    pub uses: String,
    /// Outcome.
    pub status: Status,
    /// RFC 3339 UTC start time.
    pub started_at: String,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// What decides whether a stored run can stand in for a new one.
    pub fingerprint: String,
    /// The seed used.
    pub seed: u64,
    /// The step's config.
    pub config: serde_json::Value,
    /// The model's config, if any.
    pub model: serde_json::Value,
    /// Dataset name and digest.
    pub dataset: serde_json::Value,
    /// Metrics.
    #[serde(with = "crate::nonfinite::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Curves.
    #[serde(default)]
    pub series: Vec<SeriesRecord>,
    /// Check verdicts.
    #[serde(default)]
    pub checks: Vec<CheckRecord>,
    /// One-line summary.
    #[serde(default)]
    pub summary: String,
    /// The error, if the step could not finish.
    #[serde(default)]
    pub error: Option<String>,
    /// The `art-host` version.
    pub host_version: String,
    /// The pack, for pack steps.
    #[serde(default)]
    pub pack: Option<PackRecord>,
    /// The weights of the step's model at its end (`init_from` and `export model` read them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRecord>,
    /// Free-form extras a step returned.
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// A model checkpoint saved with a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// Path relative to `.art/`.
    pub file: String,
    /// sha256 of the file: a checkpoint that changed on disk is refused.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// The model kind it belongs to.
    pub kind: String,
}

/// A run-level record listing the steps of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Layout version.
    pub schema: u32,
    /// This invocation.
    pub run_id: String,
    /// Project name.
    pub project: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// Wall time.
    pub duration_s: f64,
    /// `(step id, status)` in order.
    pub steps: Vec<(String, Status)>,
    /// Whether every gate passed.
    pub passed: bool,
}

/// A project's `.art/` folder.
pub struct Store {
    root: PathBuf,
}

/// A stored file that could not be read back.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl Store {
    /// The store of the project in `project_dir` (created lazily on first write).
    pub fn new(project_dir: &Path) -> Self {
        Self {
            root: project_dir.join(".art"),
        }
    }

    /// The `.art/` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder for a step's artifacts in one run.
    pub fn artifact_dir(&self, step_id: &str, run_id: &str) -> PathBuf {
        self.root.join("artifacts").join(step_id).join(run_id)
    }

    /// Folder of a step's finished trials (`regularize`, `tune`, `squeeze`).
    pub fn trial_dir(&self, step_id: &str) -> PathBuf {
        self.root.join("trials").join(step_id)
    }

    /// Writes a step record; fails rather than overwrite an existing file.
    pub fn put_step(&self, rec: &StepRecord) -> Result<PathBuf, StoreError> {
        let dir = self.root.join("steps").join(&rec.step_id);
        write_new(&dir, &format!("{}.json", rec.run_id), rec)
    }

    /// Writes the run-level record.
    pub fn put_run(&self, rec: &RunRecord) -> Result<PathBuf, StoreError> {
        write_new(
            &self.root.join("runs"),
            &format!("{}.json", rec.run_id),
            rec,
        )
    }

    /// Every readable record of a step, oldest first, and the files that could not be read.
    pub fn step_history(&self, step_id: &str) -> (Vec<StepRecord>, Vec<Unreadable>) {
        let (mut recs, bad) = read_records::<StepRecord>(&self.root.join("steps").join(step_id));
        recs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        (recs, bad)
    }

    /// Every readable invocation record (`art-host run`), oldest first.
    pub fn run_history(&self) -> (Vec<RunRecord>, Vec<Unreadable>) {
        let (mut recs, bad) = read_records::<RunRecord>(&self.root.join("runs"));
        recs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        (recs, bad)
    }

    /// The ids of every step with a folder in the store, sorted (steps since removed from
    /// `art.toml` included).
    pub fn step_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.root.join("steps"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }
}

/// Reads every `*.json` file of `dir` as a `T`; a file that cannot be read is reported, never
/// fatal and never deleted.
fn read_records<T: serde::de::DeserializeOwned>(dir: &Path) -> (Vec<T>, Vec<Unreadable>) {
    let mut recs = Vec::new();
    let mut bad = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (recs, bad);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()))
        {
            Ok(r) => recs.push(r),
            Err(reason) => bad.push(Unreadable { path, reason }),
        }
    }
    (recs, bad)
}

/// Like [`write_new`], but atomically replaces an existing file (for caches such as trials,
/// never for run records).
pub(crate) fn write_replacing<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<PathBuf, StoreError> {
    write_file(dir, name, value, true)
}

pub(crate) fn write_new<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<PathBuf, StoreError> {
    write_file(dir, name, value, false)
}

fn write_file<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
    replace: bool,
) -> Result<PathBuf, StoreError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let target = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    let json = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Io {
        path: target.clone(),
        source: std::io::Error::other(e),
    })?;
    tmp.write_all(&json).map_err(io(&target))?;
    tmp.as_file().sync_all().map_err(io(&target))?;
    let persisted = if replace {
        tmp.persist(&target)
    } else {
        tmp.persist_noclobber(&target)
    };
    persisted.map_err(|e| StoreError::Io {
        path: target.clone(),
        source: e.error,
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(target)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A new run id: sortable UTC time plus random bits, e.g. `20261204T205701Z-3fa9c1`.
pub fn new_run_id() -> String {
    let now = SystemTime::now();
    let stamp: String = rfc3339(now)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let salt = rand::random::<u32>() ^ nanos ^ std::process::id();
    format!("{stamp}-{:06x}", salt & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run_id: &str) -> StepRecord {
        StepRecord {
            schema: SCHEMA,
            run_id: run_id.into(),
            step_id: "overfit".into(),
            uses: "recipe::overfit".into(),
            status: Status::Passed,
            started_at: rfc3339(SystemTime::now()),
            duration_s: 1.0,
            fingerprint: "f".into(),
            seed: 1,
            config: serde_json::json!({}),
            model: serde_json::Value::Null,
            dataset: serde_json::Value::Null,
            metrics: [("valid.accuracy".to_string(), 0.9)].into(),
            series: vec![],
            checks: vec![],
            summary: String::new(),
            error: None,
            host_version: "0".into(),
            pack: None,
            checkpoint: None,
            extra: serde_json::Value::Null,
        }
    }

    #[test]
    fn records_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.put_step(&record("a")).unwrap();
        assert!(store.put_step(&record("a")).is_err());
        let (recs, bad) = store.step_history("overfit");
        assert_eq!((recs.len(), bad.len()), (1, 0));
        assert_eq!(recs[0], record_with_time(&recs[0]));
    }

    fn record_with_time(r: &StepRecord) -> StepRecord {
        StepRecord {
            started_at: r.started_at.clone(),
            ..record("a")
        }
    }

    #[test]
    fn corrupt_files_are_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.put_step(&record("b")).unwrap();
        let bad = dir.path().join(".art/steps/overfit/a.json");
        std::fs::write(&bad, b"{\"schema\": 1, \"run_").unwrap();
        let (recs, unreadable) = store.step_history("overfit");
        assert_eq!((recs.len(), unreadable.len()), (1, 1));
        assert!(bad.exists());
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_796_418_000);
        assert_eq!(rfc3339(t), "2026-12-04T21:00:00Z");
    }
}
