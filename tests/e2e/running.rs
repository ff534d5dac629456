//! Running chains: gates, panics in packs, logs from packs, the store across runs.

use art_e2e::{art, art_env, project, snapshot};

use crate::HEADER;

#[test]
fn a_panicking_pack_step_fails_that_step_and_the_host_carries_on() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "stress::panic"
continue_on_failure = true

[[steps]]
use = "stress::ok"
checks = [{ use = "stress::panic" }, "stress.value == 1"]
continue_on_failure = true

[[steps]]
use = "stress::bad-batch"
model = "mlp"
continue_on_failure = true

[[steps]]
use = "recipe::data-analysis"
"#
    );
    let p = project(&toml, &["art_fixture_stress"]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let panic = run.step("panic");
    assert_eq!(panic["status"], "error");
    let err = panic["error"].as_str().unwrap();
    assert!(err.contains("stress pack panicked on purpose"), "{err}");

    let ok = run.step("ok");
    assert_eq!(ok["status"], "failed");
    let checks = ok["checks"].as_array().unwrap();
    assert!(checks[0]["message"]
        .as_str()
        .unwrap()
        .contains("check panicked on purpose"));
    assert_eq!(checks[1]["passed"], true);

    let bad = run.step("bad-batch");
    assert_eq!(bad["status"], "error");
    assert!(
        bad["error"].as_str().unwrap().contains("malformed batch"),
        "{bad}"
    );

    assert_eq!(run.step("data-analysis")["status"], "passed");
}

#[test]
fn a_failed_gate_stops_the_chain_and_exits_non_zero() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "recipe::data-analysis"
checks = ["data.num_classes == 3"]

