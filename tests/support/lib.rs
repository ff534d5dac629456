//! Helpers for the end-to-end tests: build the host and the packs once (in the same target
//! folder and profile as the tests), lay out projects in temp folders, run `art-host`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Where the workspace's build outputs of this profile live.
pub struct Built {
    /// `target/<profile>`.
    pub dir: PathBuf,
}

/// Packages the tests load, built as real cdylibs.
const PACKAGES: [&str; 11] = [
    "art-fixture-garbage-manifest",
    "art-host",
    "art-pack-bn-cnn",
    "art-pack-lr-tools",
    "art-pack-grad-health",
    "art-pack-data-audit",
    "art-fixture-stress",
    "art-fixture-future",
    "art-fixture-not-a-pack",
    "art-fixture-skewed",
    "art-fixture-newer-minor",
];

/// The steps of the demo project (`art-host run --demo`), in order.
pub const DEMO_STEPS: [&str; 15] = [
    "data-analysis",
    "near-duplicates",
    "baseline",
    "input-independent-baseline",
    "check-loss-on-init",
    "init-well",
    "batch-independence",
    "grad-health",
    "overfit-one-batch",
    "lr-range-test",
    "overfit",
    "label-noise",
    "regularize",
    "tune",
    "squeeze",
];

/// Builds the host and every pack once per test process.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // The test binary lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_owned();
        let target = dir.parent().expect("target dir").to_owned();
        let release = dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace)
            .arg("build")
            .arg("--target-dir")
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        for p in PACKAGES {
            cmd.args(["-p", p]);
        }
        let status = cmd
            .status()
            .expect("running cargo build for the e2e fixtures");
        assert!(status.success(), "building the host and packs failed");
        Built { dir }
    })
}

/// Builds the crate in `dir` (a workspace of its own) into the tests' target folder, where its
/// dependencies are already built: offline first, then with the registry.
pub fn cargo_build(dir: &Path) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = built().dir.parent().expect("target dir").to_owned();
    let build = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(dir)
            .arg("build")
            .arg("--target-dir")
            .arg(&target);
        if built().dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
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

/// Path of a built library, e.g. `lib("art_pack_lr_tools")`.
pub fn lib(name: &str) -> PathBuf {
    built().dir.join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// Path of the `art-host` binary.
pub fn host() -> PathBuf {
    built()
        .dir
        .join(format!("art-host{}", std::env::consts::EXE_SUFFIX))
}

/// A project in a temp folder with `art.toml` and the named libraries in `plugins/`.
pub fn project(toml: &str, libs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("art.toml"), toml).expect("write art.toml");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    for l in libs {
        let src = lib(l);
        std::fs::copy(&src, plugins.join(src.file_name().expect("file name")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
    dir
}

/// What one `art-host` invocation did.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON (for `--json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The report row of a step from a `--json` run.
    pub fn step(&self, id: &str) -> serde_json::Value {
        self.json()["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["step_id"] == id).cloned())
            .unwrap_or_else(|| panic!("no step `{id}` in the report:\n{}", self.stdout))
    }
}

/// Runs `art-host ARGS` in `cwd`.
pub fn art(cwd: &Path, args: &[&str]) -> Run {
    art_env(cwd, args, &[])
}

/// Runs `art-host ARGS` in `cwd` with extra environment variables.
pub fn art_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = Command::new(host())
        .current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("running art-host");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` with its bytes, sorted: to prove a failure changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A static file server on 127.0.0.1 for `root`, in a background thread, for registry tests.
/// Answers `GET /path` with the file (200) or 404; stops when the returned guard is dropped.
pub struct StaticServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StaticServer {
    /// Serves `root`.
    pub fn start(root: &Path) -> StaticServer {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (root, flag) = (root.to_owned(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let mut reader = std::io::BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_owned();
                let mut stream = reader.into_inner();
                let file = (!path.split('/').any(|c| c == ".."))
                    .then(|| std::fs::read(root.join(&path)).ok())
                    .flatten();
                let _ = match file {
                    Some(body) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        stream.write_all(&body)
                    }
                    None => {
                        stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    }
                };
            }
        });
        StaticServer { url, stop }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
