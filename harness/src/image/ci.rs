//! dive's CI mode: the three rules of a `.dive-ci` file, their thresholds parsed the way dive
//! parses them (viper keys are case-insensitive, byte sizes as go-humanize reads them, the
//! word `disabled`), dive's defaults when a rule or the file is absent, and the same verdicts.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::tree::Efficiency;
use crate::yaml;

/// The file dive reads from the working directory when `--ci-config` is not given.
pub const DEFAULT_FILE: &str = ".dive-ci";

/// One rule's threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum Threshold {
    Disabled,
    Ratio(f64),
    Bytes(u64),
}

/// The thresholds in force, and where they came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CiConfig {
    /// The file read, or `None` for dive's defaults.
    pub source: Option<PathBuf>,
    pub lowest_efficiency: Threshold,
    pub highest_wasted_bytes: Threshold,
    pub highest_user_wasted_percent: Threshold,
}

impl Default for CiConfig {
    /// dive's defaults (`runtime/ci`): 0.9, disabled, 0.1.
    fn default() -> Self {
        CiConfig {
            source: None,
            lowest_efficiency: Threshold::Ratio(0.9),
            highest_wasted_bytes: Threshold::Disabled,
            highest_user_wasted_percent: Threshold::Ratio(0.1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CiConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: malformed YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path}: rules.{key}: {message}")]
    Value {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error("{path}: unknown rule `rules.{key}` (dive knows {known}){suggestion}")]
    UnknownRule {
        path: PathBuf,
        key: String,
        known: &'static str,
        suggestion: String,
    },
}

const KEYS: [&str; 3] = [
    "lowestEfficiency",
    "highestWastedBytes",
    "highestUserWastedPercent",
];

impl CiConfig {
    /// `explicit` when given, else `./.dive-ci` in `dir` if present, else dive's defaults.
    ///
    /// # Errors
    /// An unreadable or malformed file, or a threshold dive would call misconfigured.
    pub fn discover(explicit: Option<&Path>, dir: &Path) -> Result<CiConfig, CiConfigError> {
        match explicit {
            Some(path) => CiConfig::load(path),
            None => {
                let path = dir.join(DEFAULT_FILE);
                if path.is_file() {
                    CiConfig::load(&path)
                } else {
                    Ok(CiConfig::default())
                }
            }
        }
    }

    /// Reads a `.dive-ci` file.
    ///
    /// # Errors
    /// See [`CiConfig::parse`]; also a file that cannot be read.
    pub fn load(path: &Path) -> Result<CiConfig, CiConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| CiConfigError::Read {
            path: path.into(),
            source,
        })?;
        CiConfig::parse(&text, path)
    }

