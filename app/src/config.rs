//! Configuration from the environment (12-factor), validated once at start-up.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The challenge's port.
pub const DEFAULT_PORT: u16 = 5000;
pub const DEFAULT_DATABASE: &str = "appdb";
pub const DEFAULT_COLLECTION: &str = "data";
/// The release this build reports when `APP_VERSION` is unset: the crate version.
pub const DEFAULT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the service needs to run. `Debug` never shows the password.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Full connection string; may contain the password, so it is never logged.
    pub mongodb_uri: String,
    /// Set when the password is known, so any error text can be scrubbed of it.
    pub mongodb_password: Option<String>,
    pub database: String,
    pub collection: String,
    pub log_format: LogFormat,
    /// Upper bound for one database operation, so a request never hangs on the database.
    pub db_timeout: Duration,
    /// Upper bound for the readiness check's database round trip.
    pub ready_timeout: Duration,
    /// Upper bound for a whole request.
    pub request_timeout: Duration,
    /// After SIGTERM: how long in-flight requests may take before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// The release this process reports (`X-App-Version`, `/health`), so a blue-green or
    /// canary rollout can tell which side answered.
    pub version: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration mistake, phrased as the one line the operator sees before exit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "set MONGODB_URI, or MONGODB_HOST (with optional MONGODB_PORT, MONGODB_USERNAME, MONGODB_PASSWORD, MONGODB_DATABASE, MONGODB_AUTH_SOURCE)"
    )]
    NoDatabase,
    #[error("set either MONGODB_URI or MONGODB_HOST, not both (found {0} alongside MONGODB_URI)")]
    Conflicting(&'static str),
    #[error(
        "MONGODB_URI must start with mongodb:// (mongodb+srv:// needs DNS SRV support this build leaves out); got a value starting with {0:?}"
    )]
    BadScheme(String),
    #[error("MONGODB_USERNAME and MONGODB_PASSWORD go together; only {0} is set")]
    HalfCredentials(&'static str),
    #[error("{name} must be {expected}; got {value:?}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    /// Empty values count as unset, which is how Kubernetes renders an optional key.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that is missing or malformed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let port = match get("PORT") {
            None => DEFAULT_PORT,
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "PORT",
                expected: "a TCP port number (0-65535)",
                value: v,
            })?,
        };
        let bind: IpAddr = match get("BIND_ADDR") {
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "BIND_ADDR",
                expected: "an IP address such as 0.0.0.0 or 127.0.0.1",
                value: v,
            })?,
        };
        let log_format = match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LOG_FORMAT",
                    expected: "`text` or `json`",
                    value: other.into(),
                });
            }
        };

        let username = get("MONGODB_USERNAME");
        let password = lookup("MONGODB_PASSWORD").filter(|v| !v.is_empty());
        let (mongodb_uri, uri_database) = match (get("MONGODB_URI"), get("MONGODB_HOST")) {
            (Some(_), Some(_)) => return Err(ConfigError::Conflicting("MONGODB_HOST")),
            (None, None) => return Err(ConfigError::NoDatabase),
            (Some(uri), None) => {
                for name in ["MONGODB_USERNAME", "MONGODB_PASSWORD", "MONGODB_PORT"] {
                    if lookup(name).is_some_and(|v| !v.is_empty()) {
                        return Err(ConfigError::Conflicting(name));
                    }
                }
                let uri = uri.trim().to_string();
                if !uri.starts_with("mongodb://") {
                    let start: String = uri.chars().take_while(|c| *c != ':').take(16).collect();
                    return Err(ConfigError::BadScheme(start));
                }
                let database = database_in_uri(&uri);
                (uri, database)
            }
            (None, Some(host)) => {
                let database = get("MONGODB_DATABASE").unwrap_or_else(|| DEFAULT_DATABASE.into());
                (
                    compose_uri(&get, host.trim(), &username, &password, &database)?,
                    None,
                )
            }
        };
        let database = get("MONGODB_DATABASE")
            .or(uri_database)
            .unwrap_or_else(|| DEFAULT_DATABASE.into());
        validate_database_name(&database)?;
        let collection = get("MONGODB_COLLECTION").unwrap_or_else(|| DEFAULT_COLLECTION.into());
        if collection.starts_with("system.") || collection.contains('$') {
            return Err(ConfigError::Invalid {
                name: "MONGODB_COLLECTION",
                expected: "a collection name without `$` that does not start with `system.`",
                value: collection,
            });
        }
        let mongodb_password = password.or_else(|| password_in_uri(&mongodb_uri));
        let version = match get("APP_VERSION") {
            None => DEFAULT_VERSION.to_string(),
            Some(v) => {
                let trimmed = v.trim();
                // It becomes a response header: visible ASCII only, and short.
                if trimmed.len() > 128 || !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ConfigError::Invalid {
                        name: "APP_VERSION",
                        expected: "at most 128 visible ASCII characters without spaces",
                        value: v,
                    });
                }
                trimmed.to_string()
            }
        };

        Ok(Self {
            listen: SocketAddr::new(bind, port),
            mongodb_uri,
            mongodb_password,
            database,
            collection,
            log_format,
            db_timeout: millis(&get, "DB_TIMEOUT_MS", 5_000)?,
            ready_timeout: millis(&get, "READY_TIMEOUT_MS", 2_000)?,
            request_timeout: millis(&get, "REQUEST_TIMEOUT_MS", 10_000)?,
            shutdown_timeout: millis(&get, "SHUTDOWN_TIMEOUT_MS", 20_000)?,
            version,
        })
    }

    /// Replaces the password, raw and percent-encoded, wherever it appears in `text`.
    pub fn scrub(&self, text: &str) -> String {
        scrub_secret(text, self.mongodb_password.as_deref())
    }
}