[[steps]]
use = "recipe::overfit"
model = "mlp"
"#
    );
    let p = project(&toml, &[]);
    let run = art(p.path(), &["run"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("data.num_classes = 10 not == 3"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not run"), "{}", run.stdout);
}

#[test]
fn a_missing_metric_fails_its_check_naming_the_metrics_that_exist() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "recipe::data-analysis"
checks = ["data.leakge == 0"]
"#
    );
    let p = project(&toml, &[]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(run.code, 1);
    let msg = run.step("data-analysis")["checks"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("did you mean `data.leakage`"), "{msg}");
    assert!(msg.contains("data.train_size"), "{msg}");
}

#[test]
fn pack_tracing_events_reach_the_host_log() {
    let toml = format!("{HEADER}\n[[steps]]\nuse = \"stress::ok\"\n");
    let p = project(&toml, &["art_fixture_stress"]);
    let run = art_env(p.path(), &["run"], &[("RUST_LOG", "info")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hello from the stress pack through tracing"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hello from the stress pack through ctx.log"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_run_reuses_passed_steps_and_corrupt_records_are_kept() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "recipe::data-analysis"

[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 3
checks = ["train.accuracy > 0.5"]
"#
    );
    let p = project(&toml, &[]);
    let first = art(p.path(), &["run", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let corrupt = p
        .path()
        .join(".art/steps/overfit/00000000T000000Z-000000.json");
    std::fs::write(&corrupt, b"{\"schema\": 1, \"run_id\": ").unwrap();

    let second = art(p.path(), &["run", "--json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.step("overfit")["status"], "cached");
    assert_eq!(
        second.step("overfit")["metrics"]["valid.accuracy"],
        first.step("overfit")["metrics"]["valid.accuracy"]
    );
    assert!(second.json()["warnings"][0]
        .as_str()
        .unwrap()
        .contains("00000000T000000Z-000000.json"));
    assert!(corrupt.exists(), "a corrupt record must never be deleted");

    // --force reruns, and with the same seed the result is the same.
    let forced = art(p.path(), &["run", "--json", "--force"]);
    assert_eq!(forced.step("overfit")["status"], "passed");
    assert_eq!(
        forced.step("overfit")["metrics"]["valid.accuracy"],
        first.step("overfit")["metrics"]["valid.accuracy"]
    );
    let records = snapshot(&p.path().join(".art/steps/overfit"));
    assert_eq!(records.len(), 3, "two runs stored plus the corrupt file");
}

#[test]
fn a_second_run_on_the_same_project_is_refused_naming_the_holder() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 400
checks = []
"#
    );
    let p = project(&toml, &[]);
    let mut first = std::process::Command::new(art_e2e::host())
        .current_dir(p.path())
        .args(["run", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = p.path().join(".art/lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(lock.exists(), "the first run never took the lock");
    let second = art(p.path(), &["run"]);
    let first_pid = first.id();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {first_pid}")),
        "{}",
        second.stderr
    );

    // The killed run left its lock behind: the next run sees the pid is gone and takes over.
    assert!(lock.exists());
    let third = art(p.path(), &["run", "--json"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(!lock.exists(), "a finished run releases its lock");
}

#[test]
fn nan_metrics_and_huge_outputs_are_stored_readably_and_bounded() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "stress::nan"
checks = ["stress.nan < 1", "stress.inf > 0", "stress.fine == 1"]
continue_on_failure = true

[[steps]]
use = "stress::huge-output"
checks = []
"#
    );
    let p = project(&toml, &["art_fixture_stress"]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let nan = run.step("nan");
    assert_eq!(nan["metrics"]["stress.nan"], "NaN");
    assert_eq!(nan["metrics"]["stress.inf"], "inf");
    let checks = nan["checks"].as_array().unwrap();
    assert_eq!(checks[0]["passed"], false, "NaN never passes");
    assert!(checks[0]["message"].as_str().unwrap().contains("NaN"));
    assert_eq!(checks[1]["passed"], true);
    // The stored record reads back (NaN would otherwise be written as null).
    let status = art(p.path(), &["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.json()["unreadable"].as_array().unwrap().is_empty(),
        "{}",
        status.stdout
    );

    let huge = run.step("huge-output");
    assert_eq!(huge["status"], "passed");
    assert!(huge["summary"].as_str().unwrap().len() < 3_000);
    assert_eq!(huge["metrics"].as_object().unwrap().len(), 10_000);
}

#[test]
fn isolated_pack_steps_fail_with_their_cause_and_the_run_goes_on() {
    let step = |name: &str, extra: &str| {
        format!("\n[[steps]]\nuse = \"stress::{name}\"\ncontinue_on_failure = true\nchecks = []\n{extra}\n")
    };
    let toml = format!(
        "{HEADER}{}{}{}{}{}{}{}{}",
        step("abort", ""),
        step("segfault", ""),
        step("hang", "timeout = 1.5"),
        step("alloc", "memory_limit_mb = 1024"),
        step("panic", ""),
        step("fail", ""),
        step("nan", ""),
        step("ok", "value = 2.5")
    );
    let p = project(&toml, &["art_fixture_stress"]);
    let started = std::time::Instant::now();
    let run = art(p.path(), &["run", "--json", "--isolate"]);
    assert!(
        started.elapsed().as_secs() < 60,
        "the hang must be cut by its timeout"
    );
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let err = |id: &str| {
        run.step(id)["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        err("abort").contains("signal 6 (SIGABRT"),
        "{}",
        err("abort")
    );
    assert!(
        err("segfault").contains("signal 11 (SIGSEGV"),
        "{}",
        err("segfault")
    );
    assert!(
        err("hang").contains("timed out after 1.5 s"),
        "{}",
        err("hang")
    );
    let alloc = err("alloc");
    assert!(
        alloc.contains("ran out of memory: memory_limit_mb = 1024"),
        "{alloc}"
    );
    assert!(
        err("panic").contains("stress pack panicked on purpose"),
        "{}",
        err("panic")
    );
    assert!(
        err("fail").contains("stress pack failed on purpose"),
        "{}",
        err("fail")
    );
    for id in ["abort", "segfault", "hang", "alloc", "panic", "fail"] {
        assert_eq!(run.step(id)["status"], "error", "{id}");
    }
    // Results of isolated steps come back whole.
    assert_eq!(run.step("nan")["metrics"]["stress.nan"], "NaN");
    let ok = run.step("ok");
    assert_eq!(ok["status"], "passed");
    assert_eq!(ok["metrics"]["stress.value"], 2.5);
    assert_eq!(ok["metrics"]["stress.train_len"], 1438.0);
}

#[test]
fn a_pack_can_be_isolated_for_all_its_steps_from_art_toml() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[packs.stress]
isolate = true
timeout = 1.0

[[steps]]
use = "stress::abort"
continue_on_failure = true
checks = []

[[steps]]
use = "stress::hang"
continue_on_failure = true
checks = []

[[steps]]
use = "recipe::data-analysis"
"#
    );
    let p = project(&toml, &["art_fixture_stress"]);
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let err = |id: &str| {
        run.step(id)["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(err("abort").contains("SIGABRT"), "{}", err("abort"));
    assert!(
        err("hang").contains("timed out after 1.0 s"),
        "{}",
        err("hang")
    );
    assert_eq!(run.step("data-analysis")["status"], "passed");

    std::fs::write(
        p.path().join("art.toml"),
        toml.replace("timeout = 1.0", "timeout = -1"),
    )
    .unwrap();
    let bad = art(p.path(), &["run"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("[packs.stress]") && bad.stderr.contains("art.toml:"),
        "{}",
        bad.stderr
    );
}
