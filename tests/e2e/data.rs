//! Your own data: a real MNIST subset read from CSV, and clear errors for broken files.

use std::path::Path;

use art_e2e::{art, project};

fn mnist() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/mnist_5k.csv.gz")
        .display()
        .to_string()
}

#[test]
fn a_real_mnist_subset_from_csv_trains_past_its_baselines() {
    let toml = format!(
        r#"
[project]
name = "mnist"
seed = 1

[data]
csv = "{}"
scale = 0.00392156862
valid_ratio = 0.2

[models.mlp]
kind = "mlp"
hidden = [64]

[[steps]]
use = "recipe::data-analysis"
checks = ["data.num_features == 784", "data.num_classes == 10", "data.train_size == 4000"]

[[steps]]
id = "baseline"
use = "recipe::evaluate-baseline"

[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 4
checks = ["valid.accuracy >= 0.85", "valid.accuracy > @baseline.valid.accuracy"]
"#,
        mnist()
    );
    let p = project(&toml, &[]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let base = run.step("baseline")["metrics"]["prototype.valid.accuracy"]
        .as_f64()
        .unwrap();
    assert!(base > 0.7, "nearest centroid on MNIST is ~0.8, got {base}");
}

#[test]
fn a_broken_csv_is_reported_with_its_line() {
    let p = project(
        "[project]\nname = \"bad\"\n[data]\ncsv = \"d.csv\"\n[[steps]]\nuse = \"data-analysis\"\n",
        &[],
    );
    std::fs::write(p.path().join("d.csv"), "1,2,0\n3,4,1\n5,x,1\n").unwrap();
    let run = art(p.path(), &["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("d.csv, line 3: column 2: `x` is not a number"),
        "{}",
        run.stderr
    );
    assert!(
        !p.path().join(".art").exists(),
        "nothing may be stored for a run that never started"
    );
}

#[test]
fn steps_lists_builtins_and_pack_steps() {
    let p = project("[project]\nname = \"x\"\n", &["art_pack_lr_tools"]);
    let run = art(p.path(), &["steps"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in [
        "recipe::data-analysis",
        "recipe::evaluate-baseline",
        "recipe::check-loss-on-init",
        "recipe::overfit-one-batch",
        "recipe::overfit",
        "lr-tools::lr-range-test",
        "lr-tools::loss-decreased",
    ] {
        assert!(
            run.stdout.contains(name),
            "{name} missing from:\n{}",
            run.stdout
        );
    }
}

#[test]
fn bench_refuses_unknown_benchmarks_with_a_suggestion() {
    let p = project("[project]\nname = \"x\"\n", &[]);
    let run = art(p.path(), &["bench", "pack_lod"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `pack_load`"),
        "{}",
        run.stderr
    );
}
