//! The report page: one HTML document with its styles, charts (SVG), images (data URLs) and
//! a few lines of script inline, so it opens offline and a Content-Security-Policy forbids
//! every request it could make.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;

use super::charts::{self, Chart, Line};
use super::{model_name, ProjectData, StepRuns};
use crate::checks::fmt_num;
use crate::store::{Status, StepRecord};

/// How the page is made.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Served by the dashboard: poll `/api/stamp` and reload when the store changes.
    pub live: bool,
}

/// Curves drawn per step: the latest runs only, so a long history stays readable.
const RUNS_WITH_CURVES: usize = 3;
/// Images larger than this are linked by name instead of inlined.
const MAX_IMAGE_BYTES: u64 = 2 << 20;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn status_name(s: Option<Status>) -> &'static str {
    s.map_or("never-run", Status::as_str)
}

/// Flattens a JSON value into dotted keys, so two configs can be compared key by key.
pub fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// What defines a run (config, model, seed, pack), as flat keys.
pub fn run_settings(r: &StepRecord) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    flatten("config", &r.config, &mut m);
    flatten("model", &r.model, &mut m);
    m.insert("seed".into(), r.seed.to_string());
    m.insert("host".into(), r.host_version.clone());
    if let Some(p) = &r.pack {
        m.insert("pack".into(), format!("{}@{}", p.name, p.version));
    }
    m
}

/// A run's settings, metrics (`metrics.NAME`) and status as flat keys: what the run diff
/// compares, on the page and in its script.
fn run_flat(r: &StepRecord) -> BTreeMap<String, String> {
    let mut m = run_settings(r);
    for (k, v) in &r.metrics {
        m.insert(format!("metrics.{k}"), fmt_num(*v));
    }
    m.insert("status".into(), r.status.as_str().into());
    m
}

/// Keys whose values differ between two flat maps: (key, before, after).
pub fn diff(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let get =
                |m: &BTreeMap<String, String>| m.get(k).cloned().unwrap_or_else(|| "—".into());
            (k.clone(), get(a), get(b))
        })
        .collect()
}

/// Renders the whole page.
pub fn render(data: &ProjectData, opts: &Options) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let csp = if opts.live {
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
    } else {
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    };
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} — art report</title><style>{STYLE}</style></head><body{}>",
        esc(&data.name),
        if opts.live { " data-live=\"1\"" } else { "" }
    );
    header(&mut h, data, opts);
    timeline(&mut h, data);
    compare(&mut h, data);
    for s in &data.steps {
        step_section(&mut h, data, s);
    }
    runs_json(&mut h, data);
    let _ = writeln!(h, "<script>{SCRIPT}</script></body></html>");
    h
}

fn header(h: &mut String, data: &ProjectData, opts: &Options) {
    let last = data.invocations.last();
    let _ = write!(
        h,
        "<header><h1>{}</h1><p class=\"meta\">{} step runs in {} invocations of <code>art-host run</code>",
        esc(&data.name),
        data.num_runs(),
        data.invocations.len()
    );
    if let Some(l) = last {
        let _ = write!(
            h,
            " · latest {} ({}, {:.2} s) <span class=\"badge {}\">{}</span>",
            esc(&l.run_id),
            esc(&l.started_at),
            l.duration_s,
            if l.passed { "passed" } else { "failed" },
            if l.passed {
                "all gates passed"
            } else {
                "stopped at a gate"
            }
        );
    }
    if opts.live {
        h.push_str(
            " · <span class=\"badge live\" id=\"live\">live: reloads when the store changes</span>",
        );
    }
    h.push_str("</p>");
    if let Some(w) = &data.warning {
        let _ = write!(h, "<p class=\"warn\">{}</p>", esc(w));
    }
    for u in &data.unreadable {
        let _ = write!(
            h,
            "<p class=\"warn\">unreadable store file {} (kept, left out): {}</p>",
            esc(&u.path.display().to_string()),
            esc(&u.reason)
        );
    }
    h.push_str("</header>");
}

