//! Charts drawn server-side as SVG with `plotters`, so the report needs no script to show
//! them and stays readable in any browser, offline, forever.

use plotters::prelude::*;

/// One named line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend entry.
    pub name: String,
    /// (x, y) points; non-finite ones are left out.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Caption above the plot.
    pub title: String,
    /// Axis labels.
    pub x_label: String,
    /// Axis labels.
    pub y_label: String,
    /// Plot x on a log10 scale (an LR sweep).
    pub log_x: bool,
    /// Markers only, no connecting lines (values of different runs, not a curve).
    pub points_only: bool,
    /// Labels for integer x positions (categorical axis), if any.
    pub x_names: Vec<String>,
    /// A vertical marker: (x, label).
    pub marker: Option<(f64, String)>,
    /// The lines.
    pub lines: Vec<Line>,
}

impl Chart {
    /// How many finite points the chart shows.
    pub fn num_points(&self) -> usize {
        self.lines
            .iter()
            .map(|l| l.points.iter().filter(finite).count())
            .sum()
    }
}

fn finite(p: &&(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Colours that stay apart for the colour-blind (Okabe–Ito).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return None;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    Some((lo - pad, hi + pad))
}

/// Renders `chart` as an SVG document of `width` x `height` pixels; `None` when it has no
/// finite point to show.
pub fn svg(chart: &Chart, width: u32, height: u32) -> Option<String> {
    let tx = |x: f64| if chart.log_x { x.log10() } else { x };
    let lines: Vec<(String, Vec<(f64, f64)>)> = chart
        .lines
        .iter()
        .map(|l| {
            let pts = l
                .points
                .iter()
                .filter(finite)
                .filter(|p| !chart.log_x || p.0 > 0.0)
                .map(|&(x, y)| (tx(x), y))
                .collect();
            (l.name.clone(), pts)
        })
        .filter(|(_, p): &(String, Vec<(f64, f64)>)| !p.is_empty())
        .collect();
    let (x0, x1) = range(lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)))?;
    let (y0, y1) = range(lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)))?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut cc = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, y0..y1)
            .ok()?;
        let names = &chart.x_names;
        let x_fmt = |v: &f64| {
            if chart.log_x {
                format!("{:.0e}", 10f64.powf(*v))
            } else if !names.is_empty() {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            } else {
                format!("{v:.3}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_owned()
            }
        };
        cc.configure_mesh()
            .x_desc(&chart.x_label)
            .y_desc(&chart.y_label)
            .x_label_formatter(&x_fmt)
            .x_labels(if names.is_empty() {
                8
            } else {
                names.len().max(2)
            })
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 11))
            .draw()
            .ok()?;
        for (i, (name, pts)) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let style = ShapeStyle::from(&color).stroke_width(2);
            let drawn = if chart.points_only || pts.len() == 1 {
                cc.draw_series(pts.iter().map(|&p| Circle::new(p, 4, style.filled())))
                    .ok()?
            } else {
                cc.draw_series(LineSeries::new(pts.iter().copied(), style))
                    .ok()?
            };
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 16, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            });
        }
        if let Some((x, label)) = &chart.marker {
            let x = tx(*x);
            if x.is_finite() {
                let style = ShapeStyle::from(&BLACK).stroke_width(1);
                cc.draw_series(std::iter::once(PathElement::new(
                    vec![(x, y0), (x, y1)],
                    style,
                )))
                .ok()?
                .label(label.as_str())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
            }
        }
        let corner = if chart.y_label.contains("accuracy") {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        cc.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 11))
            .position(corner)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_lines_and_skips_non_finite_points() {
        let chart = Chart {
            title: "loss".into(),
            lines: vec![Line {
                name: "train".into(),
                points: vec![(1.0, 2.0), (2.0, f64::NAN), (3.0, 0.5)],
            }],
            ..Chart::default()
        };
        assert_eq!(chart.num_points(), 2);
        let s = svg(&chart, 400, 300).expect("drawn");
        assert!(s.starts_with("<svg"), "{}", &s[..50]);
        assert!(
            s.contains("polyline") || s.contains("<path"),
            "no line drawn"
        );
        assert!(s.contains("train"));
    }

    #[test]
    fn nothing_to_draw_is_none() {
        let chart = Chart {
            lines: vec![Line {
                name: "x".into(),
                points: vec![(f64::NAN, 1.0)],
            }],
            ..Chart::default()
        };
        assert!(svg(&chart, 400, 300).is_none());
        let log = Chart {
            log_x: true,
            lines: vec![Line {
                name: "x".into(),
                points: vec![(1e-4, 1.0), (1e-2, 0.5), (0.0, 0.1)],
            }],
            marker: Some((1e-3, "suggested".into())),
            ..Chart::default()
        };
        let s = svg(&log, 400, 300).expect("drawn");
        assert!(s.contains("1e-"), "log axis labels");
    }
}
