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
        let gz = path.extension().is_some_and(|e| e == "gz");
        Self::from_csv_bytes(&path.display().to_string(), &bytes, gz, label_first, scale)
    }

    /// CSV content already in memory; `origin` names it in errors.
    pub fn from_csv_bytes(
        origin: &str,
        bytes: &[u8],
        gz: bool,
        label_first: bool,
        scale: f32,
    ) -> Result<Self, DataError> {
        let origin = origin.to_owned();
        let bytes = bytes.to_vec();
        let text = if gz {
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

/// Reads an IDX file pair (MNIST layout: u8 images of any shape, u8 labels), plain or gzipped.
pub fn from_idx(images: &Path, labels: &Path, scale: f32) -> Result<Dataset, DataError> {
    let (dims, pixels) = read_idx(images)?;
    let (ldims, raw_labels) = read_idx(labels)?;
    let origin = images.display().to_string();
    let invalid = |reason: String| DataError::Invalid {
        origin: origin.clone(),
        reason,
    };
    if dims.len() < 2 {
        return Err(invalid(format!(
            "an image file has at least 2 dimensions, this one has {}",
            dims.len()
        )));
    }
    if ldims.len() != 1 {
        return Err(DataError::Invalid {
            origin: labels.display().to_string(),
            reason: format!("a label file has 1 dimension, this one has {}", ldims.len()),
        });
    }
    if ldims[0] != dims[0] {
        return Err(invalid(format!(
            "{} images but {} labels in {}",
            dims[0],
            ldims[0],
            labels.display()
        )));
    }
    let labels: Vec<u32> = raw_labels.iter().map(|&l| u32::from(l)).collect();
    let num_classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
    if num_classes < 2 {
        return Err(invalid("needs at least two classes".into()));
    }
    Ok(Dataset {
        name: images
            .file_name()
            .map_or(origin.clone(), |f| f.to_string_lossy().into_owned()),
        features: pixels.iter().map(|&p| f32::from(p) * scale).collect(),
        num_features: dims[1..].iter().product(),
        labels,
        num_classes,
    })
}

/// One IDX file: its dimensions and its u8 payload.
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_idx(&path.display().to_string(), raw)
}

/// An IDX file's dimensions and bytes (plain or gzipped); `origin` names it in errors.
pub fn parse_idx(origin: &str, raw: Vec<u8>) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let origin = origin.to_owned();
    let invalid = |reason: String| DataError::Invalid {
        origin: origin.clone(),
        reason,
    };
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| invalid(format!("truncated or damaged gzip data: {e}")))?;
        out
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(invalid(
            "not an IDX file: it must start with two zero bytes, a type byte and a dimension count"
                .into(),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(invalid(format!(
            "IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        )));
    }
    let ndims = usize::from(bytes[3]);
    let header = 4 + 4 * ndims;
    if ndims == 0 || bytes.len() < header {
        return Err(invalid(format!(
            "IDX header declares {ndims} dimensions but the file is too short"
        )));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| invalid("IDX dimensions overflow".into()))?;
    let payload = &bytes[header..];
    if payload.len() != expected {
        return Err(invalid(format!(
            "IDX dimensions {dims:?} need {expected} bytes of data, the file has {}",
            payload.len()
        )));
    }
    Ok((dims, payload.to_vec()))
}

/// Loads the dataset a project's `[data]` describes and splits it: source, `scale`,
/// `max_rows`, the stratified split, `normalize` (statistics from train only) and the
/// `shuffle_labels` debugging aid.
pub fn load(
    spec: &crate::project::DataSpec,
    dir: &Path,
    seed: u64,
) -> Result<(Dataset, Splits), DataError> {
    let mut data = if let Some(csv) = &spec.csv {
        Dataset::from_csv(&dir.join(csv), spec.label_column == "first", spec.scale)?
    } else if let (Some(images), Some(labels)) = (&spec.idx_images, &spec.idx_labels) {
        from_idx(&dir.join(images), &dir.join(labels), spec.scale)?
    } else {
        let mut d = Dataset::digits()?;
        if spec.scale != 1.0 {
            d.features.iter_mut().for_each(|v| *v *= spec.scale);
        }
        d
    };
    if let Some(max) = spec.max_rows.filter(|&m| m < data.len()) {
        let mut idx: Vec<usize> = (0..data.len()).collect();
        idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ 0x6d61_7872));
        idx.truncate(max);
        idx.sort_unstable();
        data = data.subset(&idx);
    }
    let mut splits = split(&data, spec.valid_ratio, seed)?;
    normalize(&mut splits, &spec.normalize);
    if spec.shuffle_labels {
        splits
            .train
            .labels
            .shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ 0x6c61_6265));
    }
    Ok((data, splits))
}

