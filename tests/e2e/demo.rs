//! The README's first command: `art-host run --demo` from an empty folder.

use art_e2e::art;

#[test]
fn the_demo_runs_every_step_and_reaches_the_accuracy_bar() {
    let cwd = tempfile::tempdir().unwrap();
    let run = art(cwd.path(), &["run", "--demo", "--json"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let report = run.json();
    let ids: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "data-analysis",
            "baseline",
            "input-independent-baseline",
            "check-loss-on-init",
            "init-well",
            "batch-independence",
            "overfit-one-batch",
            "lr-range-test",
            "overfit",
            "regularize",
            "tune",
            "squeeze",
        ]
    );
    for s in report["steps"].as_array().unwrap() {
        assert_eq!(s["status"], "passed", "{s}");
    }
    assert_eq!(run.step("lr-range-test")["uses"], "lr-tools::lr-range-test");
    let acc = run.step("overfit")["metrics"]["valid.accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc >= 0.95, "valid.accuracy {acc}");
    assert!(cwd.path().join("art-demo/art.toml").exists());
    assert!(cwd.path().join("art-demo/.art/runs").is_dir());
}
