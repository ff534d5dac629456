//! A bad `art.toml` exits non-zero with a message naming the line, and leaves `.art/` as it was.

use art_e2e::{art, project, snapshot};

use crate::HEADER;

const GOOD: &str = r#"
[[steps]]
use = "recipe::data-analysis"

[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 2
checks = ["train.loss < 5"]
"#;

/// Replaces `from` with `to` in the good project, runs it, and returns (code, stderr).
fn broken(dir: &std::path::Path, from: &str, to: &str) -> (i32, String) {
    let text = format!("{HEADER}{GOOD}").replace(from, to);
    assert_ne!(
        text,
        format!("{HEADER}{GOOD}"),
        "the replacement must change something"
    );
    std::fs::write(dir.join("art.toml"), text).unwrap();
    let run = art(dir, &["run"]);
    (run.code, run.stderr)
}

#[test]
fn bad_project_files_name_the_line_and_touch_nothing_stored() {
    let p = project(&format!("{HEADER}{GOOD}"), &[]);
    let first = art(p.path(), &["run"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = snapshot(&p.path().join(".art"));
    assert!(!before.is_empty());

    // Line numbers: HEADER has 12 lines (leading newline included); GOOD starts on line 13.
    let (code, err) = broken(p.path(), "recipe::overfit\"", "recipe::overfti\"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("art.toml:17:"), "{err}");
    assert!(
        err.contains("unknown step `recipe::overfti`") && err.contains("did you mean `overfit`"),
        "{err}"
    );

    let (code, err) = broken(p.path(), "epochs = 2", "epoch = 2");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("art.toml:19:"), "{err}");
    assert!(err.contains("unknown field `epoch`"), "{err}");

    let (code, err) = broken(p.path(), "epochs = 2", "epochs = \"two\"");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("art.toml:19:") && err.contains("invalid type"),
        "{err}"
    );

    let (code, err) = broken(p.path(), "seed = 7", "seed = 7\nsede = 8");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("art.toml:5:") && err.contains("unknown field `sede`"),
        "{err}"
    );

    let (code, err) = broken(
        p.path(),
        "checks = [\"train.loss < 5\"]",
        "checks = [\"train.loss <<\"]",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("art.toml:20:"), "{err}");

    let (code, err) = broken(
        p.path(),
        "[[steps]]\nuse = \"recipe::data-analysis\"",
        "[[steps]]\nuse = \"lr-tols::lr-range-test\"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("art.toml:14:") && err.contains("no pack named `lr-tols`"),
        "{err}"
    );

    let (code, err) = broken(p.path(), "name = \"e2e\"", "name = \"e2e");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("art.toml:3:"), "{err}");

    assert_eq!(
        snapshot(&p.path().join(".art")),
        before,
        "a failed run changed the store"
    );
}

#[test]
fn bad_cli_arguments_are_refused_by_clap() {
    let p = project(&format!("{HEADER}{GOOD}"), &[]);
    let run = art(p.path(), &["run", "--no-such-flag"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
    let missing = art(p.path(), &["run", "no-such-dir"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no-such-dir/art.toml"),
        "{}",
        missing.stderr
    );
}