fn timeline(h: &mut String, data: &ProjectData) {
    h.push_str("<section id=\"timeline\"><h2>Steps</h2><ol class=\"timeline\">");
    for s in &data.steps {
        let (ok, bad) = s.counts();
        let models = s.models();
        let _ = write!(
            h,
            "<li class=\"tl {st}\" data-step=\"{id}\" data-status=\"{st}\"><a href=\"#step-{id}\">\
<b>{id}</b><small>{uses}</small><span class=\"st\">{st}</span>\
<span class=\"counts\">{ok} passed · {bad} failed</span><span class=\"models\">{m}</span></a></li>",
            st = status_name(s.latest),
            id = esc(&s.id),
            uses = esc(&s.uses),
            m = if models.is_empty() {
                "no model".to_owned()
            } else {
                esc(&models.join(", "))
            },
        );
    }
    h.push_str("</ol></section>");
}

/// Metrics worth comparing across steps: those at least two steps report.
fn comparable_metrics(data: &ProjectData) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &data.steps {
        let names: std::collections::BTreeSet<&str> = s
            .runs
            .iter()
            .flat_map(|r| r.metrics.keys().map(String::as_str))
            .filter(|k| !k.starts_with("trial."))
            .collect();
        for n in names {
            *seen.entry(n).or_default() += 1;
        }
    }
    let mut out: Vec<String> = seen
        .into_iter()
        .filter(|(_, c)| *c >= 2)
        .map(|(n, _)| n.to_owned())
        .collect();
    // The metric people ask about first leads.
    if let Some(i) = out.iter().position(|m| m == "valid.accuracy") {
        let m = out.remove(i);
        out.insert(0, m);
    }
    out
}

fn compare(h: &mut String, data: &ProjectData) {
    let metrics = comparable_metrics(data);
    if metrics.is_empty() {
        return;
    }
    h.push_str(
        "<section id=\"compare\"><h2>Compare models across steps</h2><label>metric \
<select id=\"compare-metric\">",
    );
    for m in &metrics {
        let _ = write!(h, "<option>{}</option>", esc(m));
    }
    h.push_str("</select></label>");
    for (i, m) in metrics.iter().enumerate() {
        // Only the steps that report this metric get a place on the axis.
        let steps: Vec<&StepRuns> = data
            .steps
            .iter()
            .filter(|s| s.runs.iter().any(|r| r.metrics.contains_key(m)))
            .collect();
        let names: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let mut by_model: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (x, s) in steps.iter().enumerate() {
            for r in &s.runs {
                if let Some(v) = r.metrics.get(m) {
                    by_model
                        .entry(model_name(r).unwrap_or_else(|| "no model".into()))
                        .or_default()
                        .push((x as f64, *v));
                }
            }
        }
        let chart = Chart {
            title: format!("{m}: every run of every step, by model"),
            x_label: "step".into(),
            y_label: m.clone(),
            points_only: true,
            x_names: names,
            lines: by_model
                .into_iter()
                .map(|(name, points)| Line { name, points })
                .collect(),
            ..Chart::default()
        };
        figure(h, &chart, 960, 340, Some((m, i == 0)));
    }
    h.push_str("</section>");
}

/// Writes a `<figure>` with the chart's SVG; `switch` = (metric, visible) for the compare view.
fn figure(h: &mut String, chart: &Chart, w: u32, hgt: u32, switch: Option<(&str, bool)>) {
    let Some(svg) = charts::svg(chart, w, hgt) else {
        return;
    };
    let series: Vec<&str> = chart.lines.iter().map(|l| l.name.as_str()).collect();
    let (extra, hidden) = match switch {
        Some((m, visible)) => (format!(" data-metric=\"{}\"", esc(m)), !visible),
        None => (String::new(), false),
    };
    let _ = write!(
        h,
        "<figure class=\"chart\" data-points=\"{}\" data-series=\"{}\"{extra}{}>{svg}</figure>",
        chart.num_points(),
        esc(&series.join(",")),
        if hidden { " hidden" } else { "" }
    );
}