/// Replaces `secret` (raw and percent-encoded) in `text` with `****`.
pub fn scrub_secret(text: &str, secret: Option<&str>) -> String {
    match secret.filter(|s| s.len() >= 2) {
        None => text.to_string(),
        Some(secret) => text
            .replace(secret, "****")
            .replace(urlencoding::encode(secret).as_ref(), "****"),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("mongodb_uri", &self.scrub(&self.mongodb_uri))
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("log_format", &self.log_format)
            .field("db_timeout", &self.db_timeout)
            .field("ready_timeout", &self.ready_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("version", &self.version)
            .finish()
    }
}

fn compose_uri(
    get: &impl Fn(&str) -> Option<String>,
    host: &str,
    username: &Option<String>,
    password: &Option<String>,
    database: &str,
) -> Result<String, ConfigError> {
    if host.contains(['/', '@', '?', ',']) {
        return Err(ConfigError::Invalid {
            name: "MONGODB_HOST",
            expected: "a host name or IP address only (put full connection strings in MONGODB_URI)",
            value: host.into(),
        });
    }
    let port: u16 = match get("MONGODB_PORT") {
        None => 27017,
        Some(v) => match v.trim().parse() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "MONGODB_PORT",
                    expected: "a TCP port number (1-65535)",
                    value: v,
                });
            }
        },
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let credentials = match (username, password) {
        (Some(user), Some(password)) => format!(
            "{}:{}@",
            urlencoding::encode(user),
            urlencoding::encode(password)
        ),
        (None, None) => String::new(),
        (Some(_), None) => return Err(ConfigError::HalfCredentials("MONGODB_USERNAME")),
        (None, Some(_)) => return Err(ConfigError::HalfCredentials("MONGODB_PASSWORD")),
    };
    let mut uri = format!("mongodb://{credentials}{host}:{port}/");
    if !credentials.is_empty() {
        // The app user lives in the app's own database unless told otherwise.
        let source = get("MONGODB_AUTH_SOURCE").unwrap_or_else(|| database.to_string());
        uri.push_str(&format!("?authSource={}", urlencoding::encode(&source)));
    }
    Ok(uri)
}

/// The `/database` path segment of a `mongodb://` URI, if any.
fn database_in_uri(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mongodb://")?;
    let after_hosts = &rest[rest.find('/')? + 1..];
    let name = after_hosts.split('?').next().unwrap_or_default();
    (!name.is_empty()).then(|| {
        urlencoding::decode(name)
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| name.to_string())
    })
}

/// The password embedded in a `mongodb://user:password@` URI, decoded, if any.
fn password_in_uri(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mongodb://")?;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    Some(
        urlencoding::decode(password)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| password.to_string()),
    )
}

