//! The project file, `art.toml`: what data, which models, which steps with which checks.
//!
//! Parsing keeps the source text so that every later complaint (an unknown step, a bad config
//! key, a check that does not parse) can point at a line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checks::{CheckExpr, CheckSpec};
use crate::models::ModelSpec;

/// Name of the project file inside a project folder.
pub const PROJECT_FILE: &str = "art.toml";

mod builder;
pub use builder::{ProjectBuilder, StepBuilder};

/// A complaint about `art.toml`, located.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ProjectError {
    /// The project file.
    pub path: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// `[project]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectMeta {
    /// Shown in summaries and the store.
    pub name: String,
    /// The seed of every random choice (splits, initialisation, shuffling, dropout).
    #[serde(default)]
    pub seed: u64,
    /// Run every step even after a failed gate.
    #[serde(default)]
    pub continue_on_failure: bool,
    /// Trials (regularize, tune, squeeze) trained at once; default: the number of cores.
    /// Results do not depend on it.
    #[serde(default)]
    pub threads: Option<usize>,
}

/// `[data]`. Exactly one source: `builtin`, `csv` or `idx_images` + `idx_labels`; none means
/// the embedded `digits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A dataset shipped inside art: `digits`.
    #[serde(default)]
    pub builtin: Option<String>,
    /// A CSV file (optionally gzipped), relative to the project folder.
    #[serde(default)]
    pub csv: Option<PathBuf>,
    /// Where the label is in each CSV row: `last` (default) or `first`.
    #[serde(default = "default_label_column")]
    pub label_column: String,
    /// An IDX image file (MNIST layout, plain or gzipped).
    #[serde(default)]
    pub idx_images: Option<PathBuf>,
    /// The IDX label file that goes with `idx_images`.
    #[serde(default)]
    pub idx_labels: Option<PathBuf>,
    /// Multiplies every feature (e.g. `0.00392156` for 0..255 pixels).
    #[serde(default = "one")]
    pub scale: f32,
    /// `none`, `standard` (per-feature z-score) or `minmax` (per-feature to 0..1); the
    /// statistics come from the training split only.
    #[serde(default = "default_normalize")]
    pub normalize: String,
    /// Keep at most this many rows (a seeded random subset).
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// Fraction of each class held out for validation.
    #[serde(default = "default_valid_ratio")]
    pub valid_ratio: f64,
    /// Debugging aid: shuffle the training labels (a model can then only memorise).
    #[serde(default)]
    pub shuffle_labels: bool,
}

fn default_label_column() -> String {
    "last".into()
}
fn default_normalize() -> String {
    "none".into()
}
fn one() -> f32 {
    1.0
}
fn default_valid_ratio() -> f64 {
    0.2
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            builtin: None,
            csv: None,
            label_column: default_label_column(),
            idx_images: None,
            idx_labels: None,
            scale: 1.0,
            normalize: default_normalize(),
            max_rows: None,
            valid_ratio: default_valid_ratio(),
            shuffle_labels: false,
        }
    }
}

/// One `[[steps]]` table as written.
#[derive(Debug, Clone, Deserialize)]
struct RawStep {
    #[serde(rename = "use")]
    uses: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    checks: Option<Vec<CheckSpec>>,
    #[serde(default)]
    continue_on_failure: bool,
    #[serde(default)]
    isolate: bool,
    #[serde(default)]
    timeout: Option<f64>,
    #[serde(default)]
    memory_limit_mb: Option<u64>,
    #[serde(default)]
    init_from: Option<String>,
    #[serde(flatten)]
    config: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    project: ProjectMeta,
    #[serde(default)]
    data: DataSpec,
    #[serde(default)]
    models: BTreeMap<String, ModelSpec>,
    #[serde(default)]
    packs: BTreeMap<String, PackSettings>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

/// `[packs.NAME]`: how every step of one pack runs (a step's own keys win).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackSettings {
    /// Run this pack's steps in a child process.
    #[serde(default)]
    pub isolate: bool,
    /// Seconds an isolated step of this pack may take.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Address-space limit of its isolated steps, in MiB.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
}