    /// Parses `.dive-ci` text: `rules: {lowestEfficiency: 0.95, highestWastedBytes: 20MB,
    /// highestUserWastedPercent: 0.20}`, each also `disabled`.
    ///
    /// # Errors
    /// Malformed YAML, an unknown rule, a ratio outside 0..1, a size go-humanize cannot read.
    pub fn parse(text: &str, path: &Path) -> Result<CiConfig, CiConfigError> {
        let documents = yaml::parse_documents(text).map_err(|e| CiConfigError::Yaml {
            path: path.into(),
            message: e.to_string(),
        })?;
        let mut config = CiConfig {
            source: Some(path.into()),
            ..CiConfig::default()
        };
        let Some(rules) = documents.first().and_then(|d| {
            d.entries()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("rules"))
                .map(|(_, v)| v)
        }) else {
            return Ok(config);
        };
        for (key, value) in rules.entries() {
            let Some(known) = KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) else {
                return Err(CiConfigError::UnknownRule {
                    path: path.into(),
                    key: key.clone(),
                    known: "lowestEfficiency, highestWastedBytes, highestUserWastedPercent",
                    suggestion: closest(key)
                        .map(|k| format!("; did you mean `{k}`?"))
                        .unwrap_or_default(),
                });
            };
            let text = value.scalar_text().unwrap_or_default();
            let bad = |message: String| CiConfigError::Value {
                path: path.into(),
                key: known,
                message,
            };
            let threshold = if text == "disabled" {
                Threshold::Disabled
            } else if *known == "highestWastedBytes" {
                Threshold::Bytes(parse_bytes(&text).map_err(bad)?)
            } else {
                let ratio: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("`{text}` is not a number (or `disabled`)")))?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(bad(format!(
                        "{text} is outside the allowed range 0..1 (a ratio: 0.9 means 90 %)"
                    )));
                }
                Threshold::Ratio(ratio)
            };
            match *known {
                "lowestEfficiency" => config.lowest_efficiency = threshold,
                "highestWastedBytes" => config.highest_wasted_bytes = threshold,
                _ => config.highest_user_wasted_percent = threshold,
            }
        }
        Ok(config)
    }

    /// dive's verdicts, one per rule, in dive's order.
    pub fn evaluate(&self, efficiency: &Efficiency) -> Vec<CiOutcome> {
        let rule = |key: &'static str, id: &'static str, threshold: &Threshold| {
            let (status, message) = match threshold {
                Threshold::Disabled => (CiStatus::Disabled, "rule disabled".to_string()),
                Threshold::Ratio(limit) if key == "lowestEfficiency" => {
                    verdict(*limit > efficiency.score, || {
                        format!(
                            "image efficiency is too low (efficiency={:.4} < threshold={limit})",
                            efficiency.score
                        )
                    })
                }
                Threshold::Ratio(limit) => verdict(*limit < efficiency.user_wasted_percent, || {
                    format!(
                        "too many bytes wasted, relative to the user bytes added (%-user-wasted-bytes={:.4} > threshold={limit})",
                        efficiency.user_wasted_percent
                    )
                }),
                Threshold::Bytes(limit) => verdict(efficiency.wasted_bytes > *limit, || {
                    format!(
                        "too many bytes wasted (wasted-bytes={} > threshold={limit})",
                        efficiency.wasted_bytes
                    )
                }),
            };
            CiOutcome {
                rule: key,
                id,
                threshold: threshold.clone(),
                status,
                message,
            }
        };
        vec![
            rule("lowestEfficiency", "DI090", &self.lowest_efficiency),
            rule("highestWastedBytes", "DI091", &self.highest_wasted_bytes),
            rule(
                "highestUserWastedPercent",
                "DI092",
                &self.highest_user_wasted_percent,
            ),
        ]
    }
}

/// A rule's status, with dive's message only when it fails.
fn verdict(failed: bool, message: impl FnOnce() -> String) -> (CiStatus, String) {
    if failed {
        (CiStatus::Fail, message())
    } else {
        (CiStatus::Pass, String::new())
    }
}

