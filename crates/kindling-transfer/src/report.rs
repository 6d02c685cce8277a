//! Run reports: `config.json`, `metrics.json`, PNG learning curves and confusion matrix.

use std::path::Path;
use std::sync::Once;

use kindling_core::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use serde::Serialize;

use crate::checkpoint::write_atomic;
use crate::metrics::Metrics;
use crate::trainer::EpochRecord;

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans font with plotters (no system fonts are needed).
fn font() {
    FONT.call_once(|| {
        // The font is compiled in and valid; a failure would only lose text in the plots.
        let _ = register_font("sans-serif", FontStyle::Normal, include_bytes!("../assets/DejaVuSans.ttf"));
    });
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, None, format!("cannot draw plot: {e}"))
}

/// Writes any serialisable value as pretty JSON, atomically.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// kindling_transfer::report::write_json(&dir.path().join("x.json"), &vec![1, 2])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Config(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// One line of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// One chart of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Chart title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Lines.
    pub curves: Vec<Curve>,
}

const PALETTE: [RGBColor; 4] = [BLUE, RED, GREEN, MAGENTA];

/// Draws panels side by side into one PNG: the building block of every learning-curve figure
/// (fine-tuning, sequence models).
///
/// ```
/// use kindling_transfer::report::{Curve, Panel, plot_panels};
/// let dir = tempfile::tempdir()?;
/// let panel = Panel {
///     title: "loss".into(),
///     x_label: "epoch".into(),
///     y_label: "loss".into(),
///     curves: vec![Curve { label: "train".into(), points: vec![(1.0, 2.0), (2.0, 1.0)] }],
/// };
/// plot_panels(&dir.path().join("curves.png"), &[panel])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plot_panels(path: &Path, panels: &[Panel]) -> Result<()> {
    font();
    let root = BitMapBackend::new(path, (500 * panels.len().max(1) as u32, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        let all = panel.curves.iter().flat_map(|c| c.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y) in all.filter(|p| p.0.is_finite() && p.1.is_finite()) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let (y0, y1) = (y0.min(0.0), if y1 > y0 { y1 * 1.05 } else { y0 + 1.0 });
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(panel.x_label.as_str())
            .y_desc(panel.y_label.as_str())
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (i, curve) in panel.curves.iter().enumerate().filter(|(_, c)| !c.points.is_empty()) {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(curve.points.clone(), color.stroke_width(2)))
                .map_err(|e| plot_err(path, e))?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            if curve.points.len() <= 50 {
                chart
                    .draw_series(curve.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// Draws training/validation loss and accuracy per epoch of a fine-tuning run.
pub fn plot_curves(path: &Path, title: &str, history: &[EpochRecord]) -> Result<()> {
    let curve = |label: &str, f: &dyn Fn(&EpochRecord) -> Option<f64>| Curve {
        label: label.into(),
        points: history.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64 + 1.0, v))).collect(),
    };
    let panel = |name: &str, curves: Vec<Curve>| Panel {
        title: format!("{title}: {name}"),
        x_label: "epoch".into(),
        y_label: name.into(),
        curves,
    };
    plot_panels(
        path,
        &[
            panel(
                "loss",
                vec![curve("train", &|r| Some(r.train_loss)), curve("validation", &|r| r.val.as_ref().map(|v| v.loss))],
            ),
            panel(
                "accuracy",
                vec![
                    curve("train", &|r| Some(r.train_accuracy)),
                    curve("validation", &|r| r.val.as_ref().map(|v| v.accuracy)),
                ],
            ),
        ],
    )
}

/// Draws a confusion matrix (rows: true class, columns: predicted) as a PNG heat map with counts.
pub fn plot_confusion(path: &Path, title: &str, metrics: &Metrics) -> Result<()> {
    font();
    let n = metrics.confusion.len().max(1);
    let root = BitMapBackend::new(path, (120 + 64 * n as u32, 110 + 56 * n as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let classes: Vec<String> = metrics.per_class.iter().map(|c| c.class.chars().take(10).collect()).collect();
    let label = |i: usize| classes.get(i).cloned().unwrap_or_default();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title} (accuracy {:.1}%)", 100.0 * metrics.accuracy), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(95)
        .build_cartesian_2d((0..n).into_segmented(), (0..n).into_segmented())
        .map_err(|e| plot_err(path, e))?;
    let center = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => Some(*i),
        _ => None,
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&|v| center(v).map(label).unwrap_or_default())
        .y_label_formatter(&|v| center(v).and_then(|i| (n - 1).checked_sub(i)).map(label).unwrap_or_default())
        .x_desc("predicted")
        .y_desc("true")
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (t, row) in metrics.confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (p, &count) in row.iter().enumerate() {
            let frac = count as f64 / total;
            let shade = RGBColor(255 - (200.0 * frac) as u8, 255 - (150.0 * frac) as u8, 255);
            let y = n - 1 - t;
            let cell = [
                (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
            ];
            chart.draw_series(std::iter::once(Rectangle::new(cell, shade.filled()))).map_err(|e| plot_err(path, e))?;
            let style = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(
                    count.to_string(),
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                    style,
                )))
                .map_err(|e| plot_err(path, e))?;
        }
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// The `metrics.json` of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport<'a> {
    /// What ran (model, data, mode).
    pub run: serde_json::Value,
    /// Per-epoch values.
    pub epochs: &'a [EpochRecord],
    /// Final metrics on the test set, if evaluated.
    pub test: Option<&'a Metrics>,
    /// Total seconds.
    pub seconds: f64,
}

/// Writes `metrics.json`, `curves.png` and (with test metrics) `confusion.png` into `dir`.
pub fn write_report(dir: &Path, title: &str, report: &RunReport<'_>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_json(&dir.join("metrics.json"), report)?;
    plot_curves(&dir.join("curves.png"), title, report.epochs)?;
    if let Some(test) = report.test {
        plot_confusion(&dir.join("confusion.png"), title, test)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::ValSummary;

    #[test]
    fn report_files_are_written_and_are_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let history: Vec<EpochRecord> = (0..3)
            .map(|e| EpochRecord {
                epoch: e,
                train_loss: 1.0 / (e + 1) as f64,
                train_accuracy: 0.5 + 0.1 * e as f64,
                val: Some(ValSummary {
                    loss: 1.2 / (e + 1) as f64,
                    accuracy: 0.4 + 0.1 * e as f64,
                    top5: 0.9,
                    macro_f1: 0.4,
                }),
                head_lr: 0.01,
                frozen: vec![],
                seconds: 1.0,
            })
            .collect();
        let classes: Vec<String> = ["cat", "dog", "bird"].iter().map(|s| s.to_string()).collect();
        let test = Metrics::from_logits(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0], &[0, 1, 2], &classes, 0.7);
        let report =
            RunReport { run: serde_json::json!({"model": "x"}), epochs: &history, test: Some(&test), seconds: 3.0 };
        write_report(dir.path(), "unit", &report).unwrap();
        for f in ["curves.png", "confusion.png"] {
            let bytes = std::fs::read(dir.path().join(f)).unwrap();
            assert!(bytes.len() > 2000, "{f} is only {} bytes", bytes.len());
            assert_eq!(&bytes[1..4], b"PNG", "{f} is not a PNG");
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("metrics.json")).unwrap()).unwrap();
        assert_eq!(json["epochs"].as_array().unwrap().len(), 3);
        assert!((json["test"]["accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }
}
