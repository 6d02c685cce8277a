//! Run reports: `config.json`, `metrics.json`, PNG learning curves and confusion matrix.

use std::path::Path;
use std::sync::Once;

use kindling_core::{Error, Result};
use plotters::prelude::*;
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

/// Draws training/validation loss and accuracy per epoch into one PNG (two panels).
pub fn plot_curves(path: &Path, title: &str, history: &[EpochRecord]) -> Result<()> {
    font();
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let panels = root.split_evenly((1, 2));
    let epochs = history.len().max(1) as f64;
    let series = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        history.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64 + 1.0, v))).collect()
    };
    type Getter = Box<dyn Fn(&EpochRecord) -> Option<f64>>;
    let specs: [(&str, Getter, Getter); 2] = [
        ("loss", Box::new(|r| Some(r.train_loss)), Box::new(|r| r.val.as_ref().map(|v| v.loss))),
        ("accuracy", Box::new(|r| Some(r.train_accuracy)), Box::new(|r| r.val.as_ref().map(|v| v.accuracy))),
    ];
    for (area, (name, train, val)) in panels.iter().zip(specs.iter()) {
        let (t, v) = (series(train.as_ref()), series(val.as_ref()));
        let ys = t.iter().chain(&v).map(|p| p.1);
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
        let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi * 1.05 + 1e-9) } else { (0.0, 1.0) };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{title}: {name}"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..epochs.max(2.0), lo..hi)
            .map_err(|e| plot_err(path, e))?;
        chart.configure_mesh().x_desc("epoch").y_desc(*name).draw().map_err(|e| plot_err(path, e))?;
        for (data, color, label) in [(t, BLUE, "train"), (v, RED, "validation")] {
            if data.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))
                .map_err(|e| plot_err(path, e))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(data.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| plot_err(path, e))?;
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

/// Draws a confusion matrix (rows: true class, columns: predicted) as a PNG heat map with counts.
pub fn plot_confusion(path: &Path, title: &str, metrics: &Metrics) -> Result<()> {
    font();
    let n = metrics.confusion.len();
    let root = BitMapBackend::new(path, (760, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let classes: Vec<String> = metrics.per_class.iter().map(|c| c.class.chars().take(12).collect()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title} (accuracy {:.1}%)", 100.0 * metrics.accuracy), ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(90)
        .y_label_area_size(100)
        .build_cartesian_2d(0..n, 0..n)
        .map_err(|e| plot_err(path, e))?;
    let label = |i: &usize| classes.get(*i).cloned().unwrap_or_default();
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&label)
        .y_label_formatter(&|i| (n - 1).checked_sub(*i).map(|j| label(&j)).unwrap_or_default())
        .x_desc("predicted")
        .y_desc("true")
        .x_label_style(("sans-serif", 12).into_font().transform(FontTransform::Rotate90))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (t, row) in metrics.confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (p, &count) in row.iter().enumerate() {
            let frac = count as f64 / total;
            let shade = RGBColor(255 - (200.0 * frac) as u8, 255 - (150.0 * frac) as u8, 255);
            let y = n - 1 - t;
            chart
                .draw_series(std::iter::once(Rectangle::new([(p, y), (p + 1, y + 1)], shade.filled())))
                .map_err(|e| plot_err(path, e))?;
            chart
                .draw_series(std::iter::once(Text::new(count.to_string(), (p, y + 1), ("sans-serif", 14).into_font())))
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
