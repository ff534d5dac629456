//! Checks: the gates between steps. A check is either a short expression over the step's
//! metrics (`"valid.accuracy >= 0.9"`, `"init.loss ~= 2.3026 ± 2%"`,
//! `"valid.accuracy > @baseline.valid.accuracy"`) or a check from a pack
//! (`{ use = "lr-tools::loss-decreased", min_relative_drop = 0.2 }`).
//!
//! A metric that was not recorded fails the check with a message naming the metrics that
//! were; it never crashes the run.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A check as written in `art.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckSpec {
    /// An expression.
    Expr(String),
    /// A pack check with its config.
    Pack {
        /// `pack::check`.
        #[serde(rename = "use")]
        uses: String,
        /// The rest of the table.
        #[serde(flatten)]
        config: toml::Table,
    },
}

impl fmt::Display for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckSpec::Expr(e) => f.write_str(e),
            CheckSpec::Pack { uses, config } if config.is_empty() => f.write_str(uses),
            CheckSpec::Pack { uses, config } => {
                let parts: Vec<String> = config.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                write!(f, "{uses}({})", parts.join(", "))
            }
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `~=`: within a tolerance.
    Approx,
}

/// A value on either side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal.
    Number(f64),
    /// A metric of the step being checked.
    Metric(String),
    /// A metric of an earlier step: `@step.metric`.
    Earlier {
        /// The step id.
        step: String,
        /// The metric.
        metric: String,
    },
}

/// Allowed distance for `~=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Absolute.
    Abs(f64),
    /// Relative to the right-hand side, as a fraction.
    Rel(f64),
}

/// A parsed check expression.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckExpr {
    /// Left side: always a metric of the checked step.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// Right side.
    pub rhs: Operand,
    /// For `~=` only.
    pub tolerance: Option<Tolerance>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

fn operand(s: &str) -> Result<Operand, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Ok(Operand::Number(v));
    }
    if let Some(r) = s.strip_prefix('@') {
        let (step, metric) = r.split_once('.').ok_or_else(|| {
            format!("`{s}`: write @step-id.metric, e.g. @baseline.valid.accuracy")
        })?;
        if step.is_empty() || !is_name(metric) {
            return Err(format!("`{s}` is not a valid @step-id.metric reference"));
        }
        return Ok(Operand::Earlier {
            step: step.to_owned(),
            metric: metric.to_owned(),
        });
    }
    if is_name(s) {
        return Ok(Operand::Metric(s.to_owned()));
    }
    Err(format!(
        "`{s}` is neither a number, a metric name nor an @step.metric reference"
    ))
}

impl CheckExpr {
    /// Parses `metric OP value [± tolerance[%]]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        const OPS: [(&str, Op); 7] = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("~=", Op::Approx),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let (pos, tok, op) = OPS
            .iter()
            .filter_map(|(tok, op)| text.find(tok).map(|p| (p, *tok, *op)))
            .min_by_key(|(p, tok, _)| (*p, usize::MAX - tok.len()))
            .ok_or("expected a comparison: <, <=, >, >=, ==, != or ~=")?;
        let lhs = text[..pos].trim();
        let mut rhs = text[pos + tok.len()..].trim();
        if !is_name(lhs) {
            return Err(format!(
                "left side `{lhs}` must be a metric name such as valid.accuracy"
            ));
        }
        let mut tolerance = None;
        let tol_split = rhs.split_once('±').or_else(|| rhs.split_once("+-"));
        if let Some((value, tol)) = tol_split {
            if op != Op::Approx {
                return Err("a ± tolerance only goes with ~=".into());
            }
            let tol = tol.trim();
            tolerance = Some(match tol.strip_suffix('%') {
                Some(p) => Tolerance::Rel(
                    p.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("bad tolerance `{tol}`"))?
                        / 100.0,
                ),
                None => Tolerance::Abs(tol.parse().map_err(|_| format!("bad tolerance `{tol}`"))?),
            });
            rhs = value.trim();
        } else if op == Op::Approx {
            tolerance = Some(Tolerance::Rel(0.05));
        }
        if let Some(Tolerance::Abs(t) | Tolerance::Rel(t)) = tolerance {
            if !(t >= 0.0 && t.is_finite()) {
                return Err("the tolerance must be a non-negative number".into());
            }
        }
        Ok(CheckExpr {
            metric: lhs.to_owned(),
            op,
            rhs: operand(rhs)?,
            tolerance,
        })
    }

    /// Judges `metrics` (of the step being checked); `earlier` resolves `@step.metric`.
    pub fn evaluate(
        &self,
        step_id: &str,
        metrics: &BTreeMap<String, f64>,
        earlier: &dyn Fn(&str, &str) -> Result<f64, String>,
    ) -> (bool, String) {
        let missing = |name: &str| {
            let have: Vec<&str> = metrics.keys().map(String::as_str).collect();
            format!(
                "metric `{name}` was not recorded by step `{step_id}`{}; it recorded: {}",
                crate::project::did_you_mean(name, have.iter().copied()),
                if have.is_empty() {
                    "nothing".to_owned()
                } else {
                    have.join(", ")
                }
            )
        };
        let Some(&lhs) = metrics.get(&self.metric) else {
            return (false, missing(&self.metric));
        };
        let rhs = match &self.rhs {
            Operand::Number(v) => *v,
            Operand::Metric(m) => match metrics.get(m) {
                Some(v) => *v,
                None => return (false, missing(m)),
            },
            Operand::Earlier { step, metric } => match earlier(step, metric) {
                Ok(v) => v,
                Err(e) => return (false, e),
            },
        };
        if lhs.is_nan() || rhs.is_nan() {
            return (
                false,
                format!(
                    "{} = {lhs} and the right side = {rhs}: NaN never passes",
                    self.metric
                ),
            );
        }
        let (ok, detail) = match self.op {
            Op::Lt => (lhs < rhs, "<"),
            Op::Le => (lhs <= rhs, "<="),
            Op::Gt => (lhs > rhs, ">"),
            Op::Ge => (lhs >= rhs, ">="),
            Op::Eq => (lhs == rhs, "=="),
            Op::Ne => (lhs != rhs, "!="),
            Op::Approx => {
                let allowed = match self.tolerance.unwrap_or(Tolerance::Rel(0.05)) {
                    Tolerance::Abs(t) => t,
                    Tolerance::Rel(r) => r * rhs.abs(),
                };
                let ok = (lhs - rhs).abs() <= allowed;
                return (
                    ok,
                    format!(
                        "{} = {} is {} {} ± {} (off by {})",
                        self.metric,
                        fmt_num(lhs),
                        if ok { "within" } else { "outside" },
                        fmt_num(rhs),
                        fmt_num(allowed),
                        fmt_num((lhs - rhs).abs())
                    ),
                );
            }
        };
        let verdict = if ok {
            detail.to_owned()
        } else {
            format!("not {detail}")
        };
        (
            ok,
            format!(
                "{} = {} {verdict} {}",
                self.metric,
                fmt_num(lhs),
                fmt_num(rhs)
            ),
        )
    }
}

