//! One run per project at a time: `.art/lock` holds the pid of the run that owns the store.
//! A second run is refused at once, naming the holder; a lock left by a process that no
//! longer exists (killed, crashed) is detected and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("another art-host run (pid {pid}, started {started}) is using this project ({}); wait for it to finish, or stop it", path.display())]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid.
        pid: u32,
        /// When it started.
        started: String,
    },
    /// The lock file could not be created or read.
    #[error("cannot lock {}: {reason}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The held lock; released (the file removed) on drop.
#[derive(Debug)]
pub struct ProjectLock {
    path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Holder {
    pid: u32,
    started: String,
}

/// Whether a process with this pid exists (on Unix; elsewhere, assume it does).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

impl ProjectLock {
    /// Takes the lock of the store in `art_dir` (created if needed).
    pub fn acquire(art_dir: &Path) -> Result<Self, LockError> {
        let path = art_dir.join("lock");
        let io = |reason: String| LockError::Io {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(art_dir).map_err(|e| io(e.to_string()))?;
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let me = Holder {
                        pid: std::process::id(),
                        started: crate::store::rfc3339(std::time::SystemTime::now()),
                    };
                    let json = serde_json::to_vec(&me).unwrap_or_default();
                    f.write_all(&json)
                        .and_then(|_| f.sync_all())
                        .map_err(|e| io(e.to_string()))?;
                    return Ok(ProjectLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Holder>(&b).ok());
                    match holder {
                        // Our own pid counts as a holder too: another run in this process.
                        Some(h) if alive(h.pid) => {
                            return Err(LockError::Held {
                                path: path.clone(),
                                pid: h.pid,
                                started: h.started,
                            });
                        }
                        Some(h) => {
                            tracing::warn!(
                                "taking over a stale lock of pid {} (started {})",
                                h.pid,
                                h.started
                            );
                        }
                        None => {
                            tracing::warn!("taking over an unreadable lock file {}", path.display())
                        }
                    }
                    // Stale: remove and try again (another process may win the race; then
                    // the next round sees its live pid).
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(io(e.to_string())),
            }
        }
        Err(io("the lock kept changing hands; try again".into()))
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_refuses_and_a_dead_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = ProjectLock::acquire(dir.path()).unwrap();
        // A second run in this same process is refused while the first holds the lock.
        let e = ProjectLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(lock);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let live = Holder {
            pid: child.id(),
            started: "then".into(),
        };
        std::fs::write(dir.path().join("lock"), serde_json::to_vec(&live).unwrap()).unwrap();
        let e = ProjectLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", child.id())), "{e}");
        child.kill().unwrap();
        child.wait().unwrap();
        let l = ProjectLock::acquire(dir.path()).unwrap();
        assert!(dir.path().join("lock").exists());
        drop(l);
        assert!(!dir.path().join("lock").exists());
    }
}