fn x_label(series: &str) -> &'static str {
    if series == "batch_loss" {
        "optimiser step"
    } else if series.starts_with("trial") {
        "trial"
    } else if series.starts_with("class") {
        "class"
    } else if series.starts_with("train_")
        || series.starts_with("valid_")
        || series.starts_with("best_")
    {
        "epoch"
    } else {
        "x"
    }
}

/// Groups a run's curves into charts: losses together, accuracies together, the rest alone;
/// an LR sweep gets a log axis and its suggested LR.
fn run_charts(step: &StepRuns, r: &StepRecord) -> Vec<Chart> {
    let lr = r.metrics.get("lr.suggested").copied();
    let mut groups: BTreeMap<String, Vec<&crate::store::SeriesRecord>> = BTreeMap::new();
    for s in &r.series {
        let g = if lr.is_some() && s.name.contains("loss") {
            "lr".to_owned()
        } else if s.name == "batch_loss" {
            "batch_loss".to_owned()
        } else if s.name.contains("loss") && !s.name.starts_with("trial") {
            "loss".to_owned()
        } else if s.name.contains("accuracy") && !s.name.starts_with("trial") {
            "accuracy".to_owned()
        } else {
            s.name.clone()
        };
        groups.entry(g).or_default().push(s);
    }
    let order = ["loss", "accuracy", "lr", "batch_loss"];
    let mut keys: Vec<String> = groups.keys().cloned().collect();
    keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
    keys.into_iter()
        .map(|g| {
            let members = &groups[&g];
            let lines = members
                .iter()
                .map(|s| Line {
                    name: s.name.clone(),
                    points: s.xs.iter().copied().zip(s.ys.iter().copied()).collect(),
                })
                .collect();
            let first = members[0].name.as_str();
            let (x, y, log_x, marker) = match g.as_str() {
                "lr" => (
                    "learning rate (log)".to_owned(),
                    "loss".to_owned(),
                    true,
                    lr.map(|v| (v, format!("suggested lr {}", fmt_num(v)))),
                ),
                "loss" | "batch_loss" => (x_label(first).into(), "loss".into(), false, None),
                "accuracy" => (x_label(first).into(), "accuracy".into(), false, None),
                other => (x_label(other).into(), other.to_owned(), false, None),
            };
            Chart {
                title: format!("{} · run {} · {g}", step.id, r.run_id),
                x_label: x,
                y_label: y,
                log_x,
                points_only: g.starts_with("trial"),
                marker,
                lines,
                ..Chart::default()
            }
        })
        .collect()
}

fn step_section(h: &mut String, data: &ProjectData, s: &StepRuns) {
    let st = status_name(s.latest);
    let _ = write!(
        h,
        "<section class=\"step {st}\" id=\"step-{id}\" data-step=\"{id}\" data-status=\"{st}\">\
<h2><span class=\"dot\"></span>{id} <small>{uses}</small> <span class=\"badge {st}\">{st}</span></h2>",
        id = esc(&s.id),
        uses = esc(&s.uses),
    );
    if !s.in_project {
        h.push_str("<p class=\"warn\">no longer in art.toml; its stored runs are kept</p>");
    }
    let Some(last) = s.runs.last() else {
        h.push_str("<p>never run</p></section>");
        return;
    };
    let _ = write!(h, "<p class=\"summary\">{}</p>", esc(&last.summary));
    if let Some(e) = &last.error {
        let _ = write!(h, "<p class=\"error\">{}</p>", esc(e));
    }
    if !last.checks.is_empty() {
        h.push_str("<table class=\"checks\"><thead><tr><th>check (latest run)</th><th>measured vs threshold</th><th></th></tr></thead><tbody>");
        for c in &last.checks {
            let _ = write!(
                h,
                "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                if c.passed { "ok" } else { "bad" },
                esc(&c.check),
                esc(&c.message),
                if c.passed { "✓ passed" } else { "✗ failed" }
            );
        }
        h.push_str("</tbody></table>");
    }
    runs_table(h, s);
    diff_picker(h, s);
    h.push_str("<div class=\"charts\">");
    for r in s.runs.iter().rev().take(RUNS_WITH_CURVES) {
        for c in run_charts(s, r) {
            figure(h, &c, 470, 280, None);
        }
    }
    h.push_str("</div>");
    images(h, data, last);
    h.push_str("</section>");
}

