//! Reproducible train/validation splits.

use kindling_core::seeded_rng;
use rand::seq::SliceRandom;

/// Splits indices `0..labels.len()` into `(train, validation)`, stratified by label:
/// every class contributes `round(fraction * count)` items to validation. Deterministic for a seed;
/// both parts are returned sorted.
///
/// ```
/// let labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
/// let (train, val) = kindling_data::split::stratified_split(&labels, 0.5, 7);
/// assert_eq!(val.iter().filter(|&&i| labels[i] == 0).count(), 2);
/// assert_eq!(val.iter().filter(|&&i| labels[i] == 1).count(), 3);
/// assert_eq!(train.len() + val.len(), labels.len());
/// ```
pub fn stratified_split(labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut per_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        per_class[l].push(i);
    }
    let mut rng = seeded_rng(seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for mut idx in per_class {
        idx.shuffle(&mut rng);
        let k = ((idx.len() as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        val.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// The first `per_class` indices of each class, in order (a stratified cut).
///
/// ```
/// assert_eq!(kindling_data::split::first_per_class(&[1, 0, 1, 1, 0], 1), vec![0, 1]);
/// ```
pub fn first_per_class(labels: &[usize], per_class: usize) -> Vec<usize> {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut counts = vec![0; classes];
    labels
        .iter()
        .enumerate()
        .filter_map(|(i, &l)| {
            counts[l] += 1;
            (counts[l] <= per_class).then_some(i)
        })
        .collect()
}
