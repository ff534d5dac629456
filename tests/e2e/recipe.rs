//! The whole recipe: deliberate bugs caught by the right gate, reproducibility, skipping what
//! passed, `status`, and a CNN on real MNIST.

use std::path::Path;

use art_e2e::{art, project, Run};

use crate::HEADER;

/// Runs a one-model project and returns the report.
fn run_steps(header: &str, steps: &str) -> (tempfile::TempDir, Run) {
    let p = project(&format!("{header}{steps}"), &[]);
    let run = art(p.path(), &["run", "--json"]);
    (p, run)
}

fn failed_checks(run: &Run, step: &str) -> Vec<String> {
    run.step(step)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| {
            format!(
                "{}: {}",
                c["check"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_badly_scaled_init_fails_check_loss_on_init() {
    let header = HEADER.replace("hidden = [32]", "hidden = [32]\ninit_scale = 30.0");
    let (_p, run) = run_steps(
        &header,
        "\n[[steps]]\nuse = \"recipe::check-loss-on-init\"\nmodel = \"mlp\"\n",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.step("check-loss-on-init")["status"], "failed");
    let f = failed_checks(&run, "check-loss-on-init");
    assert!(
        f[0].contains("init.loss") && f[0].contains("outside"),
        "{f:?}"
    );
}

#[test]
fn a_learning_rate_of_zero_fails_overfit_one_batch() {
    let (_p, run) = run_steps(
        HEADER,
        "\n[[steps]]\nuse = \"recipe::overfit-one-batch\"\nmodel = \"mlp\"\nlr = 0.0\n",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = failed_checks(&run, "overfit-one-batch");
    assert!(
        f.iter().any(|c| c.starts_with("train.loss < 0.05")),
        "{f:?}"
    );
}

#[test]
fn a_model_that_mixes_the_batch_fails_batch_independence() {
    let header = HEADER.replace("hidden = [32]", "hidden = [32]\nbatch_norm = true");
    let steps = "\n[[steps]]\nuse = \"recipe::batch-independence\"\nmodel = \"mlp\"\n";
    let (_p, run) = run_steps(&header, steps);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = failed_checks(&run, "batch-independence");
    assert!(f[0].starts_with("batch.cross_grad <= 1e-9"), "{f:?}");
    // The same model without batch norm passes.
    let (_p, ok) = run_steps(HEADER, steps);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert_eq!(
        ok.step("batch-independence")["metrics"]["batch.cross_grad"],
        0.0
    );
}

#[test]
fn shuffled_labels_pass_overfit_on_train_and_fail_on_valid() {
    let header = HEADER
        .replace(
            "builtin = \"digits\"",
            "builtin = \"digits\"\nshuffle_labels = true",
        )
        .replace("hidden = [32]", "hidden = [1024]");
    let steps = r#"
[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 80
lr = 0.002
checks = ["train.accuracy >= 0.9", "valid.accuracy >= 0.5"]
"#;
    let (_p, run) = run_steps(&header, steps);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let checks = run.step("overfit")["checks"].as_array().unwrap().clone();
    assert_eq!(
        checks[0]["passed"], true,
        "memorising random labels: {}",
        checks[0]
    );
    assert_eq!(checks[1]["passed"], false, "{}", checks[1]);
}

const SMALL_RECIPE: &str = r#"
[[steps]]
use = "recipe::data-analysis"

[[steps]]
use = "recipe::overfit-one-batch"
model = "mlp"
iterations = 50
checks = ["train.loss < 1"]

[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 3
checks = ["train.accuracy > 0.5"]

[[steps]]
use = "recipe::tune"
model = "mlp"
trials = 2
epochs = 2
space = { lr = [0.003, 0.01] }
checks = ["valid.accuracy > 0.5"]

[[steps]]
use = "recipe::squeeze"
model = "mlp"
seeds = 2
epochs = 2
"#;

fn stored_metrics(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for step in [
        "data-analysis",
        "overfit-one-batch",
        "overfit",
        "tune",
        "squeeze",
    ] {
        let folder = dir.join(".art/steps").join(step);
        for e in std::fs::read_dir(folder).unwrap().flatten() {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            out.push((step.to_owned(), v["metrics"].to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_twice_gives_bit_identical_stored_metrics() {
    let (a, ra) = run_steps(HEADER, SMALL_RECIPE);
    let (b, rb) = run_steps(HEADER, SMALL_RECIPE);
    assert_eq!((ra.code, rb.code), (0, 0), "{}\n{}", ra.stdout, ra.stderr);
    let (ma, mb) = (stored_metrics(a.path()), stored_metrics(b.path()));
    assert_eq!(ma.len(), 5);
    assert_eq!(ma, mb);
    let (_c, rc) = run_steps(&HEADER.replace("seed = 7", "seed = 8"), SMALL_RECIPE);
    assert_ne!(rc.step("overfit")["metrics"], ra.step("overfit")["metrics"]);
}

fn statuses(run: &Run) -> Vec<String> {
    run.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn reruns_skip_what_passed_and_redo_a_changed_step_and_what_follows() {
    let p = project(&format!("{HEADER}{SMALL_RECIPE}"), &[]);
    let first = art(p.path(), &["run", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(statuses(&first), ["passed"; 5]);

    let second = art(p.path(), &["run", "--json"]);
    assert_eq!(statuses(&second), ["cached"; 5]);
    assert!(second.step("overfit")["summary"]
        .as_str()
        .unwrap()
        .starts_with("skipped: passed in run"));

    // A config change reruns that step and everything after it, nothing before.
    let changed = format!("{HEADER}{SMALL_RECIPE}").replace("epochs = 3", "epochs = 4");
    std::fs::write(p.path().join("art.toml"), &changed).unwrap();
    let third = art(p.path(), &["run", "--json"]);
    assert_eq!(
        statuses(&third),
        ["cached", "cached", "passed", "passed", "passed"]
    );

    // Loosening a threshold keeps the stored run; tightening past it reruns the step.
    std::fs::write(
        p.path().join("art.toml"),
        changed.replace("train.accuracy > 0.5", "train.accuracy > 0.1"),
    )
    .unwrap();
    assert_eq!(statuses(&art(p.path(), &["run", "--json"])), ["cached"; 5]);
    std::fs::write(
        p.path().join("art.toml"),
        changed.replace("train.accuracy > 0.5", "train.accuracy > 0.99999"),
    )
    .unwrap();
    let tight = art(p.path(), &["run", "--json"]);
    assert_eq!(statuses(&tight)[..3], ["cached", "cached", "failed"]);
    assert!(
        failed_checks(&tight, "overfit")[0].contains("not > 0.99999"),
        "{}",
        tight.stdout
    );

    // --only and --from pick what runs; unknown ids are refused with a suggestion.
    std::fs::write(p.path().join("art.toml"), &changed).unwrap();
    let only = art(p.path(), &["run", "--json", "--only", "overfit"]);
    assert_eq!(
        statuses(&only),
        ["skipped", "skipped", "passed", "skipped", "skipped"]
    );
    let from = art(p.path(), &["run", "--json", "--from", "tune"]);
    assert_eq!(
        statuses(&from),
        ["skipped", "skipped", "skipped", "passed", "passed"]
    );
    let bad = art(p.path(), &["run", "--only", "overfitt"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("did you mean `overfit`"),
        "{}",
        bad.stderr
    );

    // status reads the store alone and lists every step.
    let status = art(p.path(), &["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let steps = status.json()["steps"].as_array().unwrap().clone();
    let ids: Vec<&str> = steps
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "data-analysis",
            "overfit-one-batch",
            "overfit",
            "tune",
            "squeeze"
        ]
    );
    assert!(steps.iter().all(|s| s["runs"].as_u64().unwrap() >= 1));
    let table = art(p.path(), &["status"]);
    assert!(
        table.stdout.contains("overfit-one-batch"),
        "{}",
        table.stdout
    );
}

#[test]
fn regularize_and_tune_never_train_a_config_twice() {
    let steps = r#"
[[steps]]
use = "recipe::regularize"
model = "mlp"
epochs = 2
configs = [{ dropout = 0.1 }, { weight_decay = 0.001 }, { dropout = 0.1 }]
checks = ["trials.total == 2", "trials.duplicates == 1"]
"#;
    let p = project(&format!("{HEADER}{steps}"), &[]);
    let first = art(p.path(), &["run", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(first.step("regularize")["metrics"]["trials.cached"], 0.0);
    // A new list that repeats an old config reuses its stored trial.
    let more = format!("{HEADER}{steps}").replace("{ dropout = 0.1 }]", "{ dropout = 0.3 }]");
    std::fs::write(
        p.path().join("art.toml"),
        more.replace("trials.total == 2", "trials.total == 3")
            .replace("trials.duplicates == 1", "trials.duplicates == 0"),
    )
    .unwrap();
    let second = art(p.path(), &["run", "--json"]);
    assert_eq!(second.code, 0, "{}", second.stdout);
    assert_eq!(second.step("regularize")["metrics"]["trials.cached"], 2.0);
}

#[test]
fn a_cnn_passes_the_recipe_on_real_mnist() {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist_5k.csv.gz");
    let toml = format!(
        r#"
[project]
name = "mnist-cnn"
seed = 3

[data]
csv = "{}"
scale = 0.00392156862
max_rows = 2000

[models.cnn]
kind = "cnn"
channels = [8]
hidden = 32

[[steps]]
use = "recipe::data-analysis"
checks = ["data.num_features == 784", "data.leakage == 0"]

[[steps]]
id = "baseline"
use = "recipe::evaluate-baseline"

[[steps]]
use = "recipe::input-independent-baseline"
epochs = 2

[[steps]]
use = "recipe::check-loss-on-init"

[[steps]]
use = "recipe::init-well"

[[steps]]
use = "recipe::batch-independence"

[[steps]]
use = "recipe::overfit-one-batch"
iterations = 150
lr = 0.003

[[steps]]
use = "recipe::overfit"
epochs = 6
checks = ["train.accuracy >= 0.9", "valid.accuracy > @baseline.valid.accuracy"]

[[steps]]
use = "recipe::regularize"
epochs = 4
configs = [{{ augment_shift = 1 }}, {{ dropout = 0.2 }}]
checks = ["valid.accuracy >= 0.85"]

[[steps]]
use = "recipe::tune"
from = "regularize"
epochs = 4
trials = 2
space = {{ lr = [0.003, 0.006] }}
checks = ["valid.accuracy >= 0.85"]

[[steps]]
use = "recipe::squeeze"
seeds = 2
epochs = 4
checks = ["valid.accuracy >= 0.85"]
"#,
        csv.display()
    );
    let p = project(&toml, &[]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let png = std::fs::read_dir(p.path().join(".art/artifacts/data-analysis"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("samples.png");
    assert_eq!(&std::fs::read(png).unwrap()[..4], b"\x89PNG");
}
