//! `art-host export mlflow`: the store as an MLflow FileStore (`mlflow ui
//! --backend-store-uri DIR`), one MLflow run per stored step run.
//!
//! The layout is MLflow's own: `<experiment>/meta.yaml`, `<experiment>/<run>/{meta.yaml,
//! metrics/, params/, tags/, artifacts/}`, a metric file holding `<ms> <value> <step>` lines.
//! Run ids are derived from (step, run), so exporting again rewrites the same runs instead of
//! adding copies, and other experiments already in DIR are left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::html::run_settings;
use super::{collect, ProjectData, ReportError};
use crate::store::{Status, StepRecord};

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    /// The MLflow experiment id used.
    pub experiment_id: String,
    /// Its folder.
    pub experiment_dir: PathBuf,
    /// MLflow runs written (one per stored step run).
    pub runs: usize,
    /// Metric values written, curves included.
    pub metric_points: usize,
}

/// Why the export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The project could not be read.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Keeps to the characters MLflow accepts in metric, param and tag names.
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-. ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Milliseconds since the epoch of an RFC 3339 UTC time (`2026-12-04T23:25:38Z`).
fn millis(rfc3339: &str) -> Option<i64> {
    let b = rfc3339.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| rfc3339.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000)
}

fn run_uuid(r: &StepRecord) -> String {
    let h = Sha256::digest(format!("{}/{}", r.step_id, r.run_id));
    h[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v}")
    }
}

struct Writer {
    points: usize,
}

impl Writer {
    fn file(&self, path: &Path, text: &str) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)
    }
}

/// Finds the experiment named `name` in `out`, else the next free numeric id.
fn experiment_id(out: &Path, name: &str) -> String {
    let mut used = Vec::new();
    for e in std::fs::read_dir(out).into_iter().flatten().flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        let Ok(n) = id.parse::<u64>() else { continue };
        used.push(n);
        let meta = std::fs::read_to_string(e.path().join("meta.yaml")).unwrap_or_default();
        if meta
            .lines()
            .any(|l| l.trim() == format!("name: {}", yaml_str(name)))
        {
            return id;
        }
    }
    // 0 is MLflow's "Default" experiment; ours start at 1.
    (1..).find(|n| !used.contains(n)).unwrap_or(1).to_string()
}

/// Exports the project in `dir` to the MLflow FileStore at `out`.
pub fn export(dir: &Path, out: &Path) -> Result<Exported, ExportError> {
    let data = collect(dir)?;
    export_data(&data, out)
}

/// Exports already collected project data.
pub fn export_data(data: &ProjectData, out: &Path) -> Result<Exported, ExportError> {
    std::fs::create_dir_all(out).map_err(|source| ExportError::Io {
        path: out.to_owned(),
        source,
    })?;
    let out = out.canonicalize().map_err(|source| ExportError::Io {
        path: out.to_owned(),
        source,
    })?;
    let exp_id = experiment_id(&out, &data.name);
    let exp_dir = out.join(&exp_id);
    let mut w = Writer { points: 0 };
    let created = data
        .invocations
        .first()
        .and_then(|r| millis(&r.started_at))
        .unwrap_or(0);
    let updated = data
        .invocations
        .last()
        .and_then(|r| millis(&r.started_at))
        .unwrap_or(created);
    w.file(
        &exp_dir.join("meta.yaml"),
        &format!(
            "artifact_location: {}\ncreation_time: {created}\nexperiment_id: '{exp_id}'\nlast_update_time: {updated}\nlifecycle_stage: active\nname: {}\n",
            yaml_str(&format!("file://{}", exp_dir.display())),
            yaml_str(&data.name)
        ),
    )?;
    w.file(
        &exp_dir.join("tags").join("mlflow.note.content"),
        &format!(
            "Exported by art-host {} from {}",
            env!("CARGO_PKG_VERSION"),
            data.dir.display()
        ),
    )?;
    let mut runs = 0;
    for step in &data.steps {
        for r in &step.runs {
            write_run(&mut w, data, &exp_id, &exp_dir, r)?;
            runs += 1;
        }
    }
    Ok(Exported {
        experiment_id: exp_id,
        experiment_dir: exp_dir,
        runs,
        metric_points: w.points,
    })
}

