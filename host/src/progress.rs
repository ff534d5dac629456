//! Live progress of `art-host run`: one line per step that shows what the step is doing now
//! (epoch, batch, trial, running loss).
//!
//! Training code deep inside a step (a trial thread, a pack calling back into the host) has no
//! handle to the terminal, so the step being run is process-wide state: one step runs at a time
//! in a process, and every call here is a no-op when no step is active (unit tests, benches).
//! On a terminal the line is an `indicatif` spinner redrawn in place; otherwise (a pipe, a file,
//! CI logs) it is plain text with no control codes, at most one line every few seconds.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Nothing (`-q`, `--json`).
    #[default]
    Quiet,
    /// Plain lines on stderr, no control codes (stderr is not a terminal).
    Plain,
    /// A spinner line redrawn in place (stderr is a terminal).
    Live,
}

impl Mode {
    /// The mode for this process: quiet if asked, live on a terminal, plain otherwise.
    pub fn detect(quiet: bool) -> Self {
        use std::io::IsTerminal;
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb")
        {
            Mode::Live
        } else {
            Mode::Plain
        }
    }
}

/// Plain mode prints a progress line no more often than this.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

struct Active {
    mode: Mode,
    label: String,
    bar: Option<ProgressBar>,
    last_plain: Instant,
    epoch: Option<(usize, usize)>,
    batch: Option<(usize, usize)>,
    trials: Option<(usize, usize)>,
    loss: Option<f64>,
}

impl Active {
    fn status(&self) -> String {
        let mut parts = Vec::new();
        if let Some((d, t)) = self.trials {
            parts.push(format!("trial {d}/{t}"));
        }
        if let Some((d, t)) = self.epoch {
            parts.push(format!("epoch {d}/{t}"));
        }
        if let Some((d, t)) = self.batch {
            parts.push(format!("batch {d}/{t}"));
        }
        if let Some(l) = self.loss {
            parts.push(format!("loss {l:.4}"));
        }
        parts.join("  ")
    }

    fn refresh(&mut self) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Live => {
                if let Some(bar) = &self.bar {
                    bar.set_message(self.status());
                }
            }
            Mode::Plain => {
                if self.last_plain.elapsed() >= PLAIN_EVERY {
                    self.last_plain = Instant::now();
                    eprintln!("      {}", self.status());
                }
            }
        }
    }
}

static CURRENT: Mutex<Option<Active>> = Mutex::new(None);

fn with_active(f: impl FnOnce(&mut Active)) {
    let mut g = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(a) = g.as_mut() {
        f(a);
    }
}

/// A step starts: `label` is its header (`[3/15] overfit (recipe::overfit)`).
pub fn begin_step(mode: Mode, label: String) {
    let bar = match mode {
        Mode::Quiet => None,
        Mode::Plain => {
            eprintln!("{label}");
            None
        }
        Mode::Live => {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix} {spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        }
    };
    *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(Active {
        mode,
        label,
        bar,
        last_plain: Instant::now(),
        epoch: None,
        batch: None,
        trials: None,
        loss: None,
    });
}

/// The active step ends; `lines` (its outcome) are printed under its header.
pub fn end_step(lines: &[String]) {
    let active = CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(a) = active else { return };
    match a.mode {
        Mode::Quiet => {}
        Mode::Plain => lines.iter().for_each(|l| eprintln!("      {l}")),
        Mode::Live => {
            if let Some(bar) = a.bar {
                bar.finish_and_clear();
            }
            eprintln!("{}", a.label);
            lines.iter().for_each(|l| eprintln!("      {l}"));
        }
    }
}

/// An epoch of training finished with mean loss `loss` (1-based `done`).
pub fn epoch(done: usize, total: usize, loss: f64) {
    with_active(|a| {
        a.epoch = Some((done, total));
        a.batch = None;
        a.loss = Some(loss);
        a.refresh();
    });
}

/// A batch finished; called every few batches only, so the lock stays cold.
pub fn batch(done: usize, total: usize, loss: f64) {
    with_active(|a| {
        if a.mode == Mode::Live {
            a.batch = Some((done, total));
            a.loss = Some(loss);
            a.refresh();
        }
    });
}

/// `done` of `total` trials of a sweep have finished.
pub fn trials(done: usize, total: usize) {
    with_active(|a| {
        a.trials = Some((done, total));
        a.epoch = None;
        a.batch = None;
        a.refresh();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_names_what_is_running() {
        let a = Active {
            mode: Mode::Quiet,
            label: "[1/2] x".into(),
            bar: None,
            last_plain: Instant::now(),
            epoch: Some((3, 10)),
            batch: None,
            trials: Some((2, 8)),
            loss: Some(0.12345),
        };
        assert_eq!(a.status(), "trial 2/8  epoch 3/10  loss 0.1235");
    }
}
