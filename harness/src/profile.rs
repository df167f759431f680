//! Profiles: every name, port, path, label, bound and threshold a check relies on.
//!
//! Two ship built in (`reference`, `flask-mongo`). A user's `deploycheck.toml` sets only what
//! differs and names its base with `extends` (default `reference`); a key the base does not
//! have is a mistake, reported with its path, the file, and the closest known key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// File looked up in the current directory when no `--profile` is given.
pub const DEFAULT_FILE: &str = "deploycheck.toml";

const BUILT_IN: [(&str, &str); 2] = [
    ("reference", include_str!("../profiles/reference.toml")),
    ("flask-mongo", include_str!("../profiles/flask-mongo.toml")),
];

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub description: String,
    pub app: App,
    pub database: Database,
    pub hpa: Hpa,
    pub load: Load,
    pub cluster: ClusterSettings,
    pub strategy: Strategy,
    pub monitoring: Monitoring,
}

/// `[monitoring]`: the app's metrics and the Prometheus and Grafana that should show them
/// (`deploycheck metrics`, the `api` metrics check, the `monitoring` scenario, lint's
/// monitoring rules).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// The app's metrics route; empty: the app exposes none and every metrics check is skipped.
    pub metrics_path: String,
    /// The counter of HTTP requests served, which must rise by the requests deploycheck sends.
    pub request_counter: String,
    /// The metric families the app documents; dashboards must query only these (`lint
    /// --metrics FILE` replaces them with the families of a real sample). Empty: unknown.
    pub series: Vec<String>,
    /// The Prometheus Service in the app's namespace; empty: none, its checks are skipped.
    pub prometheus_service: String,
    pub prometheus_port: u16,
    /// Prometheus's scrape interval: targets must be `up` within two of them.
    #[serde(deserialize_with = "duration")]
    pub scrape_interval: std::time::Duration,
    /// The Grafana Service in the app's namespace; empty: none, its checks are skipped.
    pub grafana_service: String,
    pub grafana_port: u16,
    /// The app dashboard's uid or title; empty: every dashboard whose queries name the
    /// request counter.
    pub dashboard: String,
}

/// `[strategy]`: which release strategy the `bluegreen` and `canary` scenarios prove, and how.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub kind: StrategyKind,
    /// Live (blue-green) or stable (canary) first; empty: derived from the objects.
    pub deployments: Vec<String>,
    /// The pod label that tells the sides apart; empty: derived.
    pub label: String,
    /// The response header naming the release that answered; empty: inferred from endpoints.
    pub version_header: String,
    pub preview_service: String,
    pub probe_rate: u32,
    #[serde(deserialize_with = "duration")]
    pub follow: std::time::Duration,
    pub canary_samples: u32,
    pub zero_failed_requests: Requirement,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    Auto,
    BlueGreen,
    Canary,
    None,
}

/// Deadlines and knobs of the cluster scenarios.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    #[serde(deserialize_with = "duration")]
    pub rollout: std::time::Duration,
    #[serde(deserialize_with = "duration")]
    pub recovery: std::time::Duration,
    #[serde(deserialize_with = "duration")]
    pub hpa_scale_up: std::time::Duration,
    #[serde(deserialize_with = "duration")]
    pub hpa_scale_down: std::time::Duration,
    #[serde(deserialize_with = "duration")]
    pub namespace_delete: std::time::Duration,
    pub helper_image: String,
    /// The harness image the in-cluster load workers run (a Job); empty: load through
    /// port-forwards only. Name it for air-gapped clusters (`kind load docker-image` it first).
    #[serde(default = "default_load_image")]
    pub load_image: String,
    /// In-cluster HPA load: worker pods, and the connections of all of them together at each
    /// step of the ramp (each step lasts `hpa_load_step`).
    #[serde(default = "default_load_pods")]
    pub hpa_load_pods: usize,
    #[serde(default = "default_load_ramp")]
    pub hpa_load_ramp: Vec<usize>,
    #[serde(default = "default_load_step", deserialize_with = "duration")]
    pub hpa_load_step: std::time::Duration,
    pub db_down: DbDown,
    pub hpa_load_paths: Vec<String>,
    pub hpa_load_workers: usize,
    pub hpa_seed_documents: u32,
    /// Per fault scenario with a prober, whether a failed request fails it or only warns.
    pub zero_failed_requests: ZeroFailedRequests,
}

