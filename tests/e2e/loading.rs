//! The load gates: compatible packs load (two side by side), incompatible or foreign
//! libraries are refused with one clear line each.

use art_e2e::{art, lib, project};

use crate::HEADER;

const DATA_ONLY: &str = r#"
[[steps]]
use = "recipe::data-analysis"
"#;

#[test]
fn two_packs_load_side_by_side_and_both_run() {
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "lr-tools::lr-range-test"
model = "mlp"
num_batches = 30
checks = [{ use = "lr-tools::loss-decreased", min_relative_drop = 0.05 }]

[[steps]]
use = "stress::ok"
value = 4.5
checks = ["stress.value == 4.5", { use = "stress::always" }]
"#
    );
    let p = project(&toml, &["art_pack_lr_tools", "art_fixture_stress"]);
    let list = art(p.path(), &["plugins", "list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let mut names: Vec<String> = list.json()["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["lr-tools", "stress"]);

    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let lr = run.step("lr-range-test");
    assert_eq!(lr["status"], "passed");
    let suggested = lr["metrics"]["lr.suggested"].as_f64().unwrap();
    assert!(suggested > 1e-6 && suggested < 1.0, "{suggested}");
    // The sweep put the weights back: the model it leaves is the one it started from.
    assert!(
        lr["metrics"]["restore.valid_loss_delta"].as_f64().unwrap() < 1e-6,
        "{lr}"
    );
    let ok = run.step("ok");
    assert_eq!(ok["status"], "passed");
    assert_eq!(ok["metrics"]["stress.seed"], 7.0);
    assert_eq!(ok["metrics"]["stress.train_len"], 1438.0);

    // The stored record names the pack, its version and the library's checksum.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lr["record"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(record["pack"]["name"], "lr-tools");
    assert_eq!(record["pack"]["version"], "1.0.0");
    assert_eq!(record["pack"]["sha256"].as_str().unwrap().len(), 64);
    assert!(!record["series"].as_array().unwrap().is_empty());
}

#[test]
fn a_pack_built_against_another_api_major_is_refused_naming_both_versions() {
    let toml = format!(
        "{HEADER}{DATA_ONLY}{}",
        r#"
[[steps]]
use = "future::warp"
"#
    );
    let p = project(&toml, &["art_fixture_future"]);
    let list = art(p.path(), &["plugins", "list"]);
    assert_eq!(list.code, 0);
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("REFUSED"))
        .expect(&list.stdout);
    assert!(line.contains("libart_fixture_future"), "{line}");
    assert!(line.starts_with("REFUSED (incompatible)"), "{line}");
    assert!(
        line.contains("art-plugin-api 2.0.0") && line.contains("speaks 1.2.0"),
        "{line}"
    );
    assert!(
        line.contains("rebuild the pack with art-plugin-api 1.x"),
        "{line}"
    );

    // The steps that need it fail with that reason; the others still run.
    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.step("data-analysis")["status"], "passed");
    let warp = run.step("warp");
    assert_eq!(warp["status"], "error");
    let err = warp["error"].as_str().unwrap();
    assert!(err.contains("2.0.0") && err.contains("1.2.0"), "{err}");
}

