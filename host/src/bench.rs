//! `art-host bench`: the performance figures, each printed with its ratio or target and
//! measured against a baseline in the same run. Run it from a release build.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::data::{self, Dataset, Splits};
use crate::models::net::{Arch, NetConfig};
use crate::train::{Session, TrainSpec};

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Benchmark.
    pub bench: &'static str,
    /// What was measured.
    pub what: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The target, as text (`>= 95 %`), if there is one.
    pub target: String,
    /// Whether the target holds (`None`: no target).
    pub ok: Option<bool>,
}

fn fig(
    bench: &'static str,
    what: impl Into<String>,
    value: f64,
    unit: &'static str,
    target: &str,
    ok: Option<bool>,
) -> Figure {
    Figure {
        bench,
        what: what.into(),
        value,
        unit,
        target: target.to_owned(),
        ok,
    }
}

/// The minimal hand-written burn loop the host loop is compared with: same model, data,
/// batch size, optimiser and backend, nothing else.
#[derive(Module, Debug)]
struct RawMlp {
    a: Linear,
    b: Linear,
}

fn raw_loop(
    train: &Dataset,
    valid: Option<&Dataset>,
    epochs: usize,
    batch: usize,
    seed: u64,
) -> f64 {
    raw_loop_valid(Device::flex().autodiff(), train, valid, epochs, batch, seed)
}

fn raw_loop_on(device: Device, train: &Dataset, epochs: usize, batch: usize, seed: u64) -> f64 {
    raw_loop_valid(device, train, None, epochs, batch, seed)
}

/// The raw loop; with `valid`, it also computes validation accuracy after every epoch, the
/// same work `overfit` does, so the two can be compared like for like.
fn raw_loop_valid(
    device: Device,
    train: &Dataset,
    valid: Option<&Dataset>,
    epochs: usize,
    batch: usize,
    seed: u64,
) -> f64 {
    device.seed(seed);
    let mut model = RawMlp {
        a: LinearConfig::new(train.num_features, 128).init(&device),
        b: LinearConfig::new(128, train.num_classes).init(&device),
    };
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLoss::new(None, &device);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut samples = 0usize;
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(batch) {
            let mut x = Vec::with_capacity(chunk.len() * train.num_features);
            let mut y = Vec::with_capacity(chunk.len());
            for &i in chunk {
                x.extend_from_slice(train.row(i));
                y.push(i64::from(train.labels[i]));
            }
            let x = Tensor::<2>::from_data(
                TensorData::new(x, [chunk.len(), train.num_features]),
                &device,
            );
            let y = Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), &device);
            let logits = model.b.forward(relu(model.a.forward(x)));
            let loss = loss_fn.forward(logits, y);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
            samples += chunk.len();
        }
        if let Some(v) = valid {
            let m = model.valid();
            let x = Tensor::<2>::from_data(
                TensorData::new(v.features.clone(), [v.len(), v.num_features]),
                &device.clone().inner(),
            );
            let pred: Vec<i64> =
                m.b.forward(relu(m.a.forward(x)))
                    .argmax(1)
                    .into_data()
                    .iter::<i64>()
                    .collect();
            let correct = pred
                .iter()
                .zip(&v.labels)
                .filter(|(p, l)| **p == i64::from(**l))
                .count();
            std::hint::black_box(correct);
        }
    }
    samples as f64 / started.elapsed().as_secs_f64()
}

fn host_loop(
    splits: &Splits,
    epochs: usize,
    batch: usize,
    seed: u64,
    with_valid: bool,
) -> Result<f64, String> {
    let net = NetConfig::mlp(vec![128], 0.0);
    let mut s = Session::new(
        &net,
        splits.train.num_features,
        splits.train.num_classes,
        seed,
    )?;
    let spec = TrainSpec {
        epochs,
        lr: 1e-3,
        batch_size: batch,
        ..TrainSpec::default()
    };
    // "As overfit runs it" includes the train-accuracy curve overfit records.
    s.track_train_accuracy(with_valid);
    let started = Instant::now();
    let r = s.fit(
        &splits.train,
        with_valid.then_some(&splits.valid),
        &spec,
        seed,
        |_, _| true,
    )?;
    Ok(r.samples as f64 / started.elapsed().as_secs_f64())
}