fn runs_table(h: &mut String, s: &StepRuns) {
    let mut metric_names: Vec<&str> = s
        .runs
        .iter()
        .flat_map(|r| r.metrics.keys().map(String::as_str))
        .filter(|k| !k.starts_with("trial."))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    metric_names.truncate(14);
    h.push_str("<div class=\"scroll\"><table class=\"runs sortable\"><thead><tr><th>run</th><th>status</th><th>model</th><th>changed vs previous run</th>");
    for m in &metric_names {
        let _ = write!(h, "<th>{}</th>", esc(m));
    }
    h.push_str("<th>checks</th><th>duration s</th><th>seed</th><th>pack</th><th>started</th></tr></thead><tbody>");
    let mut prev: Option<BTreeMap<String, String>> = None;
    for r in &s.runs {
        let settings = run_settings(r);
        let changed = match &prev {
            None => "first run".to_owned(),
            Some(p) => {
                let d = diff(p, &settings);
                if d.is_empty() {
                    "nothing (same settings)".into()
                } else {
                    d.iter()
                        .map(|(k, a, b)| format!("{k}: {a} → {b}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            }
        };
        prev = Some(settings);
        let ok = r.checks.iter().filter(|c| c.passed).count();
        let _ = write!(
            h,
            "<tr class=\"{st}\" data-run=\"{id}\"><td><code>{id}</code></td><td>{st}</td><td>{model}</td><td class=\"diffcell\">{ch}</td>",
            st = r.status.as_str(),
            id = esc(&r.run_id),
            model = esc(&model_name(r).unwrap_or_else(|| "—".into())),
            ch = esc(&changed),
        );
        for m in &metric_names {
            match r.metrics.get(*m) {
                Some(v) => {
                    let _ = write!(h, "<td data-v=\"{v}\">{}</td>", esc(&fmt_num(*v)));
                }
                None => h.push_str("<td>—</td>"),
            }
        }
        let check_titles: Vec<String> = r
            .checks
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {}",
                    if c.passed { "✓" } else { "✗" },
                    c.check,
                    c.message
                )
            })
            .collect();
        let _ = write!(
            h,
            "<td title=\"{}\" data-v=\"{ok}\">{ok}/{}</td><td data-v=\"{d}\">{d:.3}</td><td data-v=\"{seed}\">{seed}</td><td>{pack}</td><td>{at}</td></tr>",
            esc(&check_titles.join("\n")),
            r.checks.len(),
            d = r.duration_s,
            seed = r.seed,
            pack = esc(&r
                .pack
                .as_ref()
                .map_or("built-in".to_owned(), |p| format!("{}@{}", p.name, p.version))),
            at = esc(&r.started_at),
        );
    }
    h.push_str("</tbody></table></div>");
}

/// "What changed between two runs": the latest run against the one before it, rendered now;
/// the selects let the reader pick any two (the script redraws from the embedded runs).
fn diff_picker(h: &mut String, s: &StepRuns) {
    if s.runs.len() < 2 {
        return;
    }
    let n = s.runs.len();
    let _ = write!(
        h,
        "<details class=\"diff\" data-step=\"{}\" open><summary>What changed between two runs</summary><label>base <select class=\"base\">",
        esc(&s.id)
    );
    for (i, r) in s.runs.iter().enumerate() {
        let _ = write!(
            h,
            "<option value=\"{i}\"{}>{}</option>",
            if i == n - 2 { " selected" } else { "" },
            esc(&r.run_id)
        );
    }
    h.push_str("</select></label> <label>other <select class=\"other\">");
    for (i, r) in s.runs.iter().enumerate() {
        let _ = write!(
            h,
            "<option value=\"{i}\"{}>{}</option>",
            if i == n - 1 { " selected" } else { "" },
            esc(&r.run_id)
        );
    }
    h.push_str("</select></label><table class=\"difftable\"><thead><tr><th>key</th><th>base</th><th>other</th></tr></thead><tbody>");
    let d = diff(&run_flat(&s.runs[n - 2]), &run_flat(&s.runs[n - 1]));
    if d.is_empty() {
        h.push_str("<tr><td colspan=\"3\">identical</td></tr>");
    }
    for (k, a, b) in d {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&k),
            esc(&a),
            esc(&b)
        );
    }
    h.push_str("</tbody></table></details>");
}