/// Per-feature normalisation with statistics of the training split, applied to both splits.
fn normalize(splits: &mut Splits, how: &str) {
    let f = splits.train.num_features;
    let n = splits.train.len().max(1) as f64;
    let (shift, scale): (Vec<f32>, Vec<f32>) = match how {
        "standard" => (0..f)
            .map(|j| {
                let col =
                    || (0..splits.train.len()).map(|i| f64::from(splits.train.features[i * f + j]));
                let mean = col().sum::<f64>() / n;
                let var = col().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                let std = var.sqrt();
                (
                    mean as f32,
                    if std > 0.0 { (1.0 / std) as f32 } else { 0.0 },
                )
            })
            .unzip(),
        "minmax" => (0..f)
            .map(|j| {
                let col = (0..splits.train.len()).map(|i| splits.train.features[i * f + j]);
                let (lo, hi) = col.fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| {
                    (l.min(v), h.max(v))
                });
                (lo, if hi > lo { 1.0 / (hi - lo) } else { 0.0 })
            })
            .unzip(),
        _ => return,
    };
    for d in [&mut splits.train, &mut splits.valid] {
        for row in d.features.chunks_exact_mut(f) {
            for ((v, s), k) in row.iter_mut().zip(&shift).zip(&scale) {
                *v = (*v - s) * k;
            }
        }
    }
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

    fn idx_bytes(magic: [u8; 4], dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut b = magic.to_vec();
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(payload);
        b
    }

    #[test]
    fn idx_files_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let img = idx_bytes(
            [0, 0, 8, 3],
            &[3, 2, 2],
            &[0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9],
        );
        let lab = idx_bytes([0, 0, 8, 1], &[3], &[0, 1, 2]);
        let (ip, lp) = (dir.path().join("i.idx"), dir.path().join("l.idx.gz"));
        std::fs::write(&ip, &img).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &lab).unwrap();
        std::fs::write(&lp, gz.finish().unwrap()).unwrap();
        let d = from_idx(&ip, &lp, 1.0 / 255.0).unwrap();
        assert_eq!((d.len(), d.num_features, d.num_classes), (3, 4, 3));
        assert_eq!(d.row(0)[1], 1.0);

        std::fs::write(&ip, idx_bytes([0, 0, 8, 3], &[3, 2, 2], &[1, 2])).unwrap();
        let e = from_idx(&ip, &lp, 1.0).unwrap_err().to_string();
        assert!(e.contains("need 12 bytes") && e.contains("i.idx"), "{e}");
        std::fs::write(&ip, b"PK\x03\x04junk").unwrap();
        let e = from_idx(&ip, &lp, 1.0).unwrap_err().to_string();
        assert!(e.contains("not an IDX file"), "{e}");
        std::fs::write(&ip, gz_truncated(&img)).unwrap();
        let e = from_idx(&ip, &lp, 1.0).unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");
    }

    fn gz_truncated(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, bytes).unwrap();
        let full = gz.finish().unwrap();
        full[..full.len() / 2].to_vec()
    }

    #[test]
    fn standard_normalisation_uses_train_statistics() {
        let d = Dataset::digits().unwrap();
        let mut s = split(&d, 0.2, 3).unwrap();
        normalize(&mut s, "standard");
        let f = s.train.num_features;
        let col: Vec<f32> = (0..s.train.len())
            .map(|i| s.train.features[i * f + 20])
            .collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        assert!(mean.abs() < 1e-4, "{mean}");
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
