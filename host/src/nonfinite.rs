//! JSON has no NaN or infinity, and serde_json writes them as `null`, which then fails to read
//! back as a number: one NaN metric would make a whole stored run unreadable. Metrics and
//! curves are therefore written with non-finite values as the strings `"NaN"`, `"inf"` and
//! `"-inf"`, and read back from those (or from `null`, as NaN).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Num {
    Finite(f64),
    Text(String),
    Null(()),
}

fn to_num(v: f64) -> Num {
    if v.is_finite() {
        Num::Finite(v)
    } else if v.is_nan() {
        Num::Text("NaN".into())
    } else if v > 0.0 {
        Num::Text("inf".into())
    } else {
        Num::Text("-inf".into())
    }
}

fn from_num<E: serde::de::Error>(n: Num) -> Result<f64, E> {
    match n {
        Num::Finite(v) => Ok(v),
        Num::Null(()) => Ok(f64::NAN),
        Num::Text(t) => match t.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(E::custom(format!("`{other}` is not a number"))),
        },
    }
}

/// For `BTreeMap<String, f64>` fields.
pub mod map {
    use super::*;

    /// Writes finite values as numbers, others as text.
    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let out: BTreeMap<&String, Num> = m.iter().map(|(k, v)| (k, to_num(*v))).collect();
        out.serialize(s)
    }

    /// Reads numbers, `"NaN"`, `"inf"`, `"-inf"` and `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let raw = BTreeMap::<String, Num>::deserialize(d)?;
        raw.into_iter()
            .map(|(k, n)| Ok((k, from_num(n)?)))
            .collect()
    }
}

/// For `Vec<f64>` fields.
pub mod vec {
    use super::*;

    /// Writes finite values as numbers, others as text.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let out: Vec<Num> = v.iter().map(|x| to_num(*x)).collect();
        out.serialize(s)
    }

    /// Reads numbers, `"NaN"`, `"inf"`, `"-inf"` and `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let raw = Vec::<Num>::deserialize(d)?;
        raw.into_iter().map(from_num::<D::Error>).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug)]
    struct R {
        #[serde(with = "map")]
        m: BTreeMap<String, f64>,
        #[serde(with = "vec")]
        v: Vec<f64>,
    }

    #[test]
    fn non_finite_values_survive_a_round_trip() {
        let r = R {
            m: [
                ("a".to_string(), f64::NAN),
                ("b".to_string(), 1.5),
                ("c".to_string(), f64::NEG_INFINITY),
            ]
            .into(),
            v: vec![f64::INFINITY, 2.0],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"m":{"a":"NaN","b":1.5,"c":"-inf"},"v":["inf",2.0]}"#
        );
        let back: R = serde_json::from_str(&json).unwrap();
        assert!(back.m["a"].is_nan() && back.m["b"] == 1.5 && back.m["c"] == f64::NEG_INFINITY);
        assert_eq!(back.v[0], f64::INFINITY);
        let old: R = serde_json::from_str(r#"{"m":{"a":null},"v":[null]}"#).unwrap();
        assert!(old.m["a"].is_nan() && old.v[0].is_nan());
    }
}
