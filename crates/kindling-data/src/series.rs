//! UCR/UEA `.ts` time series (sktime's format), univariate or multivariate, equal or variable length.
//!
//! ```
//! use kindling_data::series::samples;
//! use burn::data::dataset::{Dataset, DatasetError};
//! let train = samples::japanese_vowels_train()?;
//! assert_eq!((train.len(), train.dims(), train.classes().len()), (270, 12, 9));
//! let item = train.get(0).expect("in range");
//! assert_eq!(item.step(0).len(), 12);
//! # Ok::<(), kindling_core::Error>(())
//! ```

use std::io::Read;
use std::path::Path;

use burn::data::dataset::{Dataset, DatasetError};
use kindling_core::{Error, Result};

/// One series and its class.
///
/// ```
/// use kindling_data::series::TsItem;
/// let item = TsItem { values: vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0], len: 3, dims: 2, label: 0 };
/// assert_eq!(item.step(1), &[2.0, 20.0]);
/// assert_eq!(item.dimension(1), vec![10.0, 20.0, 30.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TsItem {
    /// Values, time-major `[T][D]`: `values[t * dims + d]`.
    pub values: Vec<f32>,
    /// Number of time steps `T`.
    pub len: usize,
    /// Number of dimensions (channels) `D`.
    pub dims: usize,
    /// Class index into [`TsDataset::classes`].
    pub label: usize,
}

impl TsItem {
    /// The `D` values at time step `t`.
    pub fn step(&self, t: usize) -> &[f32] {
        &self.values[t * self.dims..(t + 1) * self.dims]
    }

    /// The `T` values of dimension `d`.
    pub fn dimension(&self, d: usize) -> Vec<f32> {
        self.values.iter().skip(d).step_by(self.dims).copied().collect()
    }
}

/// A classification dataset read from a `.ts` file.
///
/// ```
/// use kindling_data::series::TsDataset;
/// let ts = "# two cases\n@problemName toy\n@univariate false\n@dimensions 2\n@equalLength false\n\
///           @classLabel true up down\n@data\n1,2,3:4,5,6:up\n3,2:1,0:down\n";
/// let data = TsDataset::parse(ts.as_bytes(), "toy.ts")?;
/// assert_eq!(data.problem_name(), Some("toy"));
/// assert_eq!(data.items()[1].values, vec![3.0, 1.0, 2.0, 0.0]);
/// assert_eq!(data.labels(), vec![0, 1]);
/// let bad = ts.replace("3,2:1,0:down", "3,2:down");
/// let err = TsDataset::parse(bad.as_bytes(), "toy.ts").unwrap_err();
/// assert_eq!(err.to_string(), "toy.ts:9: expected 2 dimensions, found 1");
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TsDataset {
    problem_name: Option<String>,
    dims: usize,
    classes: Vec<String>,
    items: Vec<TsItem>,
}

#[derive(Default)]
struct Header {
    problem_name: Option<String>,
    missing: bool,
    univariate: Option<bool>,
    dimensions: Option<usize>,
    equal_length: bool,
    series_length: Option<usize>,
    classes: Option<Vec<String>>,
}

fn parse_bool(value: &str, key: &str, bad: &dyn Fn(String) -> Error) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(bad(format!("@{key} must be true or false, found `{other}`"))),
    }
}

impl Header {
    fn apply(&mut self, line: &str, bad: &dyn Fn(String) -> Error) -> Result<()> {
        let mut words = line[1..].split_whitespace();
        let key = words.next().unwrap_or_default().to_ascii_lowercase();
        let rest: Vec<&str> = words.collect();
        let one = |what: &str| -> Result<&str> {
            match rest[..] {
                [v] => Ok(v),
                _ => Err(bad(format!("@{key} needs one {what}, found {}", rest.len()))),
            }
        };
        match key.as_str() {
            "problemname" => self.problem_name = Some(rest.join(" ")),
            "timestamps" if parse_bool(one("value")?, &key, bad)? => {
                return Err(bad("time-stamped series (@timeStamps true) are not supported".into()));
            }
            "timestamps" => {}
            "missing" => self.missing = parse_bool(one("value")?, &key, bad)?,
            "univariate" => self.univariate = Some(parse_bool(one("value")?, &key, bad)?),
            "equallength" => self.equal_length = parse_bool(one("value")?, &key, bad)?,
            "dimensions" | "serieslength" => {
                let v = one("number")?;
                let n = v.parse::<usize>().ok().filter(|&n| n > 0);
                let n = n.ok_or_else(|| bad(format!("@{key} must be a positive integer, found `{v}`")))?;
                if key == "dimensions" { self.dimensions = Some(n) } else { self.series_length = Some(n) }
            }
            "classlabel" => match rest.split_first() {
                Some((flag, labels)) if parse_bool(flag, &key, bad)? => {
                    if labels.is_empty() {
                        return Err(bad("@classLabel true lists no class labels".into()));
                    }
                    self.classes = Some(labels.iter().map(|s| s.to_string()).collect());
                }
                _ => return Err(bad("only classification files (@classLabel true <labels>) are supported".into())),
            },
            "targetlabel" => return Err(bad("regression files (@targetLabel) are not supported".into())),
            // Other tags (e.g. @seriesLength variants of other tools) carry nothing we need.
            _ => {}
        }
        Ok(())
    }
}

