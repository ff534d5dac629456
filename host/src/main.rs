//! `art-host`: thin shell over the `art_host` library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use art_host::checks::fmt_num;
use art_host::cli::{Cli, Command, PluginsAction};
use art_host::runner::{self, RunError, RunOptions, RunReport};
use art_host::store::Status;
use art_host::{demo, recipe};
use clap::Parser;

mod ecosystem;

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match dispatch(cli.command, cli.quiet) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dir_or_cwd(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("."))
}

fn dispatch(cmd: Command, quiet: bool) -> Result<ExitCode> {
    match cmd {
        Command::Run {
            dir,
            demo,
            plugin_dirs,
            force,
            from,
            only,
            threads,
            isolate,
            json,
        } => {
            let dir = if demo {
                let d = dir.unwrap_or_else(|| PathBuf::from("art-demo"));
                let packs = demo::prepare(&d)?;
                if !json {
                    eprintln!(
                        "demo project in {} with {} pack(s) installed from beside art-host",
                        d.display(),
                        packs.len()
                    );
                }
                d
            } else {
                dir_or_cwd(dir)
            };
            run(
                &dir,
                RunOptions {
                    plugin_dirs,
                    force,
                    progress: art_host::progress::Mode::detect(quiet || json),
                    from,
                    only,
                    threads: threads.map(usize::from),
                    isolate,
                    host_exe: None,
                },
                json,
            )
        }
        Command::Status { dir, json } => status(&dir_or_cwd(dir), json),
        Command::Report { dir, out } => {
            let dir = dir_or_cwd(dir);
            let started = std::time::Instant::now();
            let bytes = art_host::report::write_report(&dir, &out)?;
            println!(
                "wrote {} ({:.0} KB) in {:.2}s",
                out.display(),
                bytes as f64 / 1024.0,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Dashboard { dir, port, bind } => {
            let dir = dir_or_cwd(dir);
            art_host::report::collect(&dir)?;
            let addr = std::net::SocketAddr::new(bind, port);
            let d =
                art_host::report::dashboard::Dashboard::bind(&dir, addr).with_context(|| {
                    format!("cannot listen on {addr}: pick another --port (0 picks a free one)")
                })?;
            if !bind.is_loopback() {
                eprintln!("warning: listening on {bind}: anyone who can reach this machine can read the runs");
            }
            println!("dashboard of {} on {}", dir.display(), d.url());
            std::io::Write::flush(&mut std::io::stdout())?;
            d.serve();
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            what: art_host::cli::ExportWhat::Model { step, dir, out },
        } => {
            let dir = dir_or_cwd(dir);
            art_host::project::Project::load(&dir)?;
            let store = art_host::store::Store::new(&dir);
            let (bytes, from) = runner::checkpoint_of(&store, &step).map_err(anyhow::Error::msg)?;
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "wrote {} ({:.1} KB): the model of {from}",
                out.display(),
                bytes.len() as f64 / 1024.0
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            what: art_host::cli::ExportWhat::Mlflow { dir, out, json },
        } => {
            let e = art_host::report::mlflow::export(&dir_or_cwd(dir), &out)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                println!(
                    "exported {} runs ({} metric values) to MLflow experiment {} in {}\nview: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {}",
                    e.runs,
                    e.metric_points,
                    e.experiment_id,
                    e.experiment_dir.display(),
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::New { name } => scaffold(art_host::scaffold::new_project(&name), &name, "project"),
        Command::NewPack { name, api_path } => scaffold(
            art_host::scaffold::new_pack(&name, api_path.as_deref()),
            &name,
            "step pack",
        ),
        Command::StepWorker {
            dir,
            index,
            artifact_dir,
            result,
            plugin_dirs,
        } => {
            art_host::isolate::worker_main(&dir, &plugin_dirs, index, &artifact_dir, &result)
                .map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { names, json } => bench(&names, json),
        Command::Steps {
            dir,
            plugin_dirs,
            json,
        } => steps(&dir_or_cwd(dir), &plugin_dirs, json),
        Command::Plugins {
            action:
                PluginsAction::List {
                    dir,
                    plugin_dirs,
                    json,
                },
        } => plugins_list(&dir_or_cwd(dir), &plugin_dirs, json),
        Command::Plugins {
            action: PluginsAction::Info { name, dir },
        } => ecosystem::info(&dir_or_cwd(dir), &name),
        Command::Plugins {
            action: PluginsAction::Verify { dir },
        } => ecosystem::verify(&dir_or_cwd(dir)),
        Command::Plugins {
            action: PluginsAction::Remove { name, dir },
        } => ecosystem::remove(&dir_or_cwd(dir), &name),
        Command::Pack { dir, lib, out } => ecosystem::pack(&dir_or_cwd(dir), lib, out),
        Command::Publish { archive, registry } => ecosystem::publish(&archive, &registry),
        Command::Install {
            spec,
            dir,
            registry,
        } => ecosystem::install(&spec, &dir_or_cwd(dir), registry.as_deref()),
        Command::Search { text, registry } => {
            ecosystem::search(text.as_deref().unwrap_or(""), &registry)
        }
    }
}

fn run(dir: &Path, opts: RunOptions, json: bool) -> Result<ExitCode> {
    let report = match runner::run_project(dir, &opts) {
        Ok(r) => r,
        Err(e @ (RunError::Project(_) | RunError::Selection(_) | RunError::Locked(_))) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("running the project in {}", dir.display()))
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Metrics worth a column in the summary, in order of preference.
const HEADLINE: [&str; 10] = [
    "valid.accuracy",
    "train.loss",
    "init.loss",
    "input.gain",
    "batch.cross_grad",
    "lr.suggested",
    "squeeze.gain",
    "data.leakage",
    "train.accuracy",
    "stress.value",
];

fn print_summary(r: &RunReport) {
    for p in &r.refused_packs {
        eprintln!("refused pack {}: {}", p.path.display(), p.reason);
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    println!();
    println!(
        "{:<26} {:<36} {:<8} {:>8}  {:<44} checks",
        "step", "uses", "status", "time", "metrics"
    );
    for s in &r.steps {
        let metrics: Vec<String> = HEADLINE
            .iter()
            .filter_map(|k| s.metrics.get(*k).map(|v| format!("{k}={}", fmt_num(*v))))
            .take(2)
            .collect();
        let passed = s.checks.iter().filter(|c| c.passed).count();
        println!(
            "{:<26} {:<36} {:<8} {:>7.2}s  {:<44} {}/{}",
            s.step_id,
            s.uses,
            s.status.as_str(),
            s.duration_s,
            metrics.join(" "),
            passed,
            s.checks.len()
        );
        if let Some(e) = &s.error {
            println!("    error: {e}");
        }
        for c in s.checks.iter().filter(|c| !c.passed) {
            println!("    failed check `{}`: {}", c.check, c.message);
        }
    }
    let cached = r
        .steps
        .iter()
        .filter(|s| s.status == Status::Cached)
        .count();
    if cached > 0 {
        println!(
            "\n{cached} step(s) cached: a stored run has the same fingerprint and still passes today's checks (--force reruns)"
        );
    }
    println!();
    println!(
        "run {} of {}: {} in {:.1}s",
        r.run_id,
        r.project,
        if r.passed {
            "all gates passed"
        } else {
            "a gate FAILED"
        },
        r.duration_s
    );
}

fn scaffold(
    r: Result<Vec<PathBuf>, art_host::scaffold::ScaffoldError>,
    dir: &Path,
    what: &str,
) -> Result<ExitCode> {
    match r {
        Ok(files) => {
            println!("created {what} in {}:", dir.display());
            for f in files {
                println!("  {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn bench(names: &[String], json: bool) -> Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build of art-host; benchmark a release build (cargo build --release)");
    }
    let figures = art_host::bench::run(names).map_err(anyhow::Error::msg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "{:<18} {:<66} {:>12} {:<10} {:<10} ok",
            "bench", "what", "value", "unit", "target"
        );
        for f in &figures {
            println!(
                "{:<18} {:<66} {:>12} {:<10} {:<10} {}",
                f.bench,
                f.what,
                if f.value.abs() >= 1000.0 {
                    format!("{:.0}", f.value)
                } else {
                    format!("{:.3}", f.value)
                },
                f.unit,
                f.target,
                match f.ok {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                }
            );
        }
    }
    Ok(if figures.iter().all(|f| f.ok != Some(false)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status(dir: &Path, json: bool) -> Result<ExitCode> {
    let st = match art_host::status::read(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<26} {:<36} {:<8} {:<21} {:<44}",
        "step", "uses", "status", "when", "metrics"
    );
    for s in &st.steps {
        let metrics: Vec<String> = HEADLINE
            .iter()
            .filter_map(|k| s.metrics.get(*k).map(|v| format!("{k}={}", fmt_num(*v))))
            .take(2)
            .collect();
        println!(
            "{:<26} {:<36} {:<8} {:<21} {:<44}",
            s.step_id,
            s.uses,
            s.status.map_or("never run", |x| x.as_str()),
            s.started_at.as_deref().unwrap_or("-"),
            metrics.join(" ")
        );
    }
    for u in &st.unreadable {
        eprintln!("warning: unreadable run file {}: {}", u.0.display(), u.1);
    }
    Ok(ExitCode::SUCCESS)
}

fn steps(dir: &Path, extra: &[PathBuf], json: bool) -> Result<ExitCode> {
    let packs = runner::load_packs(dir, extra);
    let mut rows: Vec<(String, &str, String)> = recipe::builtins()
        .iter()
        .map(|b| (format!("recipe::{}", b.name), "step", b.summary.to_owned()))
        .collect();
    for p in &packs.loaded {
        for s in &p.manifest.steps {
            rows.push((
                format!("{}::{}", p.manifest.name, s.name),
                "step",
                s.summary.clone(),
            ));
        }
        for c in &p.manifest.checks {
            rows.push((
                format!("{}::{}", p.manifest.name, c.name),
                "check",
                c.summary.clone(),
            ));
        }
    }
    rows.push((
        "<metric> <op> <value>".into(),
        "check",
        "Expression: <, <=, >, >=, ==, !=, ~= value ± tol[%]; value may be @step.metric".into(),
    ));
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(n, k, s)| serde_json::json!({"name": n, "kind": k, "summary": s}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (n, k, s) in &rows {
            println!("{n:<34} {k:<6} {s}");
        }
    }
    for r in &packs.refused {
        eprintln!("refused pack {}: {}", r.path.display(), r.error);
    }
    Ok(ExitCode::SUCCESS)
}

fn plugins_list(dir: &Path, extra: &[PathBuf], json: bool) -> Result<ExitCode> {
    let packs = runner::load_packs(dir, extra);
    if json {
        let loaded: Vec<_> = packs
            .loaded
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.manifest.name, "version": p.manifest.version,
                    "api_version": p.manifest.api_version, "path": p.path, "sha256": p.sha256,
                    "steps": p.manifest.steps.iter().map(|s| &s.name).collect::<Vec<_>>(),
                    "checks": p.manifest.checks.iter().map(|s| &s.name).collect::<Vec<_>>(),
                    "models": p.manifest.models.iter().map(|s| &s.name).collect::<Vec<_>>(),
                })
            })
            .collect();
        let refused: Vec<_> = packs
            .refused
            .iter()
            .map(|r| serde_json::json!({"path": r.path, "status": r.error.status(), "reason": r.error.to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"loaded": loaded, "refused": refused})
            )?
        );
    } else {
        if packs.loaded.is_empty() && packs.refused.is_empty() {
            println!(
                "no packs in {}",
                runner::plugin_dirs(dir, extra)
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for p in &packs.loaded {
            let names = |items: &[art_plugin_api::ItemInfo]| {
                items
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let models = if p.manifest.models.is_empty() {
                String::new()
            } else {
                format!("; models: {}", names(&p.manifest.models))
            };
            println!(
                "{:<16} {:<8} api {:<7} ok  steps: {}; checks: {}{models}  ({})",
                p.manifest.name,
                p.manifest.version,
                p.manifest.api_version,
                names(&p.manifest.steps),
                names(&p.manifest.checks),
                p.path.display()
            );
        }
        for r in &packs.refused {
            println!(
                "REFUSED ({}) {}: {}",
                r.error.status(),
                r.path.display(),
                r.error
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
