//! The fuzz targets' seed corpora (`fuzz/corpus/TARGET/`), replayed through the same entry
//! points `cargo fuzz` drives: no input may panic, every refusal must say what is wrong and
//! name the input. CI runs this on the stable toolchain; `cargo fuzz run` explores further.

use std::path::Path;

use art_host::fuzzing::{self, TARGETS};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn outcome(target: &str, name: &str) -> Result<(), String> {
    let (_, f) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
    let (_, data) = corpus(target)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {target}/{name}"));
    f(&data)
}

#[test]
fn every_corpus_input_is_accepted_or_refused_with_a_message_never_a_panic() {
    let mut replayed = 0;
    for (target, f) in TARGETS {
        let inputs = corpus(target);
        assert!(
            inputs.len() >= 5,
            "{target}: a thin corpus ({})",
            inputs.len()
        );
        for (name, data) in inputs {
            let r = std::panic::catch_unwind(|| f(&data));
            let r = r.unwrap_or_else(|_| panic!("{target}/{name} panicked"));
            if let Err(msg) = r {
                assert!(
                    msg.trim().len() > 10,
                    "{target}/{name}: a bare error {msg:?}"
                );
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 40, "{replayed}");
}

#[test]
fn each_class_of_bad_input_names_the_input_and_the_problem() {
    assert_eq!(outcome("project_toml", "small.toml"), Ok(()));
    assert_eq!(outcome("project_toml", "init_from.toml"), Ok(()));
    assert_eq!(outcome("csv", "ok.csv"), Ok(()));
    assert_eq!(outcome("idx", "labels.idx.gz"), Ok(()));
    assert_eq!(outcome("manifest", "ok.json"), Ok(()));
    assert_eq!(outcome("check_expr", "e2"), Ok(()));
    let cases: [(&str, &str, &[&str]); 15] = [
        ("project_toml", "syntax.toml", &["art.toml:"]),
        ("project_toml", "types.toml", &["art.toml:", "epochs"]),
        ("csv", "ragged.csv", &["fuzz.csv", "line 2", "columns"]),
        ("csv", "nonnum.csv", &["fuzz.csv", "`abc` is not a number"]),
        ("csv", "label.csv", &["fuzz.csv", "label `-1`"]),
        ("csv", "empty.csv", &["fuzz.csv", "no rows"]),
        ("csv", "inf.csv", &["fuzz.csv", "not finite"]),
        ("idx", "magic.idx", &["fuzz.idx", "not an IDX file"]),
        ("idx", "truncated.gz", &["fuzz.idx", "gzip"]),
        ("idx", "short.idx", &["fuzz.idx", "need 10000 bytes"]),
        ("manifest", "garbage.json", &["manifest"]),
        (
            "manifest",
            "badname.json",
            &["pack name `recipe`", "reserved"],
        ),
        ("archive", "slip.artpack", &["input.artpack", "`..`"]),
        ("archive", "link.artpack", &["input.artpack", "link"]),
        ("archive", "badsum.artpack", &["input.artpack"]),
    ];
    for (target, name, needles) in cases {
        let msg = outcome(target, name).expect_err(&format!("{target}/{name} was accepted"));
        for n in needles {
            assert!(msg.contains(n), "{target}/{name}: {msg:?} lacks {n:?}");
        }
    }
    // A check expression that does not parse says why.
    let e = fuzzing::check_expr(b">= >=").unwrap_err();
    assert!(!e.is_empty());
}