/// `deploycheck:<this version>`: the image `harness/Dockerfile` builds and `ci/kind.sh` loads.
pub fn default_load_image() -> String {
    format!("deploycheck:{}", env!("CARGO_PKG_VERSION"))
}

fn default_load_pods() -> usize {
    2
}

/// Measured on a 2-core node (issue 10): one pod with 64 connections moved two 200m-request
/// pods of the reference app to ~175% of their requests; the ramp stops earlier when the HPA
/// reacts.
fn default_load_ramp() -> Vec<usize> {
    vec![8, 16, 32, 64]
}

fn default_load_step() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

/// Whether a best practice is a requirement of this profile or advice.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// Not following it fails the scenario.
    Required,
    /// Not following it makes the scenario a warning with the fix.
    Advised,
}

/// `cluster.zero_failed_requests`: for each scenario that deletes or restarts app pods while a
/// prober runs, whether zero failed requests is required. A challenge asks that pods are
/// replaced and stay Ready; an app without graceful shutdown still loses a request or two
/// per deleted pod, which is worth fixing but not what the challenge asked.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZeroFailedRequests {
    pub replicas: Requirement,
    pub rolling: Requirement,
}

impl ZeroFailedRequests {
    /// The rule for a scenario id; scenarios this table does not name require zero.
    pub fn get(&self, scenario: &str) -> Requirement {
        match scenario {
            "replicas" => self.replicas,
            "rolling" => self.rolling,
            _ => Requirement::Required,
        }
    }
}

/// How the app shows that its database is gone.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
pub enum DbDown {
    /// Readiness fails, so the Service stops sending it traffic.
    #[serde(rename = "unready")]
    Unready,
    /// Pods stay ready and answer 503.
    #[serde(rename = "503")]
    ServiceUnavailable,
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// `500ms`, `10s`, `2m`, or a bare number of seconds: the durations of profiles and flags.
///
/// # Errors
/// Not a number, an unknown unit, or not more than zero.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| text.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 10s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ));
        }
    };
    if seconds <= 0.0 || !seconds.is_finite() {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub deployment: String,
    pub service: String,
    pub container: String,
    pub port: u16,
    pub node_port: u16,
    pub labels: BTreeMap<String, String>,
    pub health_path: String,
    /// Empty when the app has no readiness endpoint.
    pub ready_path: String,
    pub greeting_contains: String,
    pub min_replicas: u32,
    pub resources: Resources,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub max_limits_cpu: String,
    pub max_limits_memory: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub statefulset: String,
    pub service: String,
    pub port: u16,
    pub pod: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hpa {
    pub name: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub cpu_utilization: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub users: u32,
    pub hatch_rate: u32,
    pub duration: String,
    pub mix: String,
    /// Gates per route, e.g. `GET /:p95<50ms,POST /data:p95<250ms,errors<1%`
    /// (see [`crate::load::parse_slos`]).
    pub slo: String,
    /// Requests per second across every user for `deploycheck load`; 0: as fast as they go.
    pub rate: u32,
    /// How the mix reads `GET /data`: `whole`, or `PARAM=SIZE` for an app that pages.
    pub list_read: String,
    /// The short load of `deploycheck local`.
    pub local: LocalLoad,
}

/// `[load.local]`: `deploycheck local` loads for this long at this pace (requests per second
/// across every user, 0: unpaced), with `[load]`'s users, SLOs and list read.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalLoad {
    pub duration: String,
    pub rate: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(
        "unknown profile {name:?}: built in are {}; or give a path to a TOML file",
        built_in_names()
    )]
    UnknownName { name: String },
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: unknown key `{key}`{suggestion}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        suggestion: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn built_in_names() -> String {
    BUILT_IN
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Profile {
    /// A built-in profile by name.
    ///
    /// # Errors
    /// [`ProfileError::UnknownName`] for a name that is not built in.
    pub fn built_in(name: &str) -> Result<Self, ProfileError> {
        let text = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .ok_or_else(|| ProfileError::UnknownName { name: name.into() })?;
        let path = PathBuf::from(format!("<built-in {name}>"));
        let table = parse_table(text, &path)?;
        from_table(table, &path)
    }

    /// Resolves `--profile`: a built-in name, else a file. Without it, `deploycheck.toml` in
    /// `dir` if present, else the `reference` profile.
    ///
    /// # Errors
    /// A missing or unreadable file, bad TOML, an unknown key or a wrongly typed value.
    pub fn resolve(choice: Option<&str>, dir: &Path) -> Result<Self, ProfileError> {
        match choice {
            Some(name) if BUILT_IN.iter().any(|(n, _)| *n == name) => Self::built_in(name),
            Some(path) => {
                let looks_like_file = path.contains(['/', '.']) || Path::new(path).exists();
                if looks_like_file {
                    Self::from_file(Path::new(path))
                } else {
                    Err(ProfileError::UnknownName { name: path.into() })
                }
            }
            None => {
                let default = dir.join(DEFAULT_FILE);
                if default.is_file() {
                    Self::from_file(&default)
                } else {
                    Self::built_in("reference")
                }
            }
        }
    }

    /// Reads a user profile layered over its `extends` base.
    ///
    /// # Errors
    /// See [`Profile::resolve`].
    pub fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_text(&text, path)
    }

    /// Parses profile text; `path` is only used in messages.
    ///
    /// # Errors
    /// See [`Profile::resolve`].
    pub fn from_text(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let mut overrides = parse_table(text, path)?;
        let base_name = match overrides.remove("extends") {
            None => "reference".to_string(),
            Some(toml::Value::String(name)) => name,
            Some(other) => {
                return Err(ProfileError::Invalid {
                    path: path.into(),
                    message: format!("`extends` must be a profile name, got {other}"),
                });
            }
        };
        let base_text = BUILT_IN
            .iter()
            .find(|(n, _)| *n == base_name)
            .map(|(_, text)| *text)
            .ok_or(ProfileError::UnknownName { name: base_name })?;
        let mut merged = parse_table(base_text, Path::new("<built-in>"))?;
        merge(&mut merged, overrides, "", path)?;
        from_table(merged, path)
    }
}

