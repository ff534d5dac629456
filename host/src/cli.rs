//! Command-line interface of `art-host`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Shown under `--help`: the embedded dataset's licence requires attribution.
const AFTER_HELP: &str = "The built-in `digits` dataset is the UCI Optical Recognition of Handwritten Digits \
test set by E. Alpaydin and C. Kaynak (1998), licensed CC BY 4.0 (https://archive.ics.uci.edu/dataset/80).";

/// art: Actually Robust Training. Runs Karpathy's recipe for training neural networks as a
/// chain of gated steps, with step packs loaded at run time.
#[derive(Debug, Parser)]
#[command(name = "art-host", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No progress output (errors and the final summary only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the project in DIR (default: the current folder).
    Run {
        /// Project folder (holds art.toml).
        dir: Option<PathBuf>,
        /// Write the default digits project to ./art-demo (or DIR) if absent, install the
        /// first-party packs built beside this binary into it, and run it.
        #[arg(long)]
        demo: bool,
        /// Also load packs from this folder (repeatable).
        #[arg(long = "plugins", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// Rerun steps even when a passed run with the same fingerprint is stored.
        #[arg(long)]
        force: bool,
        /// Rerun this step and every step after it; earlier steps are not run.
        #[arg(long, value_name = "STEP", conflicts_with = "only")]
        from: Option<String>,
        /// Run only this step (forced); the others are not run.
        #[arg(long, value_name = "STEP")]
        only: Option<String>,
        /// Run pack steps in child processes: an abort, a segfault, running out of memory or
        /// a hang (with the step's `timeout`) fails that step, not the run.
        #[arg(long)]
        isolate: bool,
        /// Trials trained at once (default: the number of cores; results do not depend on it).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List every step and check: built-in and from the packs of DIR.
    Steps {
        /// Project folder (its plugins/ are loaded).
        dir: Option<PathBuf>,
        /// Also load packs from this folder (repeatable).
        #[arg(long = "plugins", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a new project in NAME/: art.toml with the default recipe on the embedded digits,
    /// a README explaining each step, a .gitignore for .art/ and an empty plugins/.
    New {
        /// Folder to create (its name is the project's name).
        name: PathBuf,
    },
    /// Write a new step-pack crate in NAME/ that compiles as is: one example step, one
    /// example check, tests and a README for pack authors.
    NewPack {
        /// Folder to create (its name is the pack's name).
        name: PathBuf,
        /// Path of the art-plugin-api crate to depend on (default: this host's source tree
        /// when present, else the registry version).
        #[arg(long, value_name = "DIR")]
        api_path: Option<PathBuf>,
    },
    /// Write NAME-VERSION-TARGET.artpack for a step-pack crate (built with cargo build
    /// --release) or for a library given with --lib.
    Pack {
        /// The pack's crate folder (default: the current folder).
        dir: Option<PathBuf>,
        /// Use this built library instead of building the crate.
        #[arg(long)]
        lib: Option<PathBuf>,
        /// Where to write the archive (default: the crate's target/package, or the current folder with --lib).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Add an archive to a registry folder (refuses to overwrite a published version).
    Publish {
        /// The .artpack file.
        archive: PathBuf,
        /// The registry folder.
        #[arg(long)]
        registry: PathBuf,
    },
    /// Install a pack into DIR/plugins/: an .artpack file, or NAME[@REQ] from --registry
    /// (the highest version matching REQ that this host can load).
    Install {
        /// FILE.artpack, or NAME, or NAME@REQ (e.g. lr-tools@^1.2).
        spec: String,
        /// Project folder.
        dir: Option<PathBuf>,
        /// The registry: a folder, or http://HOST:PORT/PATH serving one.
        #[arg(long)]
        registry: Option<PathBuf>,
    },
    /// List the packs in a registry whose name or description contains TEXT.
    Search {
        /// Text to look for (default: list everything).
        text: Option<String>,
        /// The registry: a folder, or http://HOST:PORT/PATH serving one.
        #[arg(long)]
        registry: PathBuf,
    },
    /// Latest status of every step of the project in DIR, read from its store alone.
    Status {
        /// Project folder.
        dir: Option<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one self-contained HTML report of the project in DIR (step timeline, every run
    /// of every step, curves, sample grid, what changed between runs); opens offline.
    Report {
        /// Project folder.
        dir: Option<PathBuf>,
        /// Where to write the page.
        #[arg(long, default_value = "art-report.html")]
        out: PathBuf,
    },
    /// Serve the report live on http://127.0.0.1:PORT/; it re-reads the store on every request
    /// and reloads itself when a run adds records.
    Dashboard {
        /// Project folder.
        dir: Option<PathBuf>,
        /// Port (0: any free port; the URL is printed).
        #[arg(long, default_value_t = 8177)]
        port: u16,
        /// Address to listen on. The default serves this machine only; anything else exposes
        /// your runs to the network.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
    },
    /// Export the store to other tools.
    Export {
        /// What to export.
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Measure: training throughput vs raw burn, pack loading, the digits recipe (cold and
    /// rerun, peak RSS), per-step overhead, CNN epoch scaling on Fashion-MNIST. Use a release
    /// build; each figure is printed with its baseline ratio or target.
    Bench {
        /// Only these benchmarks (train_throughput, pack_load, recipe_digits, step_overhead, scale).
        names: Vec<String>,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Internal: runs one pack step for `run --isolate`.
    #[command(hide = true)]
    StepWorker {
        /// Project folder.
        dir: PathBuf,
        /// Index of the step in [[steps]].
        #[arg(long)]
        index: usize,
        /// The step's artifact folder.
        #[arg(long)]
        artifact_dir: PathBuf,
        /// Where to write the result.
        #[arg(long)]
        result: PathBuf,
        /// Extra pack folders.
        #[arg(long = "plugins", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
    },
    /// Inspect installed step packs.
    Plugins {
        /// What to do with them.
        #[command(subcommand)]
        action: PluginsAction,
    },
}

/// `art-host export ...`
#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// Write an MLflow FileStore (`mlflow ui --backend-store-uri OUT`): one MLflow run per
    /// stored step run, with metrics, curves, params, tags and artifacts.
    Mlflow {
        /// Project folder.
        dir: Option<PathBuf>,
        /// The MLflow store folder (created; other experiments in it are kept).
        #[arg(long)]
        out: PathBuf,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy the model weights the latest passed run of STEP saved (burn's recorder format for
    /// burn models; load them with `Module::load_file`, or with `init_from = "@STEP"`).
    Model {
        /// The step id.
        step: String,
        /// Project folder.
        dir: Option<PathBuf>,
        /// Where to write the weights.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `art-host plugins ...`
#[derive(Debug, Subcommand)]
pub enum PluginsAction {
    /// List the packs in DIR/plugins (and --plugins folders), loaded and refused.
    List {
        /// Project folder.
        dir: Option<PathBuf>,
        /// Also look in this folder (repeatable).
        #[arg(long = "plugins", value_name = "DIR")]
        plugin_dirs: Vec<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one pack: manifest, steps and checks with their summaries, checksum.
    Info {
        /// Pack name.
        name: String,
        /// Project folder.
        dir: Option<PathBuf>,
    },
    /// Load every pack in DIR/plugins/ through all the gates (checksum, API, layout) and report.
    Verify {
        /// Project folder.
        dir: Option<PathBuf>,
    },
    /// Remove an installed pack (DIR/plugins/NAME/).
    Remove {
        /// Pack name.
        name: String,
        /// Project folder.
        dir: Option<PathBuf>,
    },
}
