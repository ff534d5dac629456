//! `--isolate`: a pack step runs in a child `art-host` process, so that an abort, a segfault,
//! memory exhaustion or a hang fails that step — with the cause — instead of the host.
//!
//! The child (`art-host step-worker`, hidden) loads the same project, packs and data, rebuilds
//! the step's context with the same seed, runs the one step and writes a [`WorkerResult`] to
//! a file; the parent waits with a timeout and turns a signal, an exit code or a timeout into
//! the step's error. Earlier steps' results travel to the child as JSON on stdin.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::recipe::Earlier;
use crate::store::SeriesRecord;

/// What an isolated step sends back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerResult {
    /// Summary line and extra JSON, or the step's error.
    pub outcome: Result<(String, serde_json::Value), String>,
    /// Its metrics.
    #[serde(with = "crate::nonfinite::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Its curves.
    pub series: Vec<SeriesRecord>,
}

/// How the parent runs one step in a child.
pub struct Isolation<'a> {
    /// The `art-host` binary.
    pub exe: &'a Path,
    /// Project folder.
    pub project_dir: &'a Path,
    /// Extra pack folders.
    pub plugin_dirs: &'a [PathBuf],
    /// Index of the step in `[[steps]]`.
    pub index: usize,
    /// The step's artifact folder.
    pub artifact_dir: &'a Path,
    /// Kill the child after this long.
    pub timeout: Option<Duration>,
    /// Address-space limit in MiB.
    pub memory_limit_mb: Option<u64>,
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                libc::SIGSEGV => "SIGSEGV, a segmentation fault",
                libc::SIGABRT => "SIGABRT, an abort",
                libc::SIGKILL => "SIGKILL",
                libc::SIGBUS => "SIGBUS, a bus error",
                libc::SIGILL => "SIGILL, an illegal instruction",
                libc::SIGFPE => "SIGFPE, an arithmetic error",
                _ => "a signal",
            };
            return format!("the step's process was killed by signal {sig} ({name})");
        }
    }
    match status.code() {
        Some(c) => format!("the step's process exited with code {c} without a result"),
        None => "the step's process ended without a result".into(),
    }
}

impl Isolation<'_> {
    /// Runs the step in a child; any way the child can die becomes an `Err` outcome.
    pub fn run(&self, earlier: &BTreeMap<String, Earlier>) -> WorkerResult {
        match self.try_run(earlier) {
            Ok(r) => r,
            Err(e) => WorkerResult {
                outcome: Err(e),
                metrics: BTreeMap::new(),
                series: Vec::new(),
            },
        }
    }

    fn try_run(&self, earlier: &BTreeMap<String, Earlier>) -> Result<WorkerResult, String> {
        let scratch = tempfile::tempdir().map_err(|e| format!("isolation: no temp dir: {e}"))?;
        let result = scratch.path().join("result.json");
        let stderr_path = scratch.path().join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| format!("isolation: {e}"))?;
        let mut cmd = Command::new(self.exe);
        cmd.arg("step-worker")
            .arg(self.project_dir)
            .arg("--index")
            .arg(self.index.to_string())
            .arg("--artifact-dir")
            .arg(self.artifact_dir)
            .arg("--result")
            .arg(&result)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        for d in self.plugin_dirs {
            cmd.arg("--plugins").arg(d);
        }
        #[cfg(unix)]
        if let Some(mb) = self.memory_limit_mb {
            use std::os::unix::process::CommandExt;
            let bytes = mb.saturating_mul(1 << 20) as libc::rlim_t;
            // SAFETY: setrlimit is async-signal-safe; it only limits the child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("isolation: cannot start {}: {e}", self.exe.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            let json = serde_json::to_vec(earlier).unwrap_or_default();
            // A child that dies at once closes the pipe: its exit status tells why.
            let _ = stdin.write_all(&json);
        }
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| format!("isolation: {e}"))? {
                break s;
            }
            if self.timeout.is_some_and(|t| started.elapsed() > t) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "timed out after {:.1} s (the step's `timeout`); its process was killed",
                    self.timeout.map_or(0.0, |t| t.as_secs_f64())
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match std::fs::read(&result) {
            Ok(bytes) if status.success() => serde_json::from_slice(&bytes)
                .map_err(|e| format!("isolation: unreadable result from the step's process: {e}")),
            _ => {
                let tail = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let tail: String = tail
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join(" | ");
                let memory = self
                    .memory_limit_mb
                    .filter(|_| {
                        tail.contains("memory allocation") || tail.contains("out of memory")
                    })
                    .map(|mb| format!(" (it ran out of memory: memory_limit_mb = {mb})"))
                    .unwrap_or_default();
                Err(format!(
                    "{}{memory}{}",
                    describe_exit(status),
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; its last words: {tail}")
                    }
                ))
            }
        }
    }
}

/// The child's side: read earlier results from stdin, run step `index`, write the result.
pub fn worker_main(
    project_dir: &Path,
    plugin_dirs: &[PathBuf],
    index: usize,
    artifact_dir: &Path,
    result: &Path,
) -> Result<(), String> {
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut input).map_err(|e| e.to_string())?;
    let earlier: BTreeMap<String, Earlier> = if input.is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_slice(&input).map_err(|e| format!("bad input: {e}"))?
    };
    let r =
        crate::runner::run_one_pack_step(project_dir, plugin_dirs, index, artifact_dir, &earlier)?;
    let json = serde_json::to_vec(&r).map_err(|e| e.to_string())?;
    std::fs::write(result, json).map_err(|e| format!("cannot write {}: {e}", result.display()))
}
