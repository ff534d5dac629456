//! Runs a project: load packs, resolve every step and check, then execute the chain with its
//! gates, skipping steps whose passed runs are stored under the same fingerprint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

use abi_stable::std_types::RStr;
use art_plugin_api::{context::context_ref, CheckBox, Metric, Series, StepBox, StepView};
use serde::Serialize;

use crate::checks::{CheckExpr, CheckSpec};
use crate::data::{self, Dataset, Splits};
use crate::fingerprint::{fingerprint, Inputs};
use crate::packs::context::HostCtx;
use crate::packs::{LoadedPack, PackSet};
use crate::progress;
use crate::project::{did_you_mean, Project, ProjectError, StepSpec};
use crate::recipe::{self, Builtin, Earlier, RecipeStep, StepCx};
use crate::store::{
    new_run_id, rfc3339, CheckRecord, PackRecord, RunRecord, Status, StepRecord, Store, StoreError,
    SCHEMA,
};

/// Why a run could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `art.toml` is wrong.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--from`/`--only` named no step of the project.
    #[error("{0}")]
    Selection(String),
    /// Another run holds the project.
    #[error(transparent)]
    Locked(#[from] crate::lock::LockError),
}

/// Knobs of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Extra folders to load packs from (besides `<project>/plugins`).
    pub plugin_dirs: Vec<PathBuf>,
    /// Rerun steps even when a stored run could stand in.
    pub force: bool,
    /// How to show progress on stderr while running.
    pub progress: crate::progress::Mode,
    /// Rerun this step and every step after it; earlier ones are not run.
    pub from: Option<String>,
    /// Run only this step (forced); the others are not run.
    pub only: Option<String>,
    /// Trials trained at once (default: `[project] threads`, else the number of cores).
    pub threads: Option<usize>,
    /// Run every pack step in a child process (steps can also ask with `isolate = true`).
    pub isolate: bool,
    /// The `art-host` binary that isolated steps run in (default: this executable).
    pub host_exe: Option<PathBuf>,
}

/// One step's row of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Step id.
    pub step_id: String,
    /// `namespace::name`.
    pub uses: String,
    /// Outcome.
    pub status: Status,
    /// Wall time.
    pub duration_s: f64,
    /// Metrics.
    #[serde(with = "crate::nonfinite::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Check verdicts.
    pub checks: Vec<CheckRecord>,
    /// Summary line.
    pub summary: String,
    /// Error, for `Error` status.
    pub error: Option<String>,
    /// The stored record.
    pub record: Option<PathBuf>,
}

/// A pack that was not loaded.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedPack {
    /// The library.
    pub path: PathBuf,
    /// Why, and what to do.
    pub reason: String,
}

/// Everything a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// This invocation's id.
    pub run_id: String,
    /// Project name.
    pub project: String,
    /// Whether every gate passed.
    pub passed: bool,
    /// Wall time.
    pub duration_s: f64,
    /// Steps in order.
    pub steps: Vec<StepReport>,
    /// Packs that were refused.
    pub refused_packs: Vec<RefusedPack>,
    /// Stored files that could not be read (kept, not deleted).
    pub warnings: Vec<String>,
}

enum Runnable<'p> {
    Builtin(&'static Builtin, Box<dyn RecipeStep>),
    Pack(&'p LoadedPack, StepBox, u32),
    Unavailable(String),
}

enum ResolvedCheck {
    Expr(String, CheckExpr),
    Pack(String, CheckBox),
    Unavailable(String, String),
}

struct Resolved<'p> {
    spec: StepSpec,
    runnable: Runnable<'p>,
    checks: Vec<ResolvedCheck>,
}

/// Plugin folders of a project: `<project>/plugins` then the extra ones.
pub fn plugin_dirs(project_dir: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![project_dir.join("plugins")];
    dirs.extend(extra.iter().cloned());
    dirs
}

fn toml_to_json(t: &toml::Table) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
}

fn locate_config_error(project: &Project, spec: &StepSpec, message: &str) -> ProjectError {
    let key = message
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|k| spec.config.contains_key(*k));
    project.step_error(
        spec.index,
        key.or(Some("use")),
        format!("step `{}` ({}): {message}", spec.id, spec.uses),
    )
}