impl TsDataset {
    /// Parses a `.ts` file's bytes (gzip detected from the first bytes); `origin` names it in errors.
    ///
    /// Header lines (`@problemName`, `@timeStamps`, `@missing`, `@univariate`, `@dimensions`, `@equalLength`,
    /// `@seriesLength`, `@classLabel true <labels...>`, keys case-insensitive) come before `@data`; `#` lines
    /// are comments. Each case is one line: dimensions separated by `:`, values by `,`, the class label last.
    /// Checked, with the line in the error: the number of dimensions (from `@dimensions`, `@univariate true`
    /// meaning 1, or else the first case), equal lengths across the dimensions of a case, equal lengths
    /// across cases when `@equalLength true` (and `@seriesLength`), numeric values, declared labels. A `?`
    /// value is read as `NaN` when the header says `@missing true` and is an error otherwise. Time-stamped
    /// and regression files are rejected.
    pub fn parse(bytes: &[u8], origin: impl AsRef<Path>) -> Result<Self> {
        let origin = origin.as_ref();
        let mut unzipped = Vec::new();
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut unzipped)
                .map_err(|e| Error::format(origin, None, format!("corrupt gzip stream: {e}")))?;
            &unzipped[..]
        } else {
            bytes
        };
        let text = crate::text::strict_utf8(bytes, origin)?;
        let mut header = Header::default();
        let mut in_data = false;
        let mut dims: Option<usize> = None;
        let mut items: Vec<TsItem> = Vec::new();
        for (line_no, line) in crate::text::text_lines(text) {
            let line = line.trim();
            let bad = |msg: String| Error::format(origin, Some(line_no), msg);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !in_data {
                if !line.starts_with('@') {
                    return Err(bad("data line before @data".into()));
                }
                if line[1..].trim().eq_ignore_ascii_case("data") {
                    if header.classes.is_none() {
                        return Err(bad("@data before @classLabel true <labels...>".into()));
                    }
                    dims = header.dimensions.or(header.univariate.filter(|&u| u).map(|_| 1));
                    in_data = true;
                } else {
                    header.apply(line, &bad)?;
                }
                continue;
            }
            let classes = header.classes.as_deref().unwrap_or_default();
            let item = parse_case(line, dims, header.missing, classes, &bad)?;
            dims = Some(item.dims);
            if header.equal_length {
                let expected = header.series_length.or(items.first().map(|i| i.len));
                if let Some(n) = expected.filter(|&n| n != item.len) {
                    return Err(bad(format!("@equalLength true, but this series has {} steps, not {n}", item.len)));
                }
            }
            items.push(item);
        }
        if !in_data {
            return Err(Error::format(origin, None, "no @data section"));
        }
        Ok(TsDataset {
            problem_name: header.problem_name,
            dims: dims.unwrap_or(1),
            classes: header.classes.unwrap_or_default(),
            items,
        })
    }

    /// Reads a `.ts` or `.ts.gz` file (see [`TsDataset::parse`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, path)
    }

    /// The `@problemName`, if given.
    pub fn problem_name(&self) -> Option<&str> {
        self.problem_name.as_deref()
    }

    /// Number of dimensions `D` of every series.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Class names in label order (as declared by `@classLabel`).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// All series in file order.
    pub fn items(&self) -> &[TsItem] {
        &self.items
    }

    /// All labels in file order.
    pub fn labels(&self) -> Vec<usize> {
        self.items.iter().map(|i| i.label).collect()
    }

    /// Number of series per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for i in &self.items {
            counts[i.label] += 1;
        }
        counts
    }

    /// Shortest and longest series length (`(0, 0)` when empty).
    pub fn length_range(&self) -> (usize, usize) {
        let lens = self.items.iter().map(|i| i.len);
        (lens.clone().min().unwrap_or(0), lens.max().unwrap_or(0))
    }
}