/// Numbers as people read them: four significant digits, scientific when tiny or huge.
pub fn fmt_num(v: f64) -> String {
    // A value that is short when written exactly (a threshold like 0.99999) is shown exactly.
    let exact = format!("{v}");
    if exact.len() <= 8 {
        return exact;
    }
    if (1e-3..1e5).contains(&v.abs()) {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn no_earlier(s: &str, m: &str) -> Result<f64, String> {
        Err(format!("no step `{s}` ran before (wanted {m})"))
    }

    #[test]
    fn parses_the_documented_forms() {
        let e = CheckExpr::parse("train.loss < 0.05").unwrap();
        assert_eq!(
            (e.metric.as_str(), e.op, e.rhs.clone()),
            ("train.loss", Op::Lt, Operand::Number(0.05))
        );
        let e = CheckExpr::parse("init.loss ~= 2.3026 ± 2%").unwrap();
        assert_eq!(e.tolerance, Some(Tolerance::Rel(0.02)));
        let e = CheckExpr::parse("valid.accuracy > @baseline.valid.accuracy").unwrap();
        assert_eq!(
            e.rhs,
            Operand::Earlier {
                step: "baseline".into(),
                metric: "valid.accuracy".into()
            }
        );
        assert_eq!(CheckExpr::parse("a.b >= 1").unwrap().op, Op::Ge);
        assert_eq!(
            CheckExpr::parse("x ~= 1 +- 0.5").unwrap().tolerance,
            Some(Tolerance::Abs(0.5))
        );
    }

    #[test]
    fn rejects_nonsense_with_reasons() {
        assert!(CheckExpr::parse("valid.accuracy")
            .unwrap_err()
            .contains("comparison"));
        assert!(CheckExpr::parse("0.5 < x")
            .unwrap_err()
            .contains("metric name"));
        assert!(CheckExpr::parse("x < 1 ± 2").unwrap_err().contains("~="));
        assert!(CheckExpr::parse("x < @nodot").is_err());
    }

    #[test]
    fn evaluates_and_explains() {
        let m = metrics(&[("init.loss", 2.31), ("valid.accuracy", 0.97)]);
        let e = CheckExpr::parse("init.loss ~= 2.3026 ± 2%").unwrap();
        assert!(e.evaluate("s", &m, &no_earlier).0);
        let e = CheckExpr::parse("valid.accuracy >= 0.98").unwrap();
        let (ok, msg) = e.evaluate("s", &m, &no_earlier);
        assert!(!ok);
        assert_eq!(msg, "valid.accuracy = 0.97 not >= 0.98");
    }

    #[test]
    fn a_missing_metric_fails_and_names_what_exists() {
        let m = metrics(&[("valid.accuracy", 0.97)]);
        let e = CheckExpr::parse("valid.acuracy > 0.5").unwrap();
        let (ok, msg) = e.evaluate("overfit", &m, &no_earlier);
        assert!(!ok);
        assert!(msg.contains("did you mean `valid.accuracy`"), "{msg}");
        assert!(msg.contains("it recorded: valid.accuracy"), "{msg}");
        let e = CheckExpr::parse("valid.accuracy > @baseline.valid.accuracy").unwrap();
        let (ok, msg) = e.evaluate("overfit", &m, &no_earlier);
        assert!(!ok && msg.contains("no step `baseline`"), "{msg}");
    }

    #[test]
    fn nan_never_passes() {
        let m = metrics(&[("x", f64::NAN)]);
        assert!(
            !CheckExpr::parse("x != 1")
                .unwrap()
                .evaluate("s", &m, &no_earlier)
                .0
        );
    }
}