fn unknown_pack(
    project: &Project,
    spec: &StepSpec,
    key: &str,
    ns: &str,
    what: &str,
    packs: &PackSet,
) -> ProjectError {
    let names: Vec<&str> = packs
        .loaded
        .iter()
        .map(|p| p.manifest.name.as_str())
        .collect();
    project.step_error(
        spec.index,
        Some(key),
        format!(
            "{what} `{ns}::…`: no pack named `{ns}` is installed{}; packs loaded: {}. Put the pack's library in {}/plugins/",
            did_you_mean(ns, names.iter().copied().chain(["recipe"])),
            if names.is_empty() { "none".to_owned() } else { names.join(", ") },
            project.dir.display()
        ),
    )
}

fn resolve_step<'p>(
    project: &Project,
    spec: &StepSpec,
    packs: &'p PackSet,
) -> Result<Runnable<'p>, ProjectError> {
    let (ns, name) = spec.namespace_and_name();
    if ns == "recipe" {
        let Some(b) = recipe::builtin(name) else {
            let names = recipe::builtins().iter().map(|b| b.name);
            return Err(project.step_error(
                spec.index,
                Some("use"),
                format!(
                    "unknown step `{}`{}; `art-host steps` lists every step",
                    spec.uses,
                    did_you_mean(name, names)
                ),
            ));
        };
        let step = (b.make)(&spec.config).map_err(|e| {
            project.step_error(
                spec.index,
                e.key
                    .as_deref()
                    .filter(|k| spec.config.contains_key(*k))
                    .or(Some("use")),
                format!("step `{}` ({}): {}", spec.id, spec.uses, e.message),
            )
        })?;
        if b.needs_model && project.model_for(spec).and_then(|(_, m)| m.net()).is_none() {
            return Err(project.step_error(
                spec.index,
                Some(if spec.model.is_some() { "model" } else { "use" }),
                format!(
                    "step `{}` needs a trainable model (mlp or linear): set `model = \"NAME\"` to one of the [models.NAME] tables",
                    spec.id
                ),
            ));
        }
        if let Some((_, crate::models::ModelSpec::Custom { kind, .. })) = project.model_for(spec) {
            if crate::models::trainable::factory(kind).is_none() {
                let why = match kind
                    .split_once("::")
                    .and_then(|(ns, _)| packs.refusal_of(ns))
                {
                    Some(r) => format!(
                        "model kind `{kind}`: pack ({}) was refused: {}",
                        r.path.display(),
                        r.error
                    ),
                    None => crate::models::trainable::missing(kind),
                };
                return Ok(Runnable::Unavailable(why));
            }
        }
        return Ok(Runnable::Builtin(b, step));
    }
    let Some(pack) = packs.get(ns) else {
        if let Some(r) = packs.refusal_of(ns) {
            return Ok(Runnable::Unavailable(format!(
                "pack `{ns}` ({}) was refused: {}",
                r.path.display(),
                r.error
            )));
        }
        return Err(unknown_pack(project, spec, "use", ns, "step", packs));
    };
    let Some(info) = pack.manifest.steps.iter().find(|s| s.name == name) else {
        let names = pack.manifest.steps.iter().map(|s| s.name.as_str());
        return Err(project.step_error(
            spec.index,
            Some("use"),
            format!(
                "pack `{ns}` {} has no step `{name}`{}",
                pack.manifest.version,
                did_you_mean(name, names)
            ),
        ));
    };
    let json = toml_to_json(&spec.config).to_string();
    let step = (pack.module.new_step())(RStr::from(name), RStr::from(json.as_str()))
        .into_result()
        .map_err(|e| {
            locate_config_error(
                project,
                spec,
                &format!("pack `{ns}` refused the config: {e}"),
            )
        })?;
    Ok(Runnable::Pack(pack, step, info.revision))
}