fn parse_case(
    line: &str,
    dims: Option<usize>,
    missing: bool,
    classes: &[String],
    bad: &dyn Fn(String) -> Error,
) -> Result<TsItem> {
    let (series, label) = line.rsplit_once(':').ok_or_else(|| bad("no `:` before the class label".into()))?;
    let label = label.trim();
    let label = classes
        .iter()
        .position(|c| c == label)
        .ok_or_else(|| bad(format!("class label `{label}` is not declared by @classLabel")))?;
    let parts: Vec<&str> = series.split(':').collect();
    if let Some(d) = dims.filter(|&d| d != parts.len()) {
        return Err(bad(format!("expected {d} dimensions, found {}", parts.len())));
    }
    let mut columns: Vec<Vec<f32>> = Vec::with_capacity(parts.len());
    for (d, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            return Err(bad(format!("dimension {} is empty", d + 1)));
        }
        let column = part
            .split(',')
            .map(|v| match v.trim() {
                "?" if missing => Ok(f32::NAN),
                "?" => {
                    Err(bad(format!("missing value `?` in dimension {}, but the header says @missing false", d + 1)))
                }
                t => t.parse::<f32>().map_err(|_| bad(format!("value `{t}` in dimension {} is not a number", d + 1))),
            })
            .collect::<Result<Vec<f32>>>()?;
        if let Some(first) = columns.first().filter(|f| f.len() != column.len()) {
            return Err(bad(format!(
                "dimension {} has {} values but dimension 1 has {}: the dimensions of a case must have equal length",
                d + 1,
                column.len(),
                first.len()
            )));
        }
        columns.push(column);
    }
    let (len, dims) = (columns[0].len(), columns.len());
    let mut values = Vec::with_capacity(len * dims);
    for t in 0..len {
        values.extend(columns.iter().map(|c| c[t]));
    }
    Ok(TsItem { values, len, dims, label })
}

