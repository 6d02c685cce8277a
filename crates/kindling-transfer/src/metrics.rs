//! Classification metrics: loss, top-1/top-5 accuracy, per-class precision/recall/F1, confusion matrix.

use serde::{Deserialize, Serialize};

/// Per-class precision, recall, F1 and support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// Class name.
    pub class: String,
    /// TP / (TP + FP); 0 when nothing was predicted as this class.
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of true examples of the class.
    pub support: usize,
}

/// Metrics of a model on a labelled set.
///
/// ```
/// use kindling_transfer::Metrics;
/// let classes = vec!["a".to_string(), "b".to_string()];
/// // two examples: logits rows, true labels
/// let m = Metrics::from_logits(&[2.0, 0.0, 0.0, 1.0], &[0, 0], &classes, 0.5);
/// assert_eq!(m.accuracy, 0.5);
/// assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 0]]);
/// assert_eq!(m.per_class[0].recall, 0.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean loss.
    pub loss: f64,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Top-5 accuracy (top-k with k = min(5, classes)).
    pub top5: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Per-class scores.
    pub per_class: Vec<ClassScore>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Number of examples.
    pub count: usize,
}

impl Metrics {
    /// Computes the metrics from row-major logits `[N, C]`, labels and the mean loss.
    pub fn from_logits(logits: &[f32], labels: &[usize], classes: &[String], loss: f64) -> Self {
        let c = classes.len();
        let k = c.min(5);
        let mut confusion = vec![vec![0usize; c]; c];
        let mut top5_hits = 0usize;
        for (row, &y) in logits.chunks(c).zip(labels) {
            let top = kindling_core::tensor::topk(row, k);
            confusion[y][top[0]] += 1;
            top5_hits += usize::from(top.contains(&y));
        }
        let n = labels.len();
        let correct: usize = (0..c).map(|i| confusion[i][i]).sum();
        let per_class: Vec<ClassScore> = (0..c)
            .map(|i| {
                let tp = confusion[i][i] as f64;
                let predicted: usize = (0..c).map(|r| confusion[r][i]).sum();
                let support: usize = confusion[i].iter().sum();
                let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
                let recall = if support > 0 { tp / support as f64 } else { 0.0 };
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                ClassScore { class: classes[i].clone(), precision, recall, f1, support }
            })
            .collect();
        let macro_f1 = per_class.iter().map(|s| s.f1).sum::<f64>() / c.max(1) as f64;
        let div = n.max(1) as f64;
        Metrics {
            loss,
            accuracy: correct as f64 / div,
            top5: top5_hits as f64 / div,
            macro_f1,
            per_class,
            confusion,
            count: n,
        }
    }
}
