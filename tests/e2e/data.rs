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

#[test]
fn broken_idx_files_are_reported_with_the_file_and_the_problem() {
    let p = project(
        "[project]\nname = \"bad\"\n[data]\nidx_images = \"img.idx\"\nidx_labels = \"lab.idx.gz\"\n[[steps]]\nuse = \"data-analysis\"\n",
        &[],
    );
    let labels = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &[0, 0, 8, 1, 0, 0, 0, 2, 0, 1]).unwrap();
        e.finish().unwrap()
    };
    let cases: [(&str, Vec<u8>, Vec<u8>, &str); 4] = [
        (
            "img.idx",
            b"PNG\x0d\x0a".to_vec(),
            labels.clone(),
            "not an IDX file",
        ),
        (
            "img.idx",
            vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3],
            labels.clone(),
            "need 8 bytes of data, the file has 3",
        ),
        (
            "lab.idx.gz",
            vec![
                0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8,
            ],
            labels[..labels.len() - 5].to_vec(),
            "truncated or damaged gzip",
        ),
        (
            "img.idx",
            vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0],
            labels,
            "element type 0x0d is not supported",
        ),
    ];
    for (file, images, labels, problem) in cases {
        std::fs::write(p.path().join("img.idx"), &images).unwrap();
        std::fs::write(p.path().join("lab.idx.gz"), &labels).unwrap();
        let run = art(p.path(), &["run"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains(file) && run.stderr.contains(problem),
            "want `{file}` and `{problem}` in:\n{}",
            run.stderr
        );
    }
    assert!(!p.path().join(".art").exists());
}

#[test]
fn empty_and_one_class_csv_files_are_refused_with_the_reason() {
    let p = project(
        "[project]\nname = \"bad\"\n[data]\ncsv = \"d.csv\"\n[[steps]]\nuse = \"data-analysis\"\n",
        &[],
    );
    for (text, problem) in [
        ("", "no rows"),
        ("1,2,0\n3,4,0\n", "at least two classes"),
        ("1,2,0\n3,4\n", "line 2: 2 columns, earlier rows have 3"),
        ("1,2,x\n", "label `x` is not a non-negative integer"),
    ] {
        std::fs::write(p.path().join("d.csv"), text).unwrap();
        let run = art(p.path(), &["run"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("d.csv") && run.stderr.contains(problem),
            "want `{problem}` in:\n{}",
            run.stderr
        );
    }
}