fn train_throughput(out: &mut Vec<Figure>) -> Result<(), String> {
    let digits = Dataset::digits().map_err(|e| e.to_string())?;
    let splits = data::split(&digits, 0.2, 0).map_err(|e| e.to_string())?;
    let (epochs, batch) = (30, 64);
    // Warm up both, then alternate three rounds and keep each side's best.
    raw_loop(&splits.train, None, 2, batch, 0);
    host_loop(&splits, 2, batch, 0, false)?;
    let (mut raw, mut host, mut raw_valid, mut host_valid) = (0f64, 0f64, 0f64, 0f64);
    for round in 0..3 {
        raw = raw.max(raw_loop(&splits.train, None, epochs, batch, round));
        host = host.max(host_loop(&splits, epochs, batch, round, false)?);
        raw_valid = raw_valid.max(raw_loop(
            &splits.train,
            Some(&splits.valid),
            epochs,
            batch,
            round,
        ));
        host_valid = host_valid.max(host_loop(&splits, epochs, batch, round, true)?);
    }
    out.push(fig(
        "train_throughput",
        "raw burn loop (flex, MLP 64-128-10, batch 64, Adam)",
        raw,
        "samples/s",
        "",
        None,
    ));
    out.push(fig(
        "train_throughput",
        "host loop (Session::fit)",
        host,
        "samples/s",
        "",
        None,
    ));
    let ratio = host / raw * 100.0;
    out.push(fig(
        "train_throughput",
        "host / raw",
        ratio,
        "%",
        ">= 95 %",
        Some(ratio >= 95.0),
    ));
    let ratio_v = host_valid / raw_valid * 100.0;
    out.push(fig(
        "train_throughput",
        "with per-epoch validation, as overfit runs it: host / raw",
        ratio_v,
        "%",
        ">= 95 %",
        Some(ratio_v >= 95.0),
    ));
    Ok(())
}

