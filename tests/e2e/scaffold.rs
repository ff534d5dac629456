//! `art-host new` and `art-host new-pack`: a project and a step pack from the templates, the
//! pack compiled with cargo, loaded by the host and run.

use std::path::Path;
use std::process::Command;

use art_e2e::{art, built};

fn cargo_build(dir: &Path) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The workspace's target folder: the pack's dependencies are already built there.
    let target = built().dir.parent().expect("target dir").to_owned();
    let build = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(dir)
            .arg("build")
            .arg("--target-dir")
            .arg(&target);
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("running cargo")
    };
    let out = build(true);
    if out.status.success() {
        out
    } else {
        build(false)
    }
}

#[test]
fn a_new_pack_compiles_loads_and_its_step_and_check_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let made = art(tmp.path(), &["new-pack", "shares-pack"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let out = cargo_build(&tmp.path().join("shares-pack"));
    assert!(
        out.status.success(),
        "the template did not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = built().dir.join(format!(
        "{}shares_pack{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(lib.exists(), "{} missing", lib.display());

    let proj = art(tmp.path(), &["new", "proj"]);
    assert_eq!(proj.code, 0, "{}", proj.stderr);
    let dir = tmp.path().join("proj");
    std::fs::copy(&lib, dir.join("plugins").join(lib.file_name().unwrap())).unwrap();
    std::fs::write(
        dir.join("art.toml"),
        r#"
[project]
name = "proj"

[[steps]]
use = "recipe::data-analysis"

[[steps]]
use = "shares-pack::class-shares"
checks = [{ use = "shares-pack::min-share", min = 0.05 }, "share.min > 0.09"]
"#,
    )
    .unwrap();
    let steps = art(&dir, &["steps"]);
    assert!(
        steps.stdout.contains("shares-pack::class-shares"),
        "{}",
        steps.stdout
    );
    let run = art(&dir, &["run", "--json"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let step = run.step("class-shares");
    assert_eq!(step["status"], "passed");
    let min = step["metrics"]["share.min"].as_f64().unwrap();
    assert!((0.09..0.11).contains(&min), "{min}");

    // Names that cannot be packs, and folders that exist, are refused.
    let bad = art(tmp.path(), &["new-pack", "9-lives"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a usable name"), "{}", bad.stderr);
    let again = art(tmp.path(), &["new", "proj"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}