fn parse_table(text: &str, path: &Path) -> Result<toml::Table, ProfileError> {
    text.parse::<toml::Table>()
        .map_err(|e| ProfileError::Syntax {
            path: path.into(),
            message: e.to_string().trim().replace('\n', " "),
        })
}

fn from_table(table: toml::Table, path: &Path) -> Result<Profile, ProfileError> {
    Profile::deserialize(toml::Value::Table(table)).map_err(|e| ProfileError::Invalid {
        path: path.into(),
        message: e.to_string().trim().replace('\n', " "),
    })
}

/// Lays `overrides` over `base`. Keys the base does not have are errors, except inside
/// free-form maps (labels), which are replaced whole.
fn merge(
    base: &mut toml::Table,
    overrides: toml::Table,
    prefix: &str,
    path: &Path,
) -> Result<(), ProfileError> {
    for (key, value) in overrides {
        let full_key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let free_form = key == "labels";
        match (base.get_mut(&key), value) {
            (None, _) => {
                // Inside a table, the known keys are few enough to list when none is close
                // (`cluster.zero_failed_requests` names scenarios, not settings).
                let suggestion = match closest(&key, base.keys()) {
                    Some(k) => format!(" (did you mean `{k}`?)"),
                    None if !prefix.is_empty() => format!(
                        " (`{prefix}` has {})",
                        base.keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => String::new(),
                };
                return Err(ProfileError::UnknownKey {
                    path: path.into(),
                    suggestion,
                    key: full_key,
                });
            }
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) if !free_form => {
                merge(inner, value, &full_key, path)?;
            }
            (Some(slot), value) => *slot = value,
        }
    }
    Ok(())
}

