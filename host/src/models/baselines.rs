//! The dumb baselines of the recipe: a real model must beat them, and a pipeline bug often
//! shows as a model that does not.

use crate::data::Dataset;

/// Predicts the training class priors for every input.
pub struct Majority {
    log_priors: Vec<f32>,
}

impl Majority {
    /// Fits the priors (with add-one smoothing, so no class has probability zero).
    pub fn fit(train: &Dataset) -> Self {
        let counts = train.class_counts();
        let total = (train.len() + counts.len()) as f32;
        Self {
            log_priors: counts
                .iter()
                .map(|&c| ((c + 1) as f32 / total).ln())
                .collect(),
        }
    }

    /// Logits (log-priors) for every row of `data`.
    pub fn logits(&self, data: &Dataset) -> Vec<f32> {
        self.log_priors.repeat(data.len())
    }
}

/// Nearest class centroid: logits are negative squared distances to each class mean.
pub struct Prototype {
    centroids: Vec<Vec<f32>>,
}

impl Prototype {
    /// Computes one centroid per class (a class absent from training gets an unreachable one).
    pub fn fit(train: &Dataset) -> Self {
        let mut sums = vec![vec![0f32; train.num_features]; train.num_classes];
        for i in 0..train.len() {
            let c = train.labels[i] as usize;
            sums[c]
                .iter_mut()
                .zip(train.row(i))
                .for_each(|(s, v)| *s += v);
        }
        let counts = train.class_counts();
        let centroids = sums
            .into_iter()
            .zip(counts)
            .map(|(s, n)| {
                if n == 0 {
                    vec![f32::INFINITY; train.num_features]
                } else {
                    s.into_iter().map(|v| v / n as f32).collect()
                }
            })
            .collect();
        Self { centroids }
    }

    /// Logits for every row of `data`.
    pub fn logits(&self, data: &Dataset) -> Vec<f32> {
        let mut out = Vec::with_capacity(data.len() * self.centroids.len());
        for i in 0..data.len() {
            let row = data.row(i);
            for c in &self.centroids {
                let d: f32 = c.iter().zip(row).map(|(a, b)| (a - b) * (a - b)).sum();
                out.push(if d.is_finite() { -d } else { -1e30 });
            }
        }
        out
    }
}
