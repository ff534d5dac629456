//! Bring your own model: the library example (a burn user's own module run through the whole
//! recipe), a model pack loaded through the ABI, and checkpoints passed between steps.

use std::path::{Path, PathBuf};
use std::process::Command;

use art_e2e::{art, built, project};

use crate::HEADER;

/// Builds `host/examples/custom_model.rs` in the tests' profile and target folder.
fn example() -> PathBuf {
    let dir = &built().dir;
    let target = dir.parent().expect("target dir");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace)
        .args([
            "build",
            "-p",
            "art-host",
            "--example",
            "custom_model",
            "--target-dir",
        ])
        .arg(target);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    assert!(
        cmd.status().unwrap().success(),
        "building the example failed"
    );
    dir.join("examples/custom_model")
}

#[test]
fn the_library_example_runs_the_whole_recipe_on_its_own_model() {
    let exe = example();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("resmlp");
    let out = Command::new(&exe).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<&str> = stdout.lines().collect();
    assert_eq!(steps.len(), 11, "{stdout}");
    for l in &steps {
        assert!(l.split_whitespace().nth(1) == Some("passed"), "{l}");
    }
    // The runs are stored like any project's, with the model kind the user registered.
    let status = art(&dir, &["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let rec = std::fs::read_dir(dir.join(".art/steps/overfit"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(rec).unwrap()).unwrap();
    assert_eq!(rec["model"]["spec"]["kind"], "resmlp", "{}", rec["model"]);
    assert!(rec["metrics"]["valid.accuracy"].as_f64().unwrap() >= 0.95);
    // The built project is an ordinary art.toml: a rerun from the CLI cannot build `resmlp`
    // (only the example registers it) and says so instead of crashing.
    let rerun = art(&dir, &["run", "--force", "--only", "overfit"]);
    assert_eq!(rerun.code, 1, "{}{}", rerun.stdout, rerun.stderr);
    assert!(
        rerun.stdout.contains("unknown model kind `resmlp`"),
        "{}",
        rerun.stdout
    );
}

#[test]
fn a_model_pack_trains_in_the_recipe_steps() {
    let toml = r#"
[project]
name = "bn-cnn"
seed = 3

[data]
builtin = "digits"

[models.bn]
kind = "bn-cnn::bn-cnn"
channels = [8, 16]
hidden = 32

[[steps]]
use = "recipe::check-loss-on-init"
model = "bn"

[[steps]]
use = "recipe::init-well"
model = "bn"

[[steps]]
use = "recipe::batch-independence"
model = "bn"
continue_on_failure = true

[[steps]]
use = "recipe::overfit-one-batch"
model = "bn"

[[steps]]
use = "recipe::overfit"
model = "bn"
epochs = 8
lr = 0.003
checks = ["valid.accuracy >= 0.9"]
"#;
    let p = project(toml, &["art_pack_bn_cnn"]);
    let run = art(p.path(), &["run", "--json"]);
    let report = run.json();
    for s in [
        "check-loss-on-init",
        "init-well",
        "overfit-one-batch",
        "overfit",
    ] {
        assert_eq!(run.step(s)["status"], "passed", "{s}: {}", run.step(s));
    }
    // Batch norm in training mode mixes the samples of a batch: the backprop dependency check
    // sees gradients flow across rows and fails, as it should.
    let bi = run.step("batch-independence");
    assert_eq!(bi["status"], "failed", "{bi}");
    assert_eq!(report["passed"], false);
    let acc = run.step("overfit")["metrics"]["valid.accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc >= 0.9, "{acc}");
    let info = art(p.path(), &["plugins", "info", "bn-cnn"]);
    assert!(
        info.stdout.contains("model bn-cnn::bn-cnn (revision 1)"),
        "{}",
        info.stdout
    );

    // A kind from a pack that is not installed fails its steps with the fix, not a crash.
    let q = project(&toml.replace("bn-cnn::bn-cnn", "nope::net"), &[]);
    let run = art(q.path(), &["run", "--json"]);
    let s = run.step("check-loss-on-init");
    assert_eq!(s["status"], "error", "{s}");
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("pack `nope`, which is not loaded"),
        "{s}"
    );
}

#[test]
fn a_later_step_starts_from_the_checkpoint_of_overfit() {
    let toml = format!(
        r#"{HEADER}
[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 15
lr = 0.003
checks = ["train.loss < 0.2"]

[[steps]]
use = "recipe::overfit"
id = "finetune"
model = "mlp"
init_from = "@overfit"
epochs = 2
lr = 0.001
checks = []

[[steps]]
use = "recipe::overfit"
id = "fresh"
model = "mlp"
epochs = 2
lr = 0.001
checks = []
"#
    );
    let p = project(&toml, &[]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let record = |id: &str| -> serde_json::Value {
        let path = run.step(id)["record"].as_str().unwrap().to_owned();
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let first_loss = |r: &serde_json::Value| -> f64 {
        r["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "batch_loss")
            .unwrap()["ys"][0]
            .as_f64()
            .unwrap()
    };
    let overfit = record("overfit");
    let trained = overfit["metrics"]["train.loss"].as_f64().unwrap();
    let cp = &overfit["checkpoint"];
    let cp_path = p.path().join(".art").join(cp["file"].as_str().unwrap());
    assert!(cp_path.is_file(), "{cp}");
    // The fine-tune's very first batch is scored by the trained weights; a fresh model's by
    // its initial ones (about ln 10 = 2.30).
    let finetune = first_loss(&record("finetune"));
    let fresh = first_loss(&record("fresh"));
    assert!(
        finetune < 0.5 && finetune < trained * 10.0 + 0.2,
        "finetune starts at {finetune}, trained {trained}"
    );
    assert!(fresh > 1.5, "fresh starts at {fresh}");

    // export model copies the same bytes out.
    let out = p.path().join("overfit.bpk");
    let e = art(
        p.path(),
        &[
            "export",
            "model",
            "overfit",
            ".",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(e.code, 0, "{}{}", e.stdout, e.stderr);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&cp_path).unwrap()
    );

    // A checkpoint changed on disk is refused, naming the file and the fix.
    std::fs::write(&cp_path, b"not weights").unwrap();
    let run = art(p.path(), &["run", "--json", "--only", "finetune"]);
    let s = run.step("finetune");
    assert_eq!(s["status"], "error", "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("changed since run"),
        "{s}"
    );

    // init_from on a step that trains no model of its own is a config error with a line.
    let bad = project(
        &format!("{HEADER}\n[[steps]]\nuse = \"recipe::overfit\"\nmodel = \"mlp\"\n\n[[steps]]\nuse = \"recipe::tune\"\nmodel = \"mlp\"\ninit_from = \"@overfit\"\n"),
        &[],
    );
    let r = art(bad.path(), &["run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("init_from does not apply"),
        "{}",
        r.stderr
    );
}