/// Pictures a step saved (the data-analysis sample grid), inlined as data URLs.
fn images(h: &mut String, data: &ProjectData, r: &StepRecord) {
    let dir = data.artifact_dir(r);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut pngs: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    for p in pngs {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let small = std::fs::metadata(&p).is_ok_and(|m| m.len() <= MAX_IMAGE_BYTES);
        match std::fs::read(&p).ok().filter(|_| small) {
            Some(bytes) if bytes.starts_with(b"\x89PNG") => {
                let _ = write!(
                    h,
                    "<figure class=\"image\"><img alt=\"{n}\" src=\"data:image/png;base64,{}\"><figcaption>{n}</figcaption></figure>",
                    base64::engine::general_purpose::STANDARD.encode(&bytes),
                    n = esc(&name)
                );
            }
            _ => {
                let _ = write!(
                    h,
                    "<p>artifact {} (not inlined: too large or not a PNG)</p>",
                    esc(&p.display().to_string())
                );
            }
        }
    }
}

/// The runs' flat settings and metrics, for the diff picker's script.
fn runs_json(h: &mut String, data: &ProjectData) {
    let mut all = serde_json::Map::new();
    for s in data.steps.iter().filter(|s| s.runs.len() >= 2) {
        let runs: Vec<serde_json::Value> = s
            .runs
            .iter()
            .map(|r| serde_json::json!(run_flat(r)))
            .collect();
        all.insert(s.id.clone(), serde_json::Value::Array(runs));
    }
    // `</` cannot end the script element early once escaped.
    let json = serde_json::Value::Object(all)
        .to_string()
        .replace("</", "<\\/");
    let _ = write!(
        h,
        "<script type=\"application/json\" id=\"runs-data\">{json}</script>"
    );
}

