//! Datasets: the embedded `digits`, CSV files, a seeded stratified train/valid split and
//! batching. Everything is held in memory as row-major `f32`.

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

/// The UCI optical digits test partition (CC BY 4.0, Alpaydin & Kaynak), as shipped by
/// scikit-learn. See `host/data/README.md`.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Attribution that must travel with the embedded dataset.
pub const DIGITS_ATTRIBUTION: &str = "digits: UCI Optical Recognition of Handwritten Digits, \
E. Alpaydin & C. Kaynak (1998), CC BY 4.0, https://archive.ics.uci.edu/dataset/80";

/// Why a dataset could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read dataset {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{origin}, line {line}: {reason}")]
    Parse {
        /// The file or builtin name.
        origin: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The dataset cannot be used as asked.
    #[error("dataset {origin}: {reason}")]
    Invalid {
        /// The file or builtin name.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// A labelled table of examples.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Name shown to users.
    pub name: String,
    /// `len * num_features` values.
    pub features: Vec<f32>,
    /// One class per row.
    pub labels: Vec<u32>,
    /// Features per row.
    pub num_features: usize,
    /// Number of classes (max label + 1).
    pub num_classes: usize,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.num_features..(i + 1) * self.num_features]
    }

    /// The embedded digits dataset, pixels scaled to `0..=1`.
    pub fn digits() -> Result<Self, DataError> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
            .read_to_string(&mut text)
            .map_err(|e| DataError::Invalid {
                origin: "digits".into(),
                reason: format!("embedded archive is damaged: {e}"),
            })?;
        let mut d = parse_csv("digits", &text, false)?;
        d.features.iter_mut().for_each(|v| *v /= 16.0);
        Ok(d)
    }

    /// A CSV file (optionally `.gz`), label in the last column unless `label_first`.
    pub fn from_csv(path: &Path, label_first: bool, scale: f32) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })?;
        let origin = path.display().to_string();
        let text = if path.extension().is_some_and(|e| e == "gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .map_err(|e| DataError::Invalid {
                    origin: origin.clone(),
                    reason: format!("not a readable gzip file of UTF-8 text: {e}"),
                })?;
            s
        } else {
            String::from_utf8(bytes).map_err(|_| DataError::Invalid {
                origin: origin.clone(),
                reason: "not UTF-8 text".into(),
            })?
        };
        let mut d = parse_csv(&origin, &text, label_first)?;
        if scale != 1.0 {
            d.features.iter_mut().for_each(|v| *v *= scale);
        }
        Ok(d)
    }

    /// A digest of the data (names excluded): part of every run fingerprint.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update((self.num_features as u64).to_le_bytes());
        for v in &self.features {
            h.update(v.to_le_bytes());
        }
        for l in &self.labels {
            h.update(l.to_le_bytes());
        }
        format!("{:x}", h.finalize())
    }

    /// The rows `idx` as a new dataset (same classes).
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(idx.len() * self.num_features);
        for &i in idx {
            features.extend_from_slice(self.row(i));
        }
        Dataset {
            name: self.name.clone(),
            features,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            num_features: self.num_features,
            num_classes: self.num_classes,
        }
    }

    /// Count of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.num_classes];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

fn parse_csv(origin: &str, text: &str, label_first: bool) -> Result<Dataset, DataError> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut width = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |reason: String| DataError::Parse {
            origin: origin.to_owned(),
            line: n + 1,
            reason,
        };
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() < 2 {
            return Err(err("need at least one feature and a label".into()));
        }
        match width {
            None => width = Some(cells.len()),
            Some(w) if w != cells.len() => {
                return Err(err(format!(
                    "{} columns, earlier rows have {w}",
                    cells.len()
                )))
            }
            _ => {}
        }
        let (label, feats) = if label_first {
            (cells[0], &cells[1..])
        } else {
            (cells[cells.len() - 1], &cells[..cells.len() - 1])
        };
        let label: u32 = label
            .parse()
            .map_err(|_| err(format!("label `{label}` is not a non-negative integer")))?;
        labels.push(label);
        for (c, cell) in feats.iter().enumerate() {
            let v: f32 = cell
                .parse()
                .map_err(|_| err(format!("column {}: `{cell}` is not a number", c + 1)))?;
            if !v.is_finite() {
                return Err(err(format!("column {}: value is not finite", c + 1)));
            }
            features.push(v);
        }
    }
    let Some(width) = width else {
        return Err(DataError::Invalid {
            origin: origin.into(),
            reason: "no rows".into(),
        });
    };
    let num_classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
    if num_classes < 2 {
        return Err(DataError::Invalid {
            origin: origin.into(),
            reason: "needs at least two classes".into(),
        });
    }
    Ok(Dataset {
        name: Path::new(origin)
            .file_name()
            .map_or(origin.to_owned(), |f| f.to_string_lossy().into_owned()),
        features,
        labels,
        num_features: width - 1,
        num_classes,
    })
}

/// A train/valid split of one dataset.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Rows to learn from.
    pub train: Dataset,
    /// Rows to judge with.
    pub valid: Dataset,
}

/// Splits stratified by class, shuffled with `seed`: each class contributes `valid_ratio` of
/// its rows to the validation split, so small classes are never missing from it.
pub fn split(data: &Dataset, valid_ratio: f64, seed: u64) -> Result<Splits, DataError> {
    if !(0.0..1.0).contains(&valid_ratio) {
        return Err(DataError::Invalid {
            origin: data.name.clone(),
            reason: format!("valid_ratio must be in [0, 1), got {valid_ratio}"),
        });
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); data.num_classes];
    for (i, &l) in data.labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rows.shuffle(&mut rng);
        let n_valid = (rows.len() as f64 * valid_ratio).round() as usize;
        valid.extend_from_slice(&rows[..n_valid]);
        train.extend_from_slice(&rows[n_valid..]);
    }
    train.shuffle(&mut rng);
    valid.shuffle(&mut rng);
    if train.is_empty() {
        return Err(DataError::Invalid {
            origin: data.name.clone(),
            reason: "the training split is empty".into(),
        });
    }
    Ok(Splits {
        train: data.subset(&train),
        valid: data.subset(&valid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_the_documented_shape_and_counts() {
        let d = Dataset::digits().unwrap();
        assert_eq!((d.len(), d.num_features, d.num_classes), (1797, 64, 10));
        assert_eq!(
            d.class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert!(d.features.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn split_is_stratified_seeded_and_disjoint() {
        let d = Dataset::digits().unwrap();
        let a = split(&d, 0.2, 7).unwrap();
        let b = split(&d, 0.2, 7).unwrap();
        let c = split(&d, 0.2, 8).unwrap();
        assert_eq!(a.valid.labels, b.valid.labels);
        assert_ne!(a.valid.features, c.valid.features);
        assert_eq!(a.train.len() + a.valid.len(), d.len());
        for (count, all) in a.valid.class_counts().iter().zip(d.class_counts()) {
            assert_eq!(*count, (all as f64 * 0.2).round() as usize);
        }
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = parse_csv("x.csv", "1,2,0\n3,oops,1\n", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv, line 2: column 2: `oops` is not a number"
        );
        let e = parse_csv("x.csv", "1,2,0\n3,1\n", false).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