fn pack_load(out: &mut Vec<Figure>) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // Step packs are the common case and depend on the API crate alone; a model pack carries
    // its own burn (several MB to hash and relocate) and is measured on its own below.
    let mut libs = crate::demo::packs_beside(&exe);
    libs.sort_by_key(|p| std::fs::metadata(p).map_or(u64::MAX, |m| m.len()));
    let biggest = libs.last().cloned();
    let Some(lib) = libs.first().cloned() else {
        out.push(fig(
            "pack_load",
            "no pack built beside art-host (cargo build --release)",
            f64::NAN,
            "",
            "",
            None,
        ));
        return Ok(());
    };
    let copies = |n: usize| -> Result<tempfile::TempDir, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for i in 0..n {
            let name = format!(
                "{}copy{i}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            );
            std::fs::copy(&lib, dir.path().join(name)).map_err(|e| e.to_string())?;
        }
        Ok(dir)
    };
    let (one, twenty) = (copies(1)?, copies(20)?);
    // Discovery, sha256, manifest probe, semver gate, abi_stable layout check and init.
    // Every copy is a separate file, so each is really loaded (same-name copies are then
    // refused as duplicates, after the full load).
    let t = Instant::now();
    let set = crate::packs::PackSet::load_dirs(&[one.path().to_owned()]);
    let first = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let set20 = crate::packs::PackSet::load_dirs(&[twenty.path().to_owned()]);
    let all = t.elapsed().as_secs_f64() * 1e3;
    if set.loaded.len() != 1 || set20.loaded.len() + set20.refused.len() != 20 {
        return Err("pack_load: the copies did not load".into());
    }
    out.push(fig(
        "pack_load",
        "1 pack (discover, sha256, probe, semver, layout check, init)",
        first,
        "ms",
        "<= 5 ms",
        Some(first <= 5.0),
    ));
    out.push(fig(
        "pack_load",
        "20 packs",
        all,
        "ms",
        "<= 100 ms",
        Some(all <= 100.0),
    ));
    if let Some(big) = biggest.filter(|b| *b != lib) {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let name = big.file_name().unwrap_or_default();
        std::fs::copy(&big, dir.path().join(name)).map_err(|e| e.to_string())?;
        let mb = std::fs::metadata(&big).map_or(0.0, |m| m.len() as f64 / 1e6);
        let t = Instant::now();
        let set = crate::packs::PackSet::load_dirs(&[dir.path().to_owned()]);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if set.loaded.len() == 1 {
            out.push(fig(
                "pack_load",
                format!(
                    "1 model pack with burn inside ({}, {mb:.1} MB)",
                    name.to_string_lossy()
                ),
                ms,
                "ms",
                "",
                None,
            ));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn children_max_rss_mb() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

#[cfg(not(unix))]
fn children_max_rss_mb() -> f64 {
    f64::NAN
}

fn recipe_digits(out: &mut Vec<Figure>) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let run = |args: &[&str]| -> Result<f64, String> {
        let t = Instant::now();
        let o = Command::new(&exe)
            .args(args)
            .current_dir(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!(
                "art-host {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let cold = run(&["run", "--demo", "--json"])?;
    let rss = children_max_rss_mb();
    let mut rerun = f64::INFINITY;
    for _ in 0..5 {
        rerun = rerun.min(run(&["run", "art-demo", "--json"])?);
    }
    out.push(fig(
        "recipe_digits",
        "full default recipe, cold (art-host run --demo)",
        cold,
        "s",
        "<= 2 s",
        Some(cold <= 2.0),
    ));
    out.push(fig(
        "recipe_digits",
        "peak RSS",
        rss,
        "MB",
        "<= 100 MB",
        Some(rss <= 100.0),
    ));
    out.push(fig(
        "recipe_digits",
        "rerun, every step skipped (best of 5)",
        rerun * 1e3,
        "ms",
        "<= 50 ms",
        Some(rerun <= 0.05),
    ));
    Ok(())
}

fn step_overhead(out: &mut Vec<Figure>) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let n = 50;
    let mut toml = String::from("[project]\nname = \"overhead\"\n");
    for i in 0..n {
        toml.push_str(&format!(
            "\n[[steps]]\nid = \"s{i}\"\nuse = \"recipe::evaluate-baseline\"\nbaselines = [\"majority\"]\nchecks = [\"valid.accuracy >= 0\"]\n"
        ));
    }
    std::fs::write(dir.path().join("art.toml"), toml).map_err(|e| e.to_string())?;
    let opts = crate::runner::RunOptions::default();
    let t = Instant::now();
    let r = crate::runner::run_project(dir.path(), &opts).map_err(|e| e.to_string())?;
    let wall = t.elapsed().as_secs_f64();
    let inside: f64 = r.steps.iter().map(|s| s.duration_s).sum();
    // Subtract what every run pays once (project parse, data load and split).
    let t = Instant::now();
    let p = crate::project::Project::load(dir.path()).map_err(|e| e.to_string())?;
    data::load(&p.data, dir.path(), p.meta.seed).map_err(|e| e.to_string())?;
    let fixed = t.elapsed().as_secs_f64();
    let per_step = (wall - inside - fixed) / n as f64 * 1e3;
    out.push(fig(
        "step_overhead",
        format!("per step: fingerprint + store write with fsync + checks ({n} steps)"),
        per_step,
        "ms",
        "<= 5 ms",
        Some(per_step <= 5.0),
    ));
    Ok(())
}

/// Fashion-MNIST from `../shared/data/fashion-mnist` or Debian's `dataset-fashion-mnist`.
fn fashion_mnist() -> Option<(PathBuf, PathBuf)> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("ART_FASHION_MNIST")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from("../shared/data/fashion-mnist"));
    // From target/release/art-host up to the checkout, then beside it.
    if let Some(repo) = std::env::current_exe()
        .ok()
        .and_then(|e| e.ancestors().nth(3).map(PathBuf::from))
    {
        candidates.push(repo.join("../shared/data/fashion-mnist"));
    }
    candidates.push(PathBuf::from("/usr/share/datasets/fashion-mnist"));
    candidates.into_iter().find_map(|d| {
        let (i, l) = (
            d.join("train-images-idx3-ubyte.gz"),
            d.join("train-labels-idx1-ubyte.gz"),
        );
        (i.exists() && l.exists()).then_some((i, l))
    })
}

fn scale(out: &mut Vec<Figure>) -> Result<(), String> {
    let Some((images, labels)) = fashion_mnist() else {
        out.push(fig(
            "scale",
            "Fashion-MNIST not found (../shared/data/fashion-mnist or apt-get install dataset-fashion-mnist)",
            f64::NAN,
            "",
            "",
            None,
        ));
        return Ok(());
    };
    let all = data::from_idx(&images, &labels, 1.0 / 255.0).map_err(|e| e.to_string())?;
    let net = NetConfig {
        arch: Arch::Cnn {
            channels: vec![8, 16],
            hidden: 64,
        },
        ..NetConfig::mlp(vec![], 0.0)
    };
    let spec = TrainSpec {
        epochs: 1,
        lr: 1e-3,
        batch_size: 64,
        ..TrainSpec::default()
    };
    let mut per_sample = Vec::new();
    for n in [10_000usize, 20_000, 40_000, 60_000] {
        let d = all.subset(&(0..n.min(all.len())).collect::<Vec<_>>());
        let mut s = Session::new(&net, d.num_features, d.num_classes, 0)?;
        let t = Instant::now();
        s.fit(&d, None, &spec, 0, |_, _| true)?;
        let secs = t.elapsed().as_secs_f64();
        per_sample.push(secs / n as f64 * 1e6);
        out.push(fig(
            "scale",
            format!("cnn epoch on {n} Fashion-MNIST images"),
            secs,
            "s",
            "",
            None,
        ));
    }
    let ratio = per_sample[3] / per_sample[0];
    out.push(fig(
        "scale",
        "per-sample epoch time at 60k / at 10k",
        ratio,
        "x",
        "<= 1.15",
        Some(ratio <= 1.15),
    ));
    Ok(())
}

/// The CPU backends compared on the recipe's shapes. `ndarray` is only there when art-host is
/// built with `--features bench-backends` (it costs build time nobody else needs).
fn backends(out: &mut Vec<Figure>) -> Result<(), String> {
    let digits = Dataset::digits().map_err(|e| e.to_string())?;
    let splits = data::split(&digits, 0.2, 0).map_err(|e| e.to_string())?;
    #[allow(unused_mut)]
    let mut candidates: Vec<(&str, Device)> = vec![("flex", Device::flex())];
    #[cfg(feature = "bench-backends")]
    candidates.push(("ndarray", Device::ndarray()));
    let mut base = None;
    for (name, device) in candidates {
        for batch in [64usize, 1024] {
            raw_loop_on(device.clone().autodiff(), &splits.train, 1, batch, 0);
            let best = (0..3)
                .map(|r| raw_loop_on(device.clone().autodiff(), &splits.train, 10, batch, r))
                .fold(0f64, f64::max);
            let base = *base.get_or_insert(best);
            out.push(fig(
                "backends",
                format!("{name}: MLP 64-128-10, batch {batch}"),
                best,
                "samples/s",
                "",
                None,
            ));
            out.push(fig(
                "backends",
                format!("{name}, batch {batch} / flex, batch 64"),
                best / base * 100.0,
                "%",
                "",
                None,
            ));
        }
    }
    #[cfg(not(feature = "bench-backends"))]
    out.push(fig(
        "backends",
        "ndarray: rebuild with --features bench-backends to compare",
        f64::NAN,
        "",
        "",
        None,
    ));
    Ok(())
}

/// Every benchmark, by name.
pub const BENCHES: [&str; 6] = [
    "train_throughput",
    "pack_load",
    "recipe_digits",
    "step_overhead",
    "scale",
    "backends",
];

/// Runs the named benchmarks (all when empty) and returns their figures.
pub fn run(only: &[String]) -> Result<Vec<Figure>, String> {
    if let Some(bad) = only.iter().find(|o| !BENCHES.contains(&o.as_str())) {
        return Err(format!(
            "unknown benchmark `{bad}`{}; benchmarks: {}",
            crate::project::did_you_mean(bad, BENCHES),
            BENCHES.join(", ")
        ));
    }
    let mut out = Vec::new();
    for b in BENCHES {
        if !only.is_empty() && !only.iter().any(|o| o == b) {
            continue;
        }
        eprintln!("bench {b} ...");
        match b {
            "train_throughput" => train_throughput(&mut out)?,
            "pack_load" => pack_load(&mut out)?,
            "recipe_digits" => recipe_digits(&mut out)?,
            "step_overhead" => step_overhead(&mut out)?,
            "backends" => backends(&mut out)?,
            _ => scale(&mut out)?,
        }
    }
    Ok(out)
}