const STYLE: &str = r#"
:root{--ok:#1a7f37;--bad:#cf222e;--err:#8250df;--skip:#8c959f;--cache:#2da44e;--bg:#f6f8fa}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1280px;padding:0 18px 40px;color:#1f2328}
h1{margin:18px 0 4px}h2{margin:22px 0 8px;font-size:18px}h2 small{color:#59636e;font-weight:normal}
.meta{color:#59636e}.warn{background:#fff8c5;padding:6px 10px;border-radius:6px}.error{color:var(--bad);white-space:pre-wrap}
.badge{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;background:var(--skip)}
.badge.passed,.badge.cached{background:var(--ok)}.badge.failed{background:var(--bad)}.badge.error{background:var(--err)}.badge.live{background:#0969da}
ol.timeline{display:flex;flex-wrap:wrap;gap:6px;list-style:none;padding:0;counter-reset:s}
.tl a{display:flex;flex-direction:column;width:150px;padding:6px 8px;border-radius:6px;border-left:5px solid var(--skip);background:var(--bg);color:inherit;text-decoration:none}
.tl small,.tl .counts,.tl .models{font-size:11px;color:#59636e;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tl .st{font-size:12px;font-weight:600}
.tl.passed a,.tl.cached a{border-color:var(--ok)}.tl.failed a{border-color:var(--bad)}.tl.error a{border-color:var(--err)}
section.step{border-top:1px solid #d1d9e0;margin-top:18px}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px;background:var(--skip)}
.step.passed .dot,.step.cached .dot{background:var(--ok)}.step.failed .dot{background:var(--bad)}.step.error .dot{background:var(--err)}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{border:1px solid #d1d9e0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:var(--bg)}table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" ⇅";color:#aaa}
tr.failed td:nth-child(2),tr.error td:nth-child(2),tr.bad td:last-child{color:var(--bad);font-weight:600}
tr.ok td:last-child{color:var(--ok)}.diffcell{max-width:340px}.scroll{overflow-x:auto}
.charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:4px 0}figure.chart svg{max-width:100%;height:auto;border:1px solid #eee}
figure.image img{image-rendering:pixelated;width:480px;max-width:100%;border:1px solid #eee}
details.diff{margin:6px 0}details.diff summary{cursor:pointer;font-weight:600}
"#;

const SCRIPT: &str = r#"
(function(){
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      th.addEventListener('click',function(){
        var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var dir=th.dataset.dir==='asc'?'desc':'asc';th.dataset.dir=dir;
        rows.sort(function(a,b){
          var x=a.cells[i],y=b.cells[i];
          var xv=x.dataset.v!==undefined?parseFloat(x.dataset.v):NaN,yv=y.dataset.v!==undefined?parseFloat(y.dataset.v):NaN;
          var c=(!isNaN(xv)&&!isNaN(yv))?xv-yv:x.textContent.localeCompare(y.textContent);
          return dir==='asc'?c:-c;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var sel=document.getElementById('compare-metric');
  if(sel){sel.addEventListener('change',function(){
    document.querySelectorAll('#compare figure').forEach(function(f){f.hidden=f.dataset.metric!==sel.value;});});}
  var data=JSON.parse(document.getElementById('runs-data').textContent);
  document.querySelectorAll('details.diff').forEach(function(d){
    var runs=data[d.dataset.step]||[],a=d.querySelector('select.base'),b=d.querySelector('select.other');
    function draw(){
      var x=runs[a.value]||{},y=runs[b.value]||{},keys={},body=d.querySelector('tbody');
      Object.keys(x).concat(Object.keys(y)).forEach(function(k){keys[k]=1;});
      body.textContent='';
      Object.keys(keys).sort().forEach(function(k){
        if(x[k]===y[k])return;
        var tr=document.createElement('tr');
        [k,x[k]===undefined?'—':x[k],y[k]===undefined?'—':y[k]].forEach(function(v){var td=document.createElement('td');td.textContent=v;tr.appendChild(td);});
        body.appendChild(tr);});
      if(!body.rows.length){var tr=document.createElement('tr'),td=document.createElement('td');td.colSpan=3;td.textContent='identical';tr.appendChild(td);body.appendChild(tr);}
    }
    a.addEventListener('change',draw);b.addEventListener('change',draw);
  });
  if(document.body.dataset.live){
    var stamp=null;
    setInterval(function(){
      fetch('/api/stamp',{cache:'no-store'}).then(function(r){return r.text();}).then(function(s){
        if(stamp!==null&&s!==stamp){location.reload();}stamp=s;
      }).catch(function(){var l=document.getElementById('live');if(l)l.textContent='dashboard not reachable';});
    },2000);
  }
  // What the page fetched, for the test that proves it stays on this machine.
  document.body.dataset.resources=performance.getEntriesByType('resource').map(function(e){return e.name;}).join(' ');
  document.body.dataset.ready='1';
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn diff_names_changed_added_and_removed_keys() {
        let mut a = BTreeMap::new();
        flatten(
            "",
            &serde_json::json!({"lr": 0.01, "hidden": [128], "x": 1}),
            &mut a,
        );
        let mut b = BTreeMap::new();
        flatten(
            "",
            &serde_json::json!({"lr": 0.003, "hidden": [128], "y": "s"}),
            &mut b,
        );
        let d = diff(&a, &b);
        assert_eq!(
            d,
            vec![
                ("lr".into(), "0.01".into(), "0.003".into()),
                ("x".into(), "1".into(), "—".into()),
                ("y".into(), "—".into(), "s".into()),
            ]
        );
    }
}