fn write_run(
    w: &mut Writer,
    data: &ProjectData,
    exp_id: &str,
    exp_dir: &Path,
    r: &StepRecord,
) -> Result<(), ExportError> {
    let id = run_uuid(r);
    let dir = exp_dir.join(&id);
    let start = millis(&r.started_at).unwrap_or(0);
    let end = start + (r.duration_s * 1000.0).round() as i64;
    let status = match r.status {
        Status::Passed | Status::Cached | Status::Skipped => 3, // FINISHED
        Status::Failed | Status::Error | Status::NotRun => 4,   // FAILED
    };
    let name = format!("{} · {}", r.step_id, r.run_id);
    w.file(
        &dir.join("meta.yaml"),
        &format!(
            "artifact_uri: {}\nend_time: {end}\nentry_point_name: ''\nexperiment_id: '{exp_id}'\nlifecycle_stage: active\nrun_id: {id}\nrun_name: {}\nrun_uuid: {id}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {start}\nstatus: {status}\ntags: []\nuser_id: art\n",
            yaml_str(&format!("file://{}", dir.join("artifacts").display())),
            yaml_str(&name),
        ),
    )?;
    let mut metrics: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &r.metrics {
        metrics.insert(key(k), format!("{end} {} 0\n", fmt_value(*v)));
        w.points += 1;
    }
    for s in &r.series {
        let mut text = String::new();
        for (i, y) in s.ys.iter().enumerate() {
            // MLflow steps are integers: epochs stay epochs, other x axes become indexes.
            let x = s.xs.get(i).copied().unwrap_or(i as f64);
            let step = if x.fract() == 0.0 && x >= 0.0 {
                x as i64
            } else {
                i as i64
            };
            text.push_str(&format!("{end} {} {step}\n", fmt_value(*y)));
            w.points += 1;
        }
        metrics.insert(format!("curve.{}", key(&s.name)), text);
    }
    for (k, text) in metrics {
        w.file(&dir.join("metrics").join(k), &text)?;
    }
    for (k, v) in run_settings(r) {
        let v: String = v.chars().take(6000).collect();
        w.file(&dir.join("params").join(key(&k)), &v)?;
    }
    let mut tags = vec![
        ("mlflow.runName", name.clone()),
        ("mlflow.user", "art".to_owned()),
        ("mlflow.source.name", format!("art-host {}", r.uses)),
        ("mlflow.source.type", "LOCAL".to_owned()),
        ("mlflow.note.content", r.summary.clone()),
        ("art.step", r.step_id.clone()),
        ("art.uses", r.uses.clone()),
        ("art.run_id", r.run_id.clone()),
        ("art.status", r.status.as_str().to_owned()),
        ("art.fingerprint", r.fingerprint.clone()),
    ];
    if let Some(e) = &r.error {
        tags.push(("art.error", e.clone()));
    }
    if !r.checks.is_empty() {
        let text: Vec<String> = r
            .checks
            .iter()
            .map(|c| {
                let mark = if c.passed { "passed" } else { "FAILED" };
                format!("{mark} {}: {}", c.check, c.message)
            })
            .collect();
        tags.push(("art.checks", text.join("\n")));
    }
    for (k, v) in tags {
        w.file(&dir.join("tags").join(k), &v)?;
    }
    let arts = dir.join("artifacts");
    w.file(
        &arts.join("record.json"),
        &serde_json::to_string_pretty(r).unwrap_or_default(),
    )?;
    let src = data.artifact_dir(r);
    for e in std::fs::read_dir(&src).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            let to = arts.join(e.file_name());
            std::fs::copy(e.path(), &to).map_err(|source| ExportError::Io { path: to, source })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_to_millis() {
        assert_eq!(millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(millis("2026-12-04T23:25:38Z"), Some(1_796_426_738_000));
        assert_eq!(millis("garbage"), None);
    }

    #[test]
    fn keys_keep_to_mlflow_characters() {
        assert_eq!(key("valid.accuracy"), "valid.accuracy");
        assert_eq!(key("a/b:c"), "a_b_c");
    }
}
