//! Crash safety: `art-host run` killed with SIGKILL at many points never loses or damages a
//! stored run, and the next run resumes from the first step that has not passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use art_e2e::{art, host, project};

use crate::HEADER;

/// Every stored step record (temp files of an interrupted write excluded), with its bytes.
fn records(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    art_e2e::snapshot(&dir.join(".art/steps"))
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_the_next_run_resumes() {
    const STEPS: usize = 10;
    let mut toml = HEADER.to_owned();
    for i in 0..STEPS {
        toml.push_str(&format!(
            "\n[[steps]]\nid = \"train{i}\"\nuse = \"recipe::overfit\"\nmodel = \"mlp\"\nepochs = {}\nchecks = []\n",
            30 + 2 * i
        ));
    }
    let p = project(&toml, &[]);
    let mut seen: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    // A fixed pseudo-random sequence of kill delays (xorshift), so failures reproduce.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for _ in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_millis(10 + x % 400);
        // --force: every run rewrites from the first step, so each kill lands mid-run.
        let mut child = std::process::Command::new(host())
            .current_dir(p.path())
            .args(["run", "--json", "--force"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        let now = records(p.path());
        for (path, bytes) in &now {
            let v: serde_json::Value = serde_json::from_slice(bytes)
                .unwrap_or_else(|e| panic!("{} does not parse after a kill: {e}", path.display()));
            assert!(v["status"].is_string(), "{}", path.display());
        }
        for (path, bytes) in &seen {
            assert_eq!(
                now.get(path),
                Some(bytes),
                "{} was lost or altered",
                path.display()
            );
        }
        seen = now;
    }
    assert!(
        kills >= 10,
        "only {kills} runs were still going when killed"
    );

    // Resume: steps whose passed run is stored are skipped, the rest run, in order.
    let passed_before: Vec<String> = seen
        .values()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter(|v| v["status"] == "passed")
        .map(|v| v["step_id"].as_str().unwrap().to_owned())
        .collect();
    let last = art(p.path(), &["run", "--json"]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let statuses: Vec<(String, String)> = last.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let first_run = statuses
        .iter()
        .position(|(_, s)| s == "passed")
        .unwrap_or(STEPS);
    for (i, (id, status)) in statuses.iter().enumerate() {
        if i < first_run {
            assert_eq!(status, "cached", "{id}");
            assert!(
                passed_before.contains(id),
                "{id} was cached without a stored pass"
            );
        } else {
            assert_eq!(status, "passed", "{id} after the first rerun step");
        }
    }
    eprintln!("kill test: {kills} kills, 0 runs lost, 0 unparsable files, resumed at step {first_run} of {STEPS}");
}
