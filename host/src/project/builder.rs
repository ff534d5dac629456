//! `Project::builder()`: a project written in code instead of `art.toml`. The builder writes
//! the same `art.toml` a user would (so `status`, `report` and a later `run` see the same
//! project) and parses it back through the same validation.

use std::path::Path;

use super::{Project, ProjectError, PROJECT_FILE};

/// Builds a project; see [`Project::builder`].
#[derive(Debug, Clone)]
pub struct ProjectBuilder {
    doc: toml::Table,
}

/// One `[[steps]]` entry; see [`ProjectBuilder::step`].
#[derive(Debug, Clone, Default)]
pub struct StepBuilder {
    table: toml::Table,
    checks: Vec<toml::Value>,
}

fn json_to_toml(v: &serde_json::Value) -> Result<toml::Value, String> {
    toml::Value::try_from(v).map_err(|e| format!("cannot express {v} in TOML: {e}"))
}

impl StepBuilder {
    /// `model = "NAME"`.
    pub fn model(mut self, name: &str) -> Self {
        self.table.insert("model".into(), name.into());
        self
    }

    /// `id = "ID"` (default: the step's name).
    pub fn id(mut self, id: &str) -> Self {
        self.table.insert("id".into(), id.into());
        self
    }

    /// Any step key (`epochs`, `lr`, `space`, `init_from`, ...) from a JSON value.
    pub fn set(mut self, key: &str, value: serde_json::Value) -> Self {
        // A value TOML cannot hold is kept as its error text, so that parsing the project
        // reports it against the key instead of dropping it silently.
        let v = json_to_toml(&value).unwrap_or_else(toml::Value::String);
        self.table.insert(key.into(), v);
        self
    }

    /// Adds a check expression (`"valid.accuracy >= 0.9"`); without any, the step's defaults.
    pub fn check(mut self, expr: &str) -> Self {
        self.checks.push(expr.into());
        self
    }
}

impl ProjectBuilder {
    pub(super) fn new(name: &str) -> Self {
        let mut project = toml::Table::new();
        project.insert("name".into(), name.into());
        let mut doc = toml::Table::new();
        doc.insert("project".into(), project.into());
        doc.insert("data".into(), toml::Table::new().into());
        Self { doc }
    }

    fn section(&mut self, name: &str) -> &mut toml::Table {
        self.doc
            .entry(name)
            .or_insert_with(|| toml::Table::new().into())
            .as_table_mut()
            .expect("sections are tables")
    }

    /// `[project] seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.section("project")
            .insert("seed".into(), (seed as i64).into());
        self
    }

    /// Any `[data]` key (`builtin`, `csv`, `valid_ratio`, `normalize`, ...).
    pub fn data(mut self, key: &str, value: serde_json::Value) -> Self {
        let v = json_to_toml(&value).unwrap_or_else(toml::Value::String);
        self.section("data").insert(key.into(), v);
        self
    }

    /// `[models.NAME]` of `kind` with the other keys from `config` (a JSON object).
    pub fn model(mut self, name: &str, kind: &str, config: serde_json::Value) -> Self {
        let mut t = match json_to_toml(&config) {
            Ok(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        t.insert("kind".into(), kind.into());
        let models = self.section("models");
        models.insert(name.into(), t.into());
        self
    }

    /// Appends a `[[steps]]` entry using `uses` (`recipe::overfit`, `pack::step`).
    pub fn step(mut self, uses: &str, f: impl FnOnce(StepBuilder) -> StepBuilder) -> Self {
        let mut s = f(StepBuilder::default());
        s.table.insert("use".into(), uses.into());
        if !s.checks.is_empty() {
            s.table
                .insert("checks".into(), toml::Value::Array(s.checks));
        }
        let steps = self
            .doc
            .entry("steps")
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let Some(a) = steps.as_array_mut() {
            a.push(s.table.into());
        }
        self
    }

    /// The `art.toml` text.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.doc).unwrap_or_default()
    }

    /// Writes `DIR/art.toml` (creating DIR) and parses it back with all of `art.toml`'s
    /// checks. An existing `art.toml` with other content is refused, never overwritten.
    pub fn write_to(&self, dir: &Path) -> Result<Project, ProjectError> {
        let path = dir.join(PROJECT_FILE);
        let text = self.to_toml();
        let fail = |message: String| ProjectError {
            path: path.clone(),
            line: 0,
            column: 0,
            message,
        };
        match std::fs::read_to_string(&path) {
            Ok(old) if old == text => {}
            Ok(_) => {
                return Err(fail(
                    "an art.toml with other content is already there; remove it or build into another folder".into(),
                ))
            }
            Err(_) => {
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, &text))
                    .map_err(|e| fail(format!("cannot write the project file: {e}")))?;
            }
        }
        Project::parse(dir, &path, text)
    }
}
