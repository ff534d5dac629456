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
    assert_eq!(ids, art_e2e::DEMO_STEPS);
    for s in report["steps"].as_array().unwrap() {
        assert_eq!(s["status"], "passed", "{s}");
    }
    assert_eq!(run.step("lr-range-test")["uses"], "lr-tools::lr-range-test");
    let acc = run.step("overfit")["metrics"]["valid.accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc >= 0.95, "valid.accuracy {acc}");
    assert!(cwd.path().join("art-demo/art.toml").exists());
    // The repo's own three packs, with their steps.
    let list = art(&cwd.path().join("art-demo"), &["plugins", "list"]);
    for (pack, step) in [
        ("lr-tools", "lr-range-test"),
        ("grad-health", "grad-health"),
        ("data-audit", "label-noise, near-duplicates"),
    ] {
        assert!(
            list.stdout
                .lines()
                .any(|l| l.starts_with(pack) && l.contains(step) && l.contains("api 1.2.0")),
            "{pack}: {}",
            list.stdout
        );
    }
    let grad = run.step("grad-health");
    assert!(grad["metrics"]["grad.min_weight_norm"].as_f64().unwrap() > 0.0);
    assert!(
        run.step("label-noise")["metrics"]["audit.suspect_fraction"]
            .as_f64()
            .unwrap()
            <= 0.03
    );
    assert!(cwd.path().join("art-demo/.art/runs").is_dir());
}