/// A step of the project, with its position in the file.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// Index in `[[steps]]`.
    pub index: usize,
    /// Unique id: `id`, or the step name without its namespace.
    pub id: String,
    /// `namespace::name` as written (`recipe::` may be omitted).
    pub uses: String,
    /// Name of a `[models.NAME]` table.
    pub model: Option<String>,
    /// Checks as written; `None` means "the step's default checks".
    pub checks: Option<Vec<CheckSpec>>,
    /// Run later steps even if this one fails.
    pub continue_on_failure: bool,
    /// Run this (pack) step in a child process.
    pub isolate: bool,
    /// Seconds an isolated step may take before it is killed.
    pub timeout: Option<f64>,
    /// Address-space limit of an isolated step's process, in MiB.
    pub memory_limit_mb: Option<u64>,
    /// `init_from = "@STEP"`: start the step's model from the checkpoint an earlier step saved.
    pub init_from: Option<String>,
    /// Every other key of the table: the step's own config.
    pub config: toml::Table,
    /// Line of the `use` key.
    pub line: usize,
}

impl StepSpec {
    /// Splits `uses` into (namespace, name); a bare name is a built-in.
    pub fn namespace_and_name(&self) -> (&str, &str) {
        split_use(&self.uses)
    }
}

/// Built-in steps that do not train the step's own model (they train trials, baselines or
/// nothing), so `init_from` has nothing to start.
const TRIAL_STEPS: [&str; 6] = [
    "regularize",
    "tune",
    "squeeze",
    "evaluate-baseline",
    "input-independent-baseline",
    "data-analysis",
];

/// `ns::name` → (`ns`, `name`); `name` → (`recipe`, `name`).
pub fn split_use(uses: &str) -> (&str, &str) {
    uses.split_once("::").unwrap_or(("recipe", uses))
}

/// A parsed and structurally valid project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project folder.
    pub dir: PathBuf,
    /// The project file.
    pub path: PathBuf,
    /// `[project]`.
    pub meta: ProjectMeta,
    /// `[data]`.
    pub data: DataSpec,
    /// `[models.*]`.
    pub models: BTreeMap<String, ModelSpec>,
    /// `[packs.*]`.
    pub packs: BTreeMap<String, PackSettings>,
    /// `[[steps]]`, in order.
    pub steps: Vec<StepSpec>,
    source: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

impl Project {
    /// A project built in code: `Project::builder("name").seed(7).data("builtin",
    /// json!("digits")).model(..).step("recipe::overfit", |s| s.model("mlp")).write_to(dir)`.
    pub fn builder(name: &str) -> ProjectBuilder {
        ProjectBuilder::new(name)
    }

    /// Reads `DIR/art.toml`.
    pub fn load(dir: &Path) -> Result<Self, ProjectError> {
        let path = dir.join(PROJECT_FILE);
        let source = std::fs::read_to_string(&path).map_err(|e| ProjectError {
            path: path.clone(),
            line: 0,
            column: 0,
            message: format!(
                "cannot read the project file: {e}. Run `art-host run --demo` for an example project."
            ),
        })?;
        Self::parse(dir, &path, source)
    }

