//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpora:
//! each takes arbitrary bytes and must return (an `Ok` or a described `Err`), never panic or
//! hang. The same function is what `cargo fuzz` hammers and what CI replays, so a crash input
//! added to a corpus stays a regression test.

use std::collections::BTreeMap;
use std::path::Path;

/// Outcome of one input: `Ok(())` when accepted, else the error text a user would see.
pub type Outcome = Result<(), String>;

/// The `art.toml` loader (syntax, types, names, ranges, spans).
pub fn project_toml(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data).into_owned();
    let project = crate::project::Project::parse(Path::new("."), Path::new("art.toml"), text)
        .map_err(|e| e.to_string())?;
    crate::runner::validate(&project, &crate::packs::PackSet::default()).map_err(|e| e.to_string())
}

/// The check-expression parser, and evaluation of what parses.
pub fn check_expr(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let e = crate::checks::CheckExpr::parse(&text)?;
    let metrics: BTreeMap<String, f64> = [
        ("valid.accuracy", 0.9),
        ("train.loss", 0.05),
        ("init.loss", 2.3),
        ("nan", f64::NAN),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let earlier = |s: &str, m: &str| {
        metrics
            .get(m)
            .copied()
            .ok_or_else(|| format!("no metric {m} in step {s}"))
    };
    let _ = e.evaluate("step", &metrics, &earlier);
    Ok(())
}

/// A pack manifest's JSON (what the C symbol returns).
pub fn manifest(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    crate::packs::loader::parse_manifest(&text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The `.artpack` extractor: paths, links, sizes, pack.toml, checksum, target, API.
pub fn archive(data: &[u8]) -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("input.artpack");
    std::fs::write(&file, data).map_err(|e| e.to_string())?;
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).map_err(|e| e.to_string())?;
    let r = crate::packs::archive::extract(&file, &dest)
        .map(|_| ())
        .map_err(|e| e.to_string());
    // Whatever happened, nothing may have been written outside `dest`.
    for entry in std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name();
        assert!(
            name == "input.artpack" || name == "out",
            "the extractor wrote {name:?} outside its destination"
        );
    }
    r
}

/// The CSV reader, both label positions, plain and gzipped.
pub fn csv(data: &[u8]) -> Outcome {
    use crate::data::Dataset;
    let _ = Dataset::from_csv_bytes("fuzz.csv", data, false, true, 1.0);
    let _ = Dataset::from_csv_bytes("fuzz.csv.gz", data, true, false, 1.0);
    Dataset::from_csv_bytes("fuzz.csv", data, false, false, 1.0)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The IDX reader (plain or gzipped headers, dimensions, payload sizes).
pub fn idx(data: &[u8]) -> Outcome {
    crate::data::parse_idx("fuzz.idx", data.to_vec())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// One fuzz entry point.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target by name, for the corpus replay.
pub const TARGETS: [(&str, Target); 6] = [
    ("project_toml", project_toml),
    ("check_expr", check_expr),
    ("manifest", manifest),
    ("archive", archive),
    ("csv", csv),
    ("idx", idx),
];