/// The known key within edit distance 2 of `key`, if any.
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    known
        .map(|k| (crate::spelling::edit_distance(key, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_parse_and_differ_where_the_challenge_does() {
        let reference = Profile::built_in("reference").unwrap();
        let flask = Profile::built_in("flask-mongo").unwrap();
        assert_eq!(flask.app.deployment, "flask-app");
        assert_eq!(flask.app.node_port, 30500);
        assert_eq!(flask.database.pod, "mongodb-0");
        assert_eq!(flask.app.labels["app"], "flask-app");
        assert_eq!((flask.hpa.min_replicas, flask.hpa.max_replicas), (2, 5));
        assert_eq!(flask.hpa.cpu_utilization, 70);
        assert_eq!(reference.app.ready_path, "/ready");
        assert_eq!(reference.app.port, 5000);
    }

    #[test]
    fn a_short_user_file_overrides_its_base() {
        let text = r#"
extends = "flask-mongo"
[app]
deployment = "web"
labels = { tier = "web" }
[hpa]
max_replicas = 8
"#;
        let p = Profile::from_text(text, Path::new("deploycheck.toml")).unwrap();
        assert_eq!(p.app.deployment, "web");
        assert_eq!(
            p.app.service, "flask-app",
            "untouched keys come from the base"
        );
        assert_eq!(p.app.labels.len(), 1, "label maps are replaced, not merged");
        assert_eq!(p.app.labels["tier"], "web");
        assert_eq!(p.hpa.max_replicas, 8);
        assert_eq!(p.hpa.min_replicas, 2);
    }

    #[test]
    fn unknown_keys_name_the_key_the_file_and_a_suggestion() {
        let error = Profile::from_text("[app]\nhelth_path = \"/h\"\n", Path::new("my.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "my.toml: unknown key `app.helth_path` (did you mean `health_path`?)"
        );
        let error = Profile::from_text("colour = 1\n", Path::new("my.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "my.toml: unknown key `colour`");
    }

    #[test]
    fn wrong_types_and_bad_toml_are_reported_with_the_file() {
        let error = Profile::from_text("[app]\nport = \"http\"\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("p.toml: "), "{error}");
        assert!(
            error.contains("port") || error.contains("integer"),
            "{error}"
        );
        let error = Profile::from_text("[app\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("p.toml: not valid TOML"), "{error}");
        let error = Profile::from_text("extends = \"nope\"\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown profile \"nope\""), "{error}");
    }

    #[test]
    fn resolve_prefers_the_flag_then_the_local_file_then_reference() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Profile::resolve(None, dir.path()).unwrap(),
            Profile::built_in("reference").unwrap()
        );
        std::fs::write(
            dir.path().join(DEFAULT_FILE),
            "extends = \"flask-mongo\"\n[app]\nport = 8080\n",
        )
        .unwrap();
        assert_eq!(Profile::resolve(None, dir.path()).unwrap().app.port, 8080);
        assert_eq!(
            Profile::resolve(Some("reference"), dir.path())
                .unwrap()
                .app
                .port,
            5000
        );
        let error = Profile::resolve(Some("flask"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("built in are reference, flask-mongo"),
            "{error}"
        );
        let missing = Profile::resolve(Some("./missing.toml"), dir.path()).unwrap_err();
        assert!(matches!(missing, ProfileError::Read { .. }), "{missing}");
    }

    #[test]
    fn zero_failed_requests_is_required_by_reference_and_advised_by_flask_mongo() {
        let rule = |p: Profile| {
            let z = p.cluster.zero_failed_requests;
            (z.get("replicas"), z.get("rolling"))
        };
        use Requirement::{Advised, Required};
        assert_eq!(
            rule(Profile::built_in("reference").unwrap()),
            (Required, Required)
        );
        assert_eq!(
            rule(Profile::built_in("flask-mongo").unwrap()),
            (Advised, Advised)
        );
        let text =
            "extends = \"flask-mongo\"\n[cluster.zero_failed_requests]\nrolling = \"required\"\n";
        let p = Profile::from_text(text, Path::new("deploycheck.toml")).unwrap();
        assert_eq!(rule(p), (Advised, Required), "one scenario overridden");
    }

    #[test]
    fn zero_failed_requests_names_known_scenarios_and_values_only() {
        let error = Profile::from_text(
            "[cluster]\nzero_failed_requests = { hpa = \"advised\" }\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "p.toml: unknown key `cluster.zero_failed_requests.hpa` \
             (`cluster.zero_failed_requests` has `replicas`, `rolling`)"
        );
        let error = Profile::from_text(
            "[cluster.zero_failed_requests]\nrolling = \"sometimes\"\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("p.toml: ")
                && error.contains("sometimes")
                && error.contains("`required` or `advised`"),
            "{error}"
        );
    }

    /// The blue-green variant ships its profile next to its overlay; it must stay valid as the
    /// reference grows.
    #[test]
    fn the_blue_green_variants_profile_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/overlays/bluegreen");
        let profile = Profile::resolve(None, &dir).unwrap();
        assert_eq!(profile.app.deployment, "deploycheck-app-blue");
        assert_eq!(profile.strategy.kind, StrategyKind::BlueGreen);
        assert_eq!(profile.strategy.preview_service, "deploycheck-app-preview");
    }
}