fn resolve_checks(
    project: &Project,
    spec: &StepSpec,
    packs: &PackSet,
    builtin: Option<&Builtin>,
) -> Result<Vec<ResolvedCheck>, ProjectError> {
    let written: Vec<CheckSpec> = match &spec.checks {
        Some(c) => c.clone(),
        None => builtin
            .map(|b| {
                b.default_checks
                    .iter()
                    .map(|c| CheckSpec::Expr((*c).to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut out = Vec::new();
    for c in written {
        match &c {
            CheckSpec::Expr(text) => {
                let e = CheckExpr::parse(text).map_err(|m| {
                    project.step_error(spec.index, Some("checks"), format!("check `{text}`: {m}"))
                })?;
                out.push(ResolvedCheck::Expr(text.clone(), e));
            }
            CheckSpec::Pack { uses, config } => {
                let (ns, name) = crate::project::split_use(uses);
                let Some(pack) = packs.get(ns) else {
                    if let Some(r) = packs.refusal_of(ns) {
                        // Like a step of a refused pack: the check fails with the reason.
                        out.push(ResolvedCheck::Unavailable(
                            c.to_string(),
                            format!(
                                "pack `{ns}` ({}) was refused: {}",
                                r.path.display(),
                                r.error
                            ),
                        ));
                        continue;
                    }
                    return Err(unknown_pack(project, spec, "checks", ns, "check", packs));
                };
                if !pack.manifest.checks.iter().any(|i| i.name == name) {
                    let names = pack.manifest.checks.iter().map(|s| s.name.as_str());
                    return Err(project.step_error(
                        spec.index,
                        Some("checks"),
                        format!(
                            "pack `{ns}` has no check `{name}`{}",
                            did_you_mean(name, names)
                        ),
                    ));
                }
                let json = toml_to_json(config).to_string();
                let check = (pack.module.new_check())(RStr::from(name), RStr::from(json.as_str()))
                    .into_result()
                    .map_err(|e| {
                        project.step_error(
                            spec.index,
                            Some("checks"),
                            format!("check `{uses}`: {e}"),
                        )
                    })?;
                out.push(ResolvedCheck::Pack(c.to_string(), check));
            }
        }
    }
    Ok(out)
}

fn load_dataset(project: &Project) -> Result<(Dataset, Splits), RunError> {
    Ok(data::load(&project.data, &project.dir, project.meta.seed)?)
}

/// Loads the packs of a project (never fails: refusals are recorded in the set).
pub fn load_packs(project_dir: &Path, extra: &[PathBuf]) -> PackSet {
    PackSet::load_dirs(&plugin_dirs(project_dir, extra))
}

/// Runs the project in `dir`.
pub fn run_project(dir: &Path, opts: &RunOptions) -> Result<RunReport, RunError> {
    let project = Project::load(dir)?;
    let packs = load_packs(dir, &opts.plugin_dirs);
    run_loaded(&project, &packs, opts)
}

fn resolve_all<'p>(
    project: &Project,
    packs: &'p PackSet,
) -> Result<Vec<Resolved<'p>>, ProjectError> {
    let mut resolved = Vec::new();
    for spec in &project.steps {
        let runnable = resolve_step(project, spec, packs)?;
        let builtin = match &runnable {
            Runnable::Builtin(b, _) => Some(*b),
            _ => None,
        };
        let checks = resolve_checks(project, spec, packs, builtin)?;
        resolved.push(Resolved {
            spec: spec.clone(),
            runnable,
            checks,
        });
    }
    Ok(resolved)
}

/// Everything `run` checks before it runs a step (step names, step configs, checks) against
/// the given packs, without running anything.
pub fn validate(project: &Project, packs: &PackSet) -> Result<(), ProjectError> {
    resolve_all(project, packs).map(|_| ())
}

/// Runs an already parsed project with already loaded packs.
pub fn run_loaded(
    project: &Project,
    packs: &PackSet,
    opts: &RunOptions,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let refused_packs: Vec<RefusedPack> = packs
        .refused
        .iter()
        .map(|r| RefusedPack {
            path: r.path.clone(),
            reason: r.error.to_string(),
        })
        .collect();
    for r in &refused_packs {
        tracing::warn!("refused pack {}: {}", r.path.display(), r.reason);
    }

    // Resolve everything before running anything: a typo on the last step must not cost a
    // training run first.
    let mut resolved = resolve_all(project, packs)?;

    let ids: Vec<&str> = project.steps.iter().map(|s| s.id.as_str()).collect();
    let position = |flag: &str, id: &str| {
        ids.iter().position(|i| *i == id).ok_or_else(|| {
            RunError::Selection(format!(
                "{flag} {id}: the project has no step `{id}`{}; its steps are: {}",
                did_you_mean(id, ids.iter().copied()),
                ids.join(", ")
            ))
        })
    };
    let from = opts
        .from
        .as_deref()
        .map(|id| position("--from", id))
        .transpose()?;
    let only = opts
        .only
        .as_deref()
        .map(|id| position("--only", id))
        .transpose()?;

    let (data, splits) = load_dataset(project)?;
    let digest = data.digest();
    let threads = opts
        .threads
        .or(project.meta.threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    // Absolute, so the paths in the report mean the same thing from any working directory.
    let store =
        Store::new(&std::fs::canonicalize(&project.dir).unwrap_or_else(|_| project.dir.clone()));
    // Nothing is written before the lock is ours.
    let _lock = crate::lock::ProjectLock::acquire(store.root())?;
    let run_id = new_run_id();
    let stop = AtomicBool::new(false);
    let mut warnings = Vec::new();
    let mut results: BTreeMap<String, Earlier> = BTreeMap::new();
    let mut upstream = String::new();
    let mut reports = Vec::new();
    let mut gate_open = true;
    let total = resolved.len();

    for (n, r) in resolved.iter_mut().enumerate() {
        let spec = &r.spec;
        if !gate_open {
            reports.push(StepReport {
                step_id: spec.id.clone(),
                uses: spec.uses.clone(),
                status: Status::NotRun,
                duration_s: 0.0,
                metrics: BTreeMap::new(),
                checks: vec![],
                summary: "an earlier gate failed".into(),
                error: None,
                record: None,
            });
            continue;
        }
        let model = project.model_for(spec);
        let mut model_json = model
            .map(|(name, m)| serde_json::json!({"name": name, "spec": m}))
            .unwrap_or(serde_json::Value::Null);
        // A pack's model is as much code as a pack's step: its version and checksum are part
        // of what a run depends on.
        if let Some((_, crate::models::ModelSpec::Custom { kind, .. })) = model {
            if let Some(p) = kind.split_once("::").and_then(|(ns, _)| packs.get(ns)) {
                model_json["pack"] = serde_json::json!({
                    "name": p.manifest.name, "version": p.manifest.version, "sha256": p.sha256,
                });
            }
        }
        let mut config_json = toml_to_json(&spec.config);
        if let (Some(from), Some(m)) = (&spec.init_from, config_json.as_object_mut()) {
            m.insert("init_from".into(), serde_json::json!(from));
        }
        let (origin, revision, pack_rec) = match &r.runnable {
            Runnable::Builtin(b, _) => (
                ("recipe".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                b.revision,
                None,
            ),
            Runnable::Pack(p, _, rev) => (
                (p.manifest.name.clone(), p.manifest.version.clone()),
                *rev,
                Some(PackRecord {
                    name: p.manifest.name.clone(),
                    version: p.manifest.version.clone(),
                    sha256: p.sha256.clone(),
                }),
            ),
            Runnable::Unavailable(_) => (("unavailable".into(), String::new()), 0, None),
        };
        let fp = fingerprint(&Inputs {
            uses: &spec.uses,
            config: &config_json,
            model: &model_json,
            dataset_digest: &digest,
            valid_ratio: project.data.valid_ratio,
            seed: project.meta.seed,
            origin: (&origin.0, &origin.1),
            revision,
            upstream: &upstream,
        });
        upstream.clone_from(&fp);
        let selected = match (only, from) {
            (Some(o), _) => n == o,
            (None, Some(f)) => n >= f,
            (None, None) => true,
        };
        let forced = opts.force || only.is_some() || from.is_some_and(|f| n >= f);
        let header = format!("[{}/{total}] {} ({})", n + 1, spec.id, spec.uses);

        let (history, unreadable) = store.step_history(&spec.id);
        for u in unreadable {
            warnings.push(format!(
                "ignored unreadable run file {}: {}",
                u.path.display(),
                u.reason
            ));
        }

        let earlier_lookup = |id: &str| -> Option<Earlier> {
            results.get(id).cloned().or_else(|| {
                let (h, _) = store.step_history(id);
                h.into_iter()
                    .rev()
                    .find(|r| r.status.is_ok() || r.status == Status::Failed)
                    .map(|r| Earlier {
                        metrics: r.metrics,
                        extra: r.extra,
                    })
            })
        };

        if !selected {
            let why = if only.is_some() {
                "not selected by --only"
            } else {
                "before --from"
            };
            reports.push(StepReport {
                step_id: spec.id.clone(),
                uses: spec.uses.clone(),
                status: Status::Skipped,
                duration_s: 0.0,
                metrics: BTreeMap::new(),
                checks: vec![],
                summary: why.into(),
                error: None,
                record: None,
            });
            continue;
        }

        // A stored passed run with the same fingerprint stands in, if today's checks agree.
        if !forced && !matches!(r.runnable, Runnable::Unavailable(_)) {
            if let Some(prev) = history
                .iter()
                .rev()
                .find(|h| h.fingerprint == fp && h.status == Status::Passed)
            {
                let view = view_of(&spec.id, &prev.metrics, &prev.series);
                let checks =
                    evaluate_checks(&r.checks, &spec.id, &prev.metrics, &view, &earlier_lookup);
                if checks.iter().all(|c| c.passed) {
                    progress::begin_step(opts.progress, header.clone());
                    progress::end_step(&[format!("cached: passed in run {}", prev.run_id)]);
                    results.insert(
                        spec.id.clone(),
                        Earlier {
                            metrics: prev.metrics.clone(),
                            extra: prev.extra.clone(),
                        },
                    );
                    reports.push(StepReport {
                        step_id: spec.id.clone(),
                        uses: spec.uses.clone(),
                        status: Status::Cached,
                        duration_s: 0.0,
                        metrics: prev.metrics.clone(),
                        checks,
                        summary: format!(
                            "skipped: passed in run {} with the same fingerprint ({})",
                            prev.run_id, prev.summary
                        ),
                        error: None,
                        record: None,
                    });
                    continue;
                }
            }
        }

        progress::begin_step(opts.progress, header.clone());
        let step_started = Instant::now();
        let step_started_at = rfc3339(SystemTime::now());
        let artifact_dir = store.artifact_dir(&spec.id, &run_id);
        let mut cx = StepCx::new(
            &spec.id,
            &splits,
            model,
            project.meta.seed,
            artifact_dir,
            &earlier_lookup,
        );
        cx.dataset_digest.clone_from(&digest);
        cx.trial_dir = store.trial_dir(&spec.id);
        cx.threads = threads;
        let init = spec
            .init_from
            .as_deref()
            .map(|from| checkpoint_of(&store, from.trim_start_matches('@')))
            .transpose();
        let init_error = match init {
            Ok(weights) => {
                cx.init_weights = weights;
                None
            }
            Err(e) => Some(format!("init_from: {e}")),
        };
        let outcome: Result<(String, serde_json::Value), String> = match &mut r.runnable {
            _ if init_error.is_some() => Err(init_error.clone().unwrap_or_default()),
            Runnable::Builtin(_, step) => {
                let res =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step.run(&mut cx)));
                match res {
                    Ok(r) => r.map(|s| (s, std::mem::take(&mut cx.extra))),
                    Err(p) => Err(format!(
                        "step panicked: {}",
                        art_plugin_api::export::panic_message(p.as_ref())
                    )),
                }
            }
            Runnable::Pack(pack, _, _)
                if opts.isolate
                    || spec.isolate
                    || project
                        .packs
                        .get(&pack.manifest.name)
                        .is_some_and(|s| s.isolate) =>
            {
                let settings = project
                    .packs
                    .get(&pack.manifest.name)
                    .cloned()
                    .unwrap_or_default();
                let exe = match &opts.host_exe {
                    Some(e) => Ok(e.clone()),
                    None => std::env::current_exe(),
                };
                match exe {
                    Ok(exe) => {
                        let r = crate::isolate::Isolation {
                            exe: &exe,
                            project_dir: &project.dir,
                            plugin_dirs: &opts.plugin_dirs,
                            index: spec.index,
                            artifact_dir: &cx.artifact_dir,
                            timeout: spec
                                .timeout
                                .or(settings.timeout)
                                .map(std::time::Duration::from_secs_f64),
                            memory_limit_mb: spec.memory_limit_mb.or(settings.memory_limit_mb),
                        }
                        .run(&results);
                        cx.metrics = r.metrics;
                        cx.series = r.series;
                        r.outcome
                            .map_err(|e| format!("pack `{}` (isolated): {e}", pack.manifest.name))
                    }
                    Err(e) => Err(format!(
                        "cannot isolate: the art-host binary is not found: {e}"
                    )),
                }
            }
            Runnable::Pack(pack, step, _) => run_pack_step(pack, step, &mut cx, &stop),
            Runnable::Unavailable(reason) => Err(reason.clone()),
        };
        // The step's model at its end is its checkpoint: later steps start from it with
        // `init_from`, and `art-host export model` copies it out.
        let checkpoint = match (&outcome, cx.trained_session()) {
            (Ok(_), Some(session)) => save_checkpoint(&store, &cx.artifact_dir, session, model),
            _ => None,
        };
        let duration_s = step_started.elapsed().as_secs_f64();
        let metrics = std::mem::take(&mut cx.metrics);
        let series = std::mem::take(&mut cx.series);
        drop(cx);

        let (status, summary, error, extra, checks) = match outcome {
            Ok((summary, extra)) => {
                let view = view_of(&spec.id, &metrics, &series);
                let checks = evaluate_checks(&r.checks, &spec.id, &metrics, &view, &earlier_lookup);
                let status = if checks.iter().all(|c| c.passed) {
                    Status::Passed
                } else {
                    Status::Failed
                };
                (status, summary, None, extra, checks)
            }
            Err(e) => (
                Status::Error,
                String::new(),
                Some(e),
                serde_json::Value::Null,
                vec![],
            ),
        };
        let extra_for_later = extra.clone();
        let record = StepRecord {
            schema: SCHEMA,
            run_id: run_id.clone(),
            step_id: spec.id.clone(),
            uses: spec.uses.clone(),
            status,
            started_at: step_started_at,
            duration_s,
            fingerprint: fp.clone(),
            seed: project.meta.seed,
            config: config_json,
            model: model_json,
            dataset: serde_json::json!({"name": data.name, "digest": digest, "rows": data.len()}),
            metrics: metrics.clone(),
            series,
            checks: checks.clone(),
            summary: summary.clone(),
            error: error.clone(),
            host_version: env!("CARGO_PKG_VERSION").into(),
            pack: pack_rec,
            checkpoint,
            extra,
        };
        let path = store.put_step(&record);
        let mut lines = vec![match &error {
            Some(e) => format!("{} after {duration_s:.2}s: {e}", status.as_str()),
            None => format!("{} in {duration_s:.2}s: {summary}", status.as_str()),
        }];
        lines.extend(
            checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("check failed: {}: {}", c.check, c.message)),
        );
        progress::end_step(&lines);
        let path = path?;
        results.insert(
            spec.id.clone(),
            Earlier {
                metrics: metrics.clone(),
                extra: extra_for_later.clone(),
            },
        );
        if !(status.is_ok() || spec.continue_on_failure || project.meta.continue_on_failure) {
            gate_open = false;
        }
        reports.push(StepReport {
            step_id: spec.id.clone(),
            uses: spec.uses.clone(),
            status,
            duration_s,
            metrics,
            checks,
            summary,
            error,
            record: Some(path),
        });
    }

    let passed = reports.iter().all(|r| r.status.is_ok());
    let duration_s = started.elapsed().as_secs_f64();
    store.put_run(&RunRecord {
        schema: SCHEMA,
        run_id: run_id.clone(),
        project: project.meta.name.clone(),
        started_at,
        duration_s,
        steps: reports
            .iter()
            .map(|r| (r.step_id.clone(), r.status))
            .collect(),
        passed,
    })?;
    Ok(RunReport {
        run_id,
        project: project.meta.name.clone(),
        passed,
        duration_s,
        steps: reports,
        refused_packs,
        warnings,
    })
}

/// Runs a pack step in this process (panics are caught inside the pack).
fn run_pack_step(
    pack: &LoadedPack,
    step: &mut StepBox,
    cx: &mut StepCx<'_>,
    stop: &AtomicBool,
) -> Result<(String, serde_json::Value), String> {
    let mut host = HostCtx {
        cx,
        stop,
        dropped: false,
    };
    step.run(context_ref(&mut host))
        .into_result()
        .map(|o| bounded_outcome(o.summary.as_str(), o.extra_json.as_str()))
        .map_err(|e| format!("pack `{}`: {e}", pack.manifest.name))
}

/// The isolated child's work: step `index` of the project in `dir`, with earlier results given.
pub fn run_one_pack_step(
    dir: &Path,
    plugin_dirs: &[PathBuf],
    index: usize,
    artifact_dir: &Path,
    earlier: &BTreeMap<String, Earlier>,
) -> Result<crate::isolate::WorkerResult, String> {
    let project = Project::load(dir).map_err(|e| e.to_string())?;
    let packs = load_packs(dir, plugin_dirs);
    let spec = project
        .steps
        .get(index)
        .ok_or_else(|| format!("the project has no step {index}"))?;
    let mut runnable = resolve_step(&project, spec, &packs).map_err(|e| e.to_string())?;
    let (_, splits) = load_dataset(&project).map_err(|e| e.to_string())?;
    let lookup = |id: &str| earlier.get(id).cloned();
    let mut cx = StepCx::new(
        &spec.id,
        &splits,
        project.model_for(spec),
        project.meta.seed,
        artifact_dir.to_owned(),
        &lookup,
    );
    let stop = AtomicBool::new(false);
    let outcome = match &mut runnable {
        Runnable::Pack(pack, step, _) => run_pack_step(pack, step, &mut cx, &stop),
        Runnable::Unavailable(reason) => Err(reason.clone()),
        Runnable::Builtin(..) => Err("only pack steps are isolated".into()),
    };
    Ok(crate::isolate::WorkerResult {
        outcome,
        metrics: std::mem::take(&mut cx.metrics),
        series: std::mem::take(&mut cx.series),
    })
}

/// Longest summary kept from a pack (the rest is cut).
const MAX_SUMMARY: usize = 2_000;
/// Largest `extra` JSON kept from a pack.
const MAX_EXTRA: usize = 1 << 20;

/// A pack's outcome, cut to sizes the store and the summary can carry.
fn bounded_outcome(summary: &str, extra: &str) -> (String, serde_json::Value) {
    let mut s: String = summary.chars().take(MAX_SUMMARY).collect();
    if s.len() < summary.len() {
        s.push_str(&format!(" … (cut from {} bytes)", summary.len()));
    }
    let extra = if extra.len() > MAX_EXTRA {
        serde_json::json!({"dropped": format!("extra_json of {} bytes exceeds {MAX_EXTRA}", extra.len())})
    } else {
        serde_json::from_str(extra).unwrap_or(serde_json::Value::Null)
    };
    (s, extra)
}

fn view_of(
    step_id: &str,
    metrics: &BTreeMap<String, f64>,
    series: &[crate::store::SeriesRecord],
) -> StepView {
    StepView {
        step_id: step_id.into(),
        metrics: metrics
            .iter()
            .map(|(k, v)| Metric::new(k.clone(), *v))
            .collect(),
        series: series
            .iter()
            .map(|s| Series {
                name: s.name.as_str().into(),
                xs: s.xs.clone().into(),
                ys: s.ys.clone().into(),
            })
            .collect(),
    }
}

fn evaluate_checks(
    checks: &[ResolvedCheck],
    step_id: &str,
    metrics: &BTreeMap<String, f64>,
    view: &StepView,
    earlier: &dyn Fn(&str) -> Option<Earlier>,
) -> Vec<CheckRecord> {
    let resolve = |step: &str, metric: &str| -> Result<f64, String> {
        let m = earlier(step)
            .ok_or_else(|| {
                format!("@{step}.{metric}: no step `{step}` has run in this project (check its id)")
            })?
            .metrics;
        m.get(metric).copied().ok_or_else(|| {
            let have: Vec<&str> = m.keys().map(String::as_str).collect();
            format!(
                "@{step}.{metric}: step `{step}` recorded no `{metric}`{}; it recorded: {}",
                did_you_mean(metric, have.iter().copied()),
                have.join(", ")
            )
        })
    };
    checks
        .iter()
        .map(|c| match c {
            ResolvedCheck::Expr(text, e) => {
                let (passed, message) = e.evaluate(step_id, metrics, &resolve);
                CheckRecord {
                    check: text.clone(),
                    passed,
                    message,
                }
            }
            ResolvedCheck::Unavailable(text, reason) => CheckRecord {
                check: text.clone(),
                passed: false,
                message: reason.clone(),
            },
            ResolvedCheck::Pack(text, check) => {
                let r = check.evaluate(view);
                CheckRecord {
                    check: text.clone(),
                    passed: r.passed,
                    message: r.message.into_string(),
                }
            }
        })
        .collect()
}

/// Where a step's checkpoint goes, inside its artifact folder.
pub const CHECKPOINT_FILE: &str = "model.bpk";

fn save_checkpoint(
    store: &Store,
    artifact_dir: &Path,
    session: &crate::train::Session,
    model: Option<(&str, &crate::models::ModelSpec)>,
) -> Option<crate::store::CheckpointRecord> {
    use sha2::Digest;
    let bytes = match session.save_weights() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("no checkpoint saved: {e}");
            return None;
        }
    };
    let path = artifact_dir.join(CHECKPOINT_FILE);
    let written = std::fs::create_dir_all(artifact_dir)
        .and_then(|()| std::fs::write(&path, &bytes))
        .and_then(|()| std::fs::File::open(&path)?.sync_all());
    if let Err(e) = written {
        tracing::warn!("cannot write the checkpoint {}: {e}", path.display());
        return None;
    }
    let file = path
        .strip_prefix(store.root())
        .unwrap_or(&path)
        .to_string_lossy()
        .into_owned();
    Some(crate::store::CheckpointRecord {
        file,
        sha256: format!("{:x}", sha2::Sha256::digest(&bytes)),
        bytes: bytes.len() as u64,
        kind: model.map(|(_, m)| m.kind().to_owned()).unwrap_or_default(),
    })
}

/// The weights the latest passed run of `step` saved, checked against their recorded sha256,
/// with a description of where they came from.
pub fn checkpoint_of(store: &Store, step: &str) -> Result<(Vec<u8>, String), String> {
    use sha2::Digest;
    let (history, _) = store.step_history(step);
    let (rec, cp) = history
        .iter()
        .rev()
        .filter(|r| r.status.is_ok())
        .find_map(|r| r.checkpoint.as_ref().map(|c| (r, c)))
        .ok_or_else(|| {
            format!("step `{step}` has no passed run with a saved model; run it first (art-host run --only {step})")
        })?;
    let path = store.root().join(&cp.file);
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read the checkpoint {}: {e}", path.display()))?;
    let actual = format!("{:x}", sha2::Sha256::digest(&bytes));
    if actual != cp.sha256 {
        return Err(format!(
            "the checkpoint {} changed since run {} saved it (sha256 {actual}, recorded {}); rerun `{step}` with --force",
            path.display(),
            rec.run_id,
            cp.sha256
        ));
    }
    Ok((bytes, format!("@{step} (run {})", rec.run_id)))
}