impl Dataset<TsItem> for TsDataset {
    fn get(&self, index: usize) -> Result<TsItem, DatasetError> {
        self.items.get(index).cloned().ok_or_else(|| {
            DatasetError::new(Error::Config(format!("index {index} out of range for {} series", self.items.len())))
        })
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// The JapaneseVowels dataset (UCI; Kudo, Toyama & Shimbo 1999), compiled into the crate: 9 speakers,
/// 12 LPC cepstrum coefficients per step, 7 to 29 steps; 270 training and 370 test utterances.
/// CC BY 4.0, see `embedded/timeseries/README.md`.
pub mod samples {
    use std::path::Path;

    use kindling_core::Result;

    use super::TsDataset;

    /// The training split (270 series, 30 per speaker).
    pub fn japanese_vowels_train() -> Result<TsDataset> {
        TsDataset::parse(
            include_bytes!("../embedded/timeseries/JapaneseVowels_TRAIN.ts.gz"),
            Path::new("<embedded>/timeseries/JapaneseVowels_TRAIN.ts.gz"),
        )
    }

    /// The test split (370 series, 24 to 88 per speaker).
    pub fn japanese_vowels_test() -> Result<TsDataset> {
        TsDataset::parse(
            include_bytes!("../embedded/timeseries/JapaneseVowels_TEST.ts.gz"),
            Path::new("<embedded>/timeseries/JapaneseVowels_TEST.ts.gz"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "#c\n@problemName t\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n";

    fn err(body: &str) -> (Option<usize>, String) {
        match TsDataset::parse(format!("{HEAD}{body}").as_bytes(), "t.ts").unwrap_err() {
            Error::Format { line, message, path } => {
                assert_eq!(path, Path::new("t.ts"));
                (line, message)
            }
            other => panic!("expected a format error, got {other}"),
        }
    }

    #[test]
    fn japanese_vowels_match_the_files() {
        // Values checked with Python on the original .ts files.
        let train = samples::japanese_vowels_train().unwrap();
        assert_eq!(train.problem_name(), Some("JapaneseVowels"));
        assert_eq!(train.classes(), ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        assert_eq!(train.class_counts(), vec![30; 9]);
        assert_eq!(train.length_range(), (7, 26));
        let first = &train.items()[0];
        assert_eq!((first.len, first.dims, first.label), (20, 12, 0));
        assert_eq!(first.step(0)[..3], [1.860936, -0.207383, 0.261557]);
        assert_eq!(first.dimension(0)[..2], [1.860936, 1.891651]);
        let last = &train.items()[269];
        assert_eq!((last.len, last.label), (9, 8));
        assert_eq!(last.step(8)[11], 0.173642);
        let values: usize = train.items().iter().map(|i| i.values.len()).sum();
        assert_eq!(values, 51_288);
        let sum: f64 = train.items().iter().flat_map(|i| &i.values).map(|&v| f64::from(v)).sum();
        assert!((sum - -1057.452303).abs() < 1e-3, "{sum}");

        let test = samples::japanese_vowels_test().unwrap();
        assert_eq!(test.class_counts(), vec![31, 35, 88, 44, 29, 24, 40, 50, 29]);
        assert_eq!(test.length_range(), (7, 29));
        assert_eq!(test.items()[0].step(0)[11], 0.139754);
        assert_eq!(test.items().iter().map(|i| i.values.len()).sum::<usize>(), 68_244);
        assert_eq!(Dataset::len(&test), 370);
        assert!(test.get(370).is_err());
    }

    #[test]
    fn wrong_dimension_count_names_line() {
        let (line, msg) = err("1,2:3,4:a\n1,2:b\n");
        assert_eq!(line, Some(10));
        assert_eq!(msg, "expected 2 dimensions, found 1");
        assert_eq!(err("1:2:3:a\n").0, Some(9));
    }

    #[test]
    fn non_numeric_value_and_unequal_dimensions() {
        let (line, msg) = err("1,2:3,4:a\n\n1,x:3,4:b\n");
        assert_eq!(line, Some(11));
        assert_eq!(msg, "value `x` in dimension 1 is not a number");
        let (line, msg) = err("1,2,3:3,4:a\n");
        assert_eq!(line, Some(9));
        assert!(msg.contains("equal length"), "{msg}");
        assert!(err("1,2:,:a\n").1.contains("not a number"));
        assert!(err("1,2::a\n").1.contains("dimension 2 is empty"));
    }

    #[test]
    fn labels_and_missing_values() {
        assert_eq!(err("1,2:3,4:c\n").1, "class label `c` is not declared by @classLabel");
        assert!(err("1,2:3,4\n").1.contains("class label `3,4`"));
        assert_eq!(err("1,?:3,4:a\n").0, Some(9));
        let ts = HEAD.replace("@missing false", "@missing true") + "1,?:3,4:b\n";
        let d = TsDataset::parse(ts.as_bytes(), "t.ts").unwrap();
        assert!(d.items()[0].values[2].is_nan());
        assert_eq!(d.items()[0].label, 1);
    }

    #[test]
    fn header_rules() {
        let equal = HEAD.replace("@equalLength false", "@equalLength true");
        let e = TsDataset::parse(format!("{equal}1,2:3,4:a\n1,2,3:3,4,5:b\n").as_bytes(), "t.ts").unwrap_err();
        assert!(matches!(e, Error::Format { line: Some(10), .. }), "{e}");
        let e = TsDataset::parse(b"@classLabel true a\n1,2:a\n", "t.ts").unwrap_err();
        assert!(e.to_string().contains("before @data"), "{e}");
        let e = TsDataset::parse(b"@problemName x\n@data\n1:a\n", "t.ts").unwrap_err();
        assert!(matches!(e, Error::Format { line: Some(2), .. }), "{e}");
        let e = TsDataset::parse(b"@classLabel true a\n", "t.ts").unwrap_err();
        assert!(matches!(e, Error::Format { line: None, .. }), "{e}");
        let e = TsDataset::parse(b"@timeStamps true\n", "t.ts").unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = TsDataset::parse(b"@dimensions two\n", "t.ts").unwrap_err();
        assert!(matches!(e, Error::Format { line: Some(1), .. }), "{e}");
        let e = TsDataset::parse(b"@classLabel false\n", "t.ts").unwrap_err();
        assert!(e.to_string().contains("classification"), "{e}");
        // Univariate without @dimensions: one dimension.
        let d = TsDataset::parse(b"@univariate true\n@classLabel true 0 1\n@data\n1,2,3:1\n4,5:0\n", "u.ts").unwrap();
        assert_eq!((d.dims(), d.length_range(), d.labels()), (1, (2, 3), vec![1, 0]));
        let e = TsDataset::parse(b"@univariate true\n@classLabel true 0 1\n@data\n1,2:3,4:1\n", "u.ts").unwrap_err();
        assert!(e.to_string().contains("expected 1 dimensions"), "{e}");
    }

    #[test]
    fn gzip_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.ts");
        std::fs::write(&p, format!("{HEAD}1,2:3,4:a\n")).unwrap();
        assert_eq!(TsDataset::read(&p).unwrap().items()[0].values, vec![1.0, 3.0, 2.0, 4.0]);
        let e = TsDataset::parse(&[0x1f, 0x8b, 0, 1, 2], "x.ts.gz").unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
        assert!(matches!(TsDataset::read(dir.path().join("no.ts")).unwrap_err(), Error::Io { .. }));
        let e = TsDataset::parse(b"@classLabel true a\n@data\n1:\xff\n", "x.ts").unwrap_err();
        assert!(matches!(e, Error::Format { line: Some(3), .. }), "{e}");
    }
}