fn closest(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    KEYS.iter()
        .copied()
        .map(|k| {
            (
                crate::spelling::edit_distance(&lower, &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

/// A rule's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CiStatus {
    Pass,
    Fail,
    Disabled,
}

#[derive(Clone, Debug, Serialize)]
pub struct CiOutcome {
    /// dive's key, e.g. `lowestEfficiency`.
    pub rule: &'static str,
    /// Our rule id for the same check.
    pub id: &'static str,
    pub threshold: Threshold,
    pub status: CiStatus,
    /// dive's own wording of a failure.
    pub message: String,
}

impl Threshold {
    pub fn display(&self) -> String {
        match self {
            Threshold::Disabled => "disabled".into(),
            Threshold::Ratio(r) => r.to_string(),
            Threshold::Bytes(b) => b.to_string(),
        }
    }
}

/// A byte size as go-humanize's `ParseBytes` reads it: `20MB` is 20·10⁶, `20MiB` 20·2²⁰, a
/// bare number is bytes, case and one space between are ignored, commas in the number too.
///
/// # Errors
/// No leading number, or a unit go-humanize does not know.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let digits = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(text.len(), |(i, _)| i);
    let number: f64 = text[..digits]
        .replace(',', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 20MB, 512KiB, 1000)"))?;
    let unit = text[digits..].trim().to_ascii_lowercase();
    let scale: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "p" | "pb" => 1e15,
        "e" | "eb" => 1e18,
        "ki" | "kib" => 1024f64,
        "mi" | "mib" => 1024f64.powi(2),
        "gi" | "gib" => 1024f64.powi(3),
        "ti" | "tib" => 1024f64.powi(4),
        "pi" | "pib" => 1024f64.powi(5),
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("`{text}`: unknown size unit `{unit}`")),
    };
    let bytes = number * scale;
    if bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn efficiency(score: f64, wasted_bytes: u64, user_wasted_percent: f64) -> Efficiency {
        Efficiency {
            score,
            wasted_bytes,
            user_wasted_percent,
            size_bytes: 0,
            user_size_bytes: 0,
            hidden_bytes: 0,
            inefficient: Vec::new(),
            inefficient_total: 0,
        }
    }

    fn statuses(config: &CiConfig, e: &Efficiency) -> Vec<CiStatus> {
        config.evaluate(e).iter().map(|o| o.status).collect()
    }

    #[test]
    fn sizes_parse_as_go_humanize_does() {
        assert_eq!(parse_bytes("20MB"), Ok(20_000_000));
        assert_eq!(parse_bytes("20 MiB"), Ok(20 * 1024 * 1024));
        assert_eq!(parse_bytes("1.5gb"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("1,000"), Ok(1000));
        assert_eq!(parse_bytes("512k"), Ok(512_000));
        assert!(parse_bytes("-1BB").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }

    #[test]
    fn a_file_overrides_dives_defaults_rule_by_rule() {
        let path = Path::new(".dive-ci");
        let config = CiConfig::parse(
            "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n",
            path,
        )
        .unwrap();
        assert_eq!(config.lowest_efficiency, Threshold::Ratio(0.95));
        assert_eq!(config.highest_wasted_bytes, Threshold::Bytes(20_000_000));
        assert_eq!(config.highest_user_wasted_percent, Threshold::Ratio(0.1));
        let disabled = CiConfig::parse(
            "rules:\n  LOWESTEFFICIENCY: disabled\n  highestUserWastedPercent: \"0.2\"\n",
            path,
        )
        .unwrap();
        assert_eq!(disabled.lowest_efficiency, Threshold::Disabled);
        assert_eq!(disabled.highest_user_wasted_percent, Threshold::Ratio(0.2));
        assert_eq!(
            CiConfig::parse("", path).unwrap().source.as_deref(),
            Some(path)
        );
    }

    #[test]
    fn misconfigured_thresholds_are_errors_naming_the_rule() {
        let path = Path::new("ci.yaml");
        let error_of = |text: &str| CiConfig::parse(text, path).unwrap_err().to_string();
        let error = error_of("rules:\n  lowestEfficiency: 95\n");
        assert!(
            error.starts_with("ci.yaml: rules.lowestEfficiency: 95 is outside"),
            "{error}"
        );
        let error = error_of("rules:\n  highestWastedBytes: lots\n");
        assert!(error.contains("rules.highestWastedBytes"), "{error}");
        let error = error_of("rules:\n  lowestEfficency: 0.9\n");
        assert!(
            error.contains("did you mean `lowestEfficiency`?"),
            "{error}"
        );
        assert!(CiConfig::parse("rules: [", path).is_err());
    }

    #[test]
    fn each_rule_trips_only_past_its_threshold_like_dive() {
        let config = CiConfig {
            source: None,
            lowest_efficiency: Threshold::Ratio(0.95),
            highest_wasted_bytes: Threshold::Bytes(1000),
            highest_user_wasted_percent: Threshold::Ratio(0.2),
        };
        use CiStatus::{Disabled, Fail, Pass};
        assert_eq!(
            statuses(&config, &efficiency(0.95, 1000, 0.2)),
            [Pass, Pass, Pass]
        );
        assert_eq!(
            statuses(&config, &efficiency(0.9499, 1001, 0.2001)),
            [Fail, Fail, Fail]
        );
        let outcome = &config.evaluate(&efficiency(0.5, 0, 0.0))[0];
        assert_eq!(outcome.id, "DI090");
        assert!(
            outcome
                .message
                .contains("efficiency=0.5000 < threshold=0.95")
        );
        assert_eq!(
            statuses(&CiConfig::default(), &efficiency(0.89, u64::MAX, 0.1)),
            [Fail, Disabled, Pass]
        );
    }
}