    /// Parses project text; `path` is only used in messages.
    pub fn parse(dir: &Path, path: &Path, source: String) -> Result<Self, ProjectError> {
        let raw: RawProject = toml::from_str(&source).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(&source, s.start));
            ProjectError {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut project = Project {
            dir: dir.to_owned(),
            path: path.to_owned(),
            meta: raw.project,
            data: raw.data,
            models: raw.models,
            packs: raw.packs,
            steps: Vec::new(),
            source,
        };
        project.check_data()?;
        for (name, s) in &project.packs {
            let bad = s.timeout.is_some_and(|t| !(t > 0.0 && t.is_finite()))
                || s.memory_limit_mb == Some(0);
            if bad {
                return Err(project.error_at(
                    project.span_of(&["packs", name]),
                    format!("[packs.{name}]: timeout must be a positive number of seconds and memory_limit_mb >= 1"),
                ));
            }
        }
        for (name, spec) in &project.models {
            spec.validate().map_err(|m| {
                project.error_at(
                    project.span_of(&["models", name]),
                    format!("model `{name}`: {m}"),
                )
            })?;
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, s) in raw.steps.into_iter().enumerate() {
            let line = project.step_key_line(index, "use");
            let (_, name) = split_use(&s.uses);
            let id = s.id.clone().unwrap_or_else(|| name.to_owned());
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(project.step_error(
                    index,
                    Some("id"),
                    format!("step id `{id}` may only use letters, digits, `-` and `_`"),
                ));
            }
            if let Some(first) = seen.insert(id.clone(), index) {
                return Err(project.step_error(
                    index,
                    Some("use"),
                    format!(
                        "steps {} and {} both have id `{id}`: give one of them `id = \"...\"`",
                        first + 1,
                        index + 1
                    ),
                ));
            }
            if s.timeout.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
                return Err(project.step_error(
                    index,
                    Some("timeout"),
                    "timeout must be a positive number of seconds".into(),
                ));
            }
            if s.memory_limit_mb == Some(0) {
                return Err(project.step_error(
                    index,
                    Some("memory_limit_mb"),
                    "memory_limit_mb must be >= 1".into(),
                ));
            }
            if let Some(m) = &s.model {
                if !project.models.contains_key(m) {
                    let known: Vec<&str> = project.models.keys().map(String::as_str).collect();
                    return Err(project.step_error(
                        index,
                        Some("model"),
                        format!(
                            "unknown model `{m}`{}; define it as [models.{m}] (defined: {})",
                            did_you_mean(m, known.iter().copied()),
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
            if let Some(from) = &s.init_from {
                let earlier = from
                    .strip_prefix('@')
                    .filter(|f| project.steps.iter().any(|p| p.id == *f));
                if earlier.is_none() {
                    let known: Vec<&str> = project.steps.iter().map(|p| p.id.as_str()).collect();
                    return Err(project.error_at(
                        project.step_table_span(index, Some("init_from")),
                        format!(
                            "step `{id}`: init_from = \"{from}\" must name an earlier step as \"@ID\"{}",
                            if known.is_empty() {
                                " (there is none)".to_owned()
                            } else {
                                format!(" (earlier: {})", known.join(", "))
                            }
                        ),
                    ));
                }
                let (_, name) = split_use(&s.uses);
                let builtin = !s.uses.contains("::") || s.uses.starts_with("recipe::");
                if builtin && TRIAL_STEPS.contains(&name) {
                    return Err(project.error_at(
                        project.step_table_span(index, Some("init_from")),
                        format!("step `{id}`: `{}` trains fresh models or none, so init_from does not apply; use it on overfit, overfit-one-batch or a pack step", s.uses),
                    ));
                }
            }
            if let Some(checks) = &s.checks {
                for (ci, c) in checks.iter().enumerate() {
                    if let CheckSpec::Expr(text) = c {
                        CheckExpr::parse(text).map_err(|m| {
                            project.error_at(
                                project.span_of_check(index, ci),
                                format!("step `{id}`: check `{text}`: {m}"),
                            )
                        })?;
                    }
                }
            }
            project.steps.push(StepSpec {
                index,
                id,
                uses: s.uses,
                model: s.model,
                checks: s.checks,
                continue_on_failure: s.continue_on_failure,
                isolate: s.isolate,
                timeout: s.timeout,
                memory_limit_mb: s.memory_limit_mb,
                init_from: s.init_from,
                config: s.config,
                line,
            });
        }
        Ok(project)
    }

    fn check_data(&self) -> Result<(), ProjectError> {
        let d = &self.data;
        let sources = [d.builtin.is_some(), d.csv.is_some(), d.idx_images.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let checks: [(bool, String); 8] = [
            (
                sources > 1,
                "set only one of `builtin`, `csv` and `idx_images`".into(),
            ),
            (
                d.builtin.as_deref().is_some_and(|b| b != "digits"),
                format!(
                    "unknown builtin dataset `{}`; the builtin datasets are: digits",
                    d.builtin.as_deref().unwrap_or_default()
                ),
            ),
            (
                d.idx_images.is_some() != d.idx_labels.is_some(),
                "`idx_images` and `idx_labels` go together".into(),
            ),
            (
                !(0.0..1.0).contains(&d.valid_ratio),
                format!("valid_ratio must be in [0, 1), got {}", d.valid_ratio),
            ),
            (
                d.label_column != "last" && d.label_column != "first",
                format!(
                    "label_column must be \"last\" or \"first\", got `{}`",
                    d.label_column
                ),
            ),
            (
                !["none", "standard", "minmax"].contains(&d.normalize.as_str()),
                format!(
                    "normalize must be \"none\", \"standard\" or \"minmax\", got `{}`",
                    d.normalize
                ),
            ),
            (
                !(d.scale.is_finite() && d.scale != 0.0),
                format!("scale must be a finite, non-zero number, got {}", d.scale),
            ),
            (d.max_rows == Some(0), "max_rows must be >= 1".into()),
        ];
        match checks.into_iter().find(|(bad, _)| *bad) {
            Some((_, m)) => Err(self.error_at(self.span_of(&["data"]), format!("[data]: {m}"))),
            None => Ok(()),
        }
    }

    fn doc(&self) -> Option<toml_edit::ImDocument<&str>> {
        toml_edit::ImDocument::parse(self.source.as_str()).ok()
    }

    fn span_of(&self, keys: &[&str]) -> Option<usize> {
        let doc = self.doc()?;
        let mut item = doc.as_item();
        let mut best = None;
        for k in keys {
            let table = item.as_table_like()?;
            let (key, next) = table.get_key_value(k)?;
            best = key.span().map(|s| s.start).or(best);
            item = next;
        }
        best
    }

    fn step_table_span(&self, index: usize, key: Option<&str>) -> Option<usize> {
        let doc = self.doc()?;
        let steps = doc.get("steps")?;
        if let Some(aot) = steps.as_array_of_tables() {
            let t = aot.get(index)?;
            if let Some((k, _)) = key.and_then(|k| t.get_key_value(k)) {
                return k.span().map(|s| s.start);
            }
            return t
                .get_key_value("use")
                .and_then(|(k, _)| k.span())
                .map(|s| s.start)
                .or_else(|| t.span().map(|s| s.start));
        }
        let arr = steps.as_array()?;
        let v = arr.get(index)?;
        if let (Some(k), Some(t)) = (key, v.as_inline_table()) {
            if let Some((k, _)) = t.get_key_value(k) {
                return k.span().map(|s| s.start);
            }
        }
        v.span().map(|s| s.start)
    }

    fn span_of_check(&self, step: usize, check: usize) -> Option<usize> {
        let doc = self.doc()?;
        let t = doc.get("steps")?.as_array_of_tables()?.get(step)?;
        let arr = t.get("checks")?.as_array()?;
        arr.get(check)?.span().map(|s| s.start)
    }

    fn step_key_line(&self, index: usize, key: &str) -> usize {
        self.step_table_span(index, Some(key))
            .map_or(0, |o| line_col(&self.source, o).0)
    }

    fn error_at(&self, offset: Option<usize>, message: String) -> ProjectError {
        let (line, column) = offset.map_or((0, 0), |o| line_col(&self.source, o));
        ProjectError {
            path: self.path.clone(),
            line,
            column,
            message,
        }
    }

    /// An error about step `index`, pointing at `key` in its table (or its `use`).
    pub fn step_error(&self, index: usize, key: Option<&str>, message: String) -> ProjectError {
        self.error_at(self.step_table_span(index, key), message)
    }

    /// Finds the model of a step: the named one, or the only trainable one in the project.
    pub fn model_for(&self, step: &StepSpec) -> Option<(&str, &ModelSpec)> {
        if let Some(m) = &step.model {
            return self.models.get_key_value(m).map(|(k, v)| (k.as_str(), v));
        }
        let mut trainable = self.models.iter().filter(|(_, m)| m.net().is_some());
        match (trainable.next(), trainable.next()) {
            (Some((k, v)), None) => Some((k.as_str(), v)),
            _ => None,
        }
    }
}

/// ` (did you mean `x`?)` when a candidate is close to `word`, else empty.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map_or(String::new(), |(_, c)| format!(" (did you mean `{c}`?)"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Project, ProjectError> {
        Project::parse(Path::new("."), Path::new("art.toml"), text.to_owned())
    }

    const OK: &str = r#"
[project]
name = "t"
seed = 3

[models.mlp]
kind = "mlp"
hidden = [16]

[[steps]]
use = "recipe::overfit"
model = "mlp"
epochs = 2
checks = ["valid.accuracy >= 0.5"]
"#;

    #[test]
    fn a_good_project_parses_with_defaults() {
        let p = parse(OK).unwrap();
        assert_eq!(p.meta.seed, 3);
        assert_eq!(p.data, DataSpec::default());
        assert_eq!(p.steps[0].id, "overfit");
        assert_eq!(p.steps[0].line, 11);
        assert_eq!(
            p.steps[0].config.get("epochs").and_then(|v| v.as_integer()),
            Some(2)
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_line() {
        let e = parse(&OK.replace("seed = 3", "seed = 3\nsede = 4")).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("unknown field `sede`"), "{e}");
        let e = parse(&OK.replace("seed = 3", "seed = \"three\"")).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        let e = parse(&OK.replace("hidden = [16]", "hidden = 16")).unwrap_err();
        assert!(e.line >= 6 && e.line <= 8, "{e}");
    }

    #[test]
    fn unknown_model_and_bad_check_are_located() {
        let e = parse(&OK.replace("model = \"mlp\"", "model = \"mpl\"")).unwrap_err();
        assert_eq!(e.line, 12, "{e}");
        assert!(e.message.contains("did you mean `mlp`"), "{e}");
        let e = parse(&OK.replace(">= 0.5", ">= 0.5 banana")).unwrap_err();
        assert_eq!(e.line, 14, "{e}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("overfti", ["overfit", "tune"]),
            " (did you mean `overfit`?)"
        );
        assert_eq!(did_you_mean("zzz", ["overfit"]), "");
    }
}