fn validate_database_name(name: &str) -> Result<(), ConfigError> {
    let bad = name.len() > 63 || name.contains(['/', '\\', '.', ' ', '"', '$', '\0']);
    if bad {
        return Err(ConfigError::Invalid {
            name: "MONGODB_DATABASE",
            expected: "a database name of at most 63 characters without / \\ . space \" $",
            value: name.into(),
        });
    }
    Ok(())
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    match get(name) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(ConfigError::Invalid {
                name,
                expected: "a positive whole number of milliseconds",
                value: v,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn composes_uri_with_encoded_credentials_and_auth_source_defaulting_to_the_database() {
        let c = config(&[
            ("MONGODB_HOST", "mongodb"),
            ("MONGODB_USERNAME", "app user"),
            ("MONGODB_PASSWORD", "p@ss:w/rd%"),
            ("MONGODB_DATABASE", "shop"),
        ])
        .unwrap();
        assert_eq!(
            c.mongodb_uri,
            "mongodb://app%20user:p%40ss%3Aw%2Frd%25@mongodb:27017/?authSource=shop"
        );
        assert_eq!(c.database, "shop");
        assert_eq!(c.listen, "0.0.0.0:5000".parse().unwrap());
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn explicit_auth_source_port_and_ipv6_host() {
        let c = config(&[
            ("MONGODB_HOST", "::1"),
            ("MONGODB_PORT", "27018"),
            ("MONGODB_USERNAME", "u"),
            ("MONGODB_PASSWORD", "pw"),
            ("MONGODB_AUTH_SOURCE", "admin"),
        ])
        .unwrap();
        assert_eq!(
            c.mongodb_uri,
            "mongodb://u:pw@[::1]:27018/?authSource=admin"
        );
        assert_eq!(c.database, DEFAULT_DATABASE);
    }

    #[test]
    fn no_credentials_means_no_auth_source() {
        let c = config(&[("MONGODB_HOST", "db")]).unwrap();
        assert_eq!(c.mongodb_uri, "mongodb://db:27017/");
    }

    #[test]
    fn uri_wins_and_its_database_is_used() {
        let c = config(&[(
            "MONGODB_URI",
            "mongodb://u:pw@h:1/inventory?authSource=admin",
        )])
        .unwrap();
        assert_eq!(c.database, "inventory");
        assert_eq!(c.mongodb_password.as_deref(), Some("pw"));
        let c = config(&[
            ("MONGODB_URI", "mongodb://h:1/inventory"),
            ("MONGODB_DATABASE", "other"),
        ])
        .unwrap();
        assert_eq!(c.database, "other");
    }

    #[test]
    fn each_mistake_names_the_variable() {
        let names = |vars: &[(&str, &str)], expected: &str| {
            let message = config(vars).unwrap_err().to_string();
            assert!(message.contains(expected), "{vars:?}: {message}");
            assert!(!message.contains('\n'), "one line: {message}");
        };
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "set MONGODB_URI, or MONGODB_HOST"),
            (
                &[("MONGODB_URI", "mongodb://h"), ("MONGODB_HOST", "h")],
                "not both",
            ),
            (
                &[("MONGODB_URI", "mongodb://h"), ("MONGODB_PASSWORD", "x")],
                "MONGODB_PASSWORD",
            ),
            (
                &[("MONGODB_URI", "postgres://h")],
                "must start with mongodb://",
            ),
            (&[("MONGODB_HOST", "mongodb://h")], "MONGODB_HOST must be"),
        ];
        for (vars, expected) in cases {
            names(vars, expected);
        }
        // One mistake beside a valid host.
        for (var, value, expected) in [
            ("MONGODB_USERNAME", "u", "only MONGODB_USERNAME is set"),
            ("MONGODB_PASSWORD", "p", "only MONGODB_PASSWORD is set"),
            ("PORT", "http", "PORT must be"),
            ("PORT", "70000", "PORT must be"),
            ("MONGODB_PORT", "0", "MONGODB_PORT must be"),
            ("BIND_ADDR", "everywhere", "BIND_ADDR must be"),
            ("LOG_FORMAT", "xml", "LOG_FORMAT must be"),
            ("MONGODB_DATABASE", "a.b", "MONGODB_DATABASE must be"),
            ("MONGODB_COLLECTION", "system.x", "MONGODB_COLLECTION"),
            ("DB_TIMEOUT_MS", "0", "DB_TIMEOUT_MS must be"),
        ] {
            names(&[("MONGODB_HOST", "h"), (var, value)], expected);
        }
    }

    #[test]
    fn password_is_never_shown() {
        let c = config(&[
            ("MONGODB_HOST", "db"),
            ("MONGODB_USERNAME", "u"),
            ("MONGODB_PASSWORD", "hunter2/@"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mongodb://u:****@db:27017"), "{shown}");
        assert_eq!(
            c.scrub("auth failed for hunter2%2F%40"),
            "auth failed for ****"
        );

        let c = config(&[("MONGODB_URI", "mongodb://u:topsecret@db/")]).unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = config(&[("MONGODB_HOST", "db"), ("PORT", ""), ("MONGODB_URI", "")]).unwrap();
        assert_eq!(c.listen.port(), DEFAULT_PORT);
    }
}