#[test]
fn files_that_are_not_packs_are_refused_and_the_project_still_runs() {
    let p = project(
        &format!("{HEADER}{DATA_ONLY}"),
        &["art_fixture_not_a_pack", "art_fixture_garbage_manifest"],
    );
    let junk = p.path().join("plugins").join(format!(
        "{}junk{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::write(&junk, b"definitely not ELF").unwrap();
    let list = art(p.path(), &["plugins", "list", "--json"]);
    let refused = list.json()["refused"].as_array().unwrap().clone();
    assert_eq!(refused.len(), 3, "{}", list.stdout);
    let reason_of = |needle: &str| {
        refused
            .iter()
            .find(|r| r["path"].as_str().unwrap().contains(needle))
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert!(
        reason_of("not_a_pack").starts_with("not an art step pack"),
        "{refused:?}"
    );
    assert!(
        reason_of("junk").starts_with("not a loadable library"),
        "{refused:?}"
    );
    // A manifest that is not JSON: the first gate says what the parser found, and where.
    let garbage = reason_of("garbage_manifest");
    assert!(
        garbage.starts_with("its manifest is unreadable (")
            && garbage.contains("line 1 column")
            && garbage.contains("rebuild the pack"),
        "{garbage}"
    );

    let run = art(p.path(), &["run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("refused pack"), "{}", run.stderr);
}

#[test]
fn a_checksum_that_does_not_match_refuses_the_pack() {
    let p = project(&format!("{HEADER}{DATA_ONLY}"), &["art_pack_lr_tools"]);
    let libfile = lib("art_pack_lr_tools");
    let name = libfile.file_name().unwrap().to_str().unwrap();
    std::fs::write(
        p.path().join("plugins").join(format!("{name}.sha256")),
        "00ff",
    )
    .unwrap();
    let list = art(p.path(), &["plugins", "list"]);
    assert!(
        list.stdout.contains("REFUSED (checksum mismatch)"),
        "{}",
        list.stdout
    );
}

#[test]
fn a_library_with_a_compatible_manifest_but_another_layout_fails_the_second_gate() {
    let p = project(&format!("{HEADER}{DATA_ONLY}"), &["art_fixture_skewed"]);
    let list = art(p.path(), &["plugins", "list"]);
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("REFUSED"))
        .expect(&list.stdout);
    assert!(
        line.contains("pack `skewed` failed the ABI layout check"),
        "{line}"
    );
    assert!(
        line.contains("rebuild it against art-plugin-api 1.2.0"),
        "{line}"
    );
    assert!(line.contains("expected PackMod, found SkewedMod"), "{line}");
    // The one-line message for users; the full abi_stable report only with -v.
    assert!(line.len() < 600, "{line}");
    let verbose = art(p.path(), &["-v", "plugins", "list"]);
    assert!(verbose.stderr.len() > line.len(), "{}", verbose.stderr);
}

#[test]
fn the_compatibility_matrix_older_minor_runs_newer_minor_and_other_major_are_refused() {
    // A pack built against a frozen copy of the previous minor (1.0.0), built here.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/old-minor-pack");
    let out = art_e2e::cargo_build(&fixture);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = format!(
        "{HEADER}{}",
        r#"
[[steps]]
use = "old-minor::train-a-bit"
model = "mlp"
checks = ["old.last_loss < old.first_loss"]
"#
    );
    let p = project(
        &toml,
        &[
            "art_fixture_old_minor",
            "art_fixture_newer_minor",
            "art_fixture_future",
        ],
    );
    let list = art(p.path(), &["plugins", "list"]);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("old-minor") && l.contains("api 1.0.0") && l.contains(" ok ")),
        "{}",
        list.stdout
    );
    let newer = list
        .stdout
        .lines()
        .find(|l| l.contains("newer_minor"))
        .expect(&list.stdout);
    assert!(
        newer.contains("(incompatible)")
            && newer.contains("1.9.0")
            && newer.contains("speaks 1.2.0"),
        "{newer}"
    );
    assert!(newer.contains("upgrade art-host to 1.9"), "{newer}");
    let future = list
        .stdout
        .lines()
        .find(|l| l.contains("future"))
        .expect(&list.stdout);
    assert!(
        future.contains("2.0.0") && future.contains("1.2.0"),
        "{future}"
    );

    let run = art(p.path(), &["run", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let step = run.step("train-a-bit");
    assert_eq!(step["status"], "passed");
    assert!(
        step["summary"]
            .as_str()
            .unwrap()
            .contains("built against 1.0.0, running in a host speaking 1.2.0"),
        "{step}"
    );
}
