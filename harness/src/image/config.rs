//! The image config: who the image runs as, what it exposes, its environment, its build
//! history (the command behind each layer) and its platform.

use serde::Serialize;
use serde_json::Value;

/// One history entry: the instruction that made a layer, or an empty-layer step (ENV, USER).
#[derive(Clone, Debug, Serialize)]
pub struct History {
    pub created_by: String,
    pub empty_layer: bool,
}

/// The parts of an OCI / Docker image config that the checks read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImageConfig {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `config.User` as written: empty means root.
    pub user: String,
    /// `config.Env`, `NAME=value`.
    pub env: Vec<String>,
    /// `config.ExposedPorts` keys, e.g. `5000/tcp`, sorted.
    pub exposed_ports: Vec<String>,
    pub history: Vec<History>,
    /// `rootfs.diff_ids`: one per layer.
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    /// Reads a config document.
    ///
    /// # Errors
    /// A document that is not an object, or whose known fields have the wrong type.
    pub fn from_json(value: &Value) -> Result<ImageConfig, String> {
        if !value.is_object() {
            return Err("it is not a JSON object".into());
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let config = value
            .get("config")
            .or_else(|| value.get("container_config"));
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut exposed_ports: Vec<String> = config
            .and_then(|c| c.get("ExposedPorts"))
            .and_then(Value::as_object)
            .map(|ports| ports.keys().cloned().collect())
            .unwrap_or_default();
        exposed_ports.sort();
        let history = value
            .get("history")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| History {
                        created_by: text(entry.get("created_by")),
                        empty_layer: entry
                            .get("empty_layer")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ImageConfig {
            os: text(value.get("os")),
            architecture: text(value.get("architecture")),
            variant: value
                .get("variant")
                .and_then(Value::as_str)
                .map(str::to_string),
            user: text(config.and_then(|c| c.get("User"))),
            env: strings(config.and_then(|c| c.get("Env"))),
            exposed_ports,
            history,
            diff_ids: strings(value.get("rootfs").and_then(|r| r.get("diff_ids"))),
        })
    }

    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }

    /// The command of each layer, in layer order, as dive pairs them: history entries marked
    /// `empty_layer` are skipped, and layers beyond the history get `(missing)`.
    pub fn layer_commands(&self, layers: usize) -> Vec<String> {
        let mut commands = self
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .map(|h| clean_command(&h.created_by));
        (0..layers)
            .map(|_| commands.next().unwrap_or_else(|| "(missing)".into()))
            .collect()
    }
}

/// A history command without the builder's noise: `/bin/sh -c #(nop) ` (classic builder) and
/// the ` # buildkit` suffix.
pub fn clean_command(created_by: &str) -> String {
    let text = created_by.trim();
    let text = text.strip_prefix("/bin/sh -c #(nop) ").unwrap_or(text);
    let text = text.strip_suffix("# buildkit").unwrap_or(text);
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix("RUN /bin/sh -c ")
        .or_else(|| text.strip_prefix("/bin/sh -c "))
    {
        format!("RUN {}", rest.trim())
    } else {
        text.to_string()
    }
}

/// An `os/arch[/variant]` platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The default when `--platform` is not given.
    pub fn default_target() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// Parses `linux/amd64`, `linux/arm64/v8`.
    ///
    /// # Errors
    /// A text that is not `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{text}` is not a platform; expected os/arch[/variant], e.g. linux/amd64"
            ));
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    pub(super) fn from_json(value: &Value) -> Option<Platform> {
        Some(Platform {
            os: value.get("os")?.as_str()?.into(),
            architecture: value.get("architecture")?.as_str()?.into(),
            variant: value
                .get("variant")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `wanted` matches when os and architecture agree and, if it names a variant, that too.
    pub(super) fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_ports_env_and_pairs_history_with_layers_like_dive() {
        let value = serde_json::json!({
            "os": "linux", "architecture": "arm64", "variant": "v8",
            "config": {"User": "65532", "Env": ["PATH=/bin"], "ExposedPorts": {"8080/tcp": {}, "5000/tcp": {}}},
            "history": [
                {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                {"created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true},
                {"created_by": "RUN /bin/sh -c apk add curl # buildkit"},
            ],
            "rootfs": {"type": "layers", "diff_ids": ["sha256:1", "sha256:2"]},
        });
        let config = ImageConfig::from_json(&value).unwrap();
        assert_eq!(config.user, "65532");
        assert_eq!(config.exposed_ports, ["5000/tcp", "8080/tcp"]);
        assert_eq!(config.platform().to_string(), "linux/arm64/v8");
        assert_eq!(
            config.layer_commands(3),
            ["ADD file:abc in /", "RUN apk add curl", "(missing)"]
        );
        assert!(ImageConfig::from_json(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn platforms_parse_and_match_with_an_optional_variant() {
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert!(arm.satisfies(&Platform::parse("linux/arm64").unwrap()));
        assert!(!Platform::parse("linux/arm64").unwrap().satisfies(&arm));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }
}
