//! A run's settings: the profile's `[load]` under a command's overrides.

use std::time::Duration;

use super::list_read::ListRead;
use super::mix::Mix;
use super::slo::{Slo, SloError, parse_slos};

#[derive(Clone, Debug)]
pub struct Settings {
    pub base_url: String,
    pub users: usize,
    pub hatch_rate: usize,
    pub duration: Duration,
    pub mix: Mix,
    pub slos: Vec<Slo>,
    /// Requests per second across every user, spaced evenly; `None`: as fast as they go.
    pub rate: Option<u32>,
    /// How the mix reads `GET /data`.
    pub list_read: ListRead,
    /// Goose's own HTML report, when asked for.
    pub goose_html: Option<std::path::PathBuf>,
}

/// What a command sets over the profile's `[load]`; `None` keeps the profile's value.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub users: Option<usize>,
    pub hatch_rate: Option<usize>,
    pub duration: Option<Duration>,
    pub mix: Option<Mix>,
    pub slo: Option<String>,
    /// Requests per second; 0 runs unpaced.
    pub rate: Option<u32>,
    pub list_read: Option<String>,
}

/// A setting of a command or a profile that is not understood.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// From `--slo`.
    #[error("SLO {0}")]
    Slo(#[source] SloError),
    #[error("--{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error("profile load.{key}: {message}")]
    Profile { key: &'static str, message: String },
}

impl Settings {
    /// `deploycheck load`: the profile's `[load]` under the command's overrides.
    ///
    /// # Errors
    /// A flag or a profile key that does not parse, named.
    pub fn for_load(
        base_url: &str,
        profile: &crate::profile::Load,
        overrides: &Overrides,
    ) -> Result<Self, SettingsError> {
        let from_profile = |key, message: String| SettingsError::Profile { key, message };
        let slos = match &overrides.slo {
            Some(text) => parse_slos(text).map_err(SettingsError::Slo)?,
            None => parse_slos(&profile.slo).map_err(|e| from_profile("slo", e.to_string()))?,
        };
        let list_read = match &overrides.list_read {
            Some(text) => text.parse().map_err(|message| SettingsError::Flag {
                flag: "list-read",
                message,
            })?,
            None => profile
                .list_read
                .parse()
                .map_err(|e| from_profile("list_read", e))?,
        };
        Ok(Self {
            base_url: base_url.to_string(),
            users: overrides.users.unwrap_or(profile.users as usize),
            hatch_rate: overrides.hatch_rate.unwrap_or(profile.hatch_rate as usize),
            duration: match overrides.duration {
                Some(duration) => duration,
                None => crate::profile::parse_duration(&profile.duration)
                    .map_err(|e| from_profile("duration", e))?,
            },
            mix: match overrides.mix {
                Some(mix) => mix,
                None => profile.mix.parse().map_err(|e| from_profile("mix", e))?,
            },
            slos,
            rate: Some(overrides.rate.unwrap_or(profile.rate)).filter(|r| *r > 0),
            list_read,
            goose_html: None,
        })
    }

    /// `deploycheck local`'s short load: the profile's users, SLOs and list read with the mixed
    /// mix, for `[load.local]`'s duration at its rate unless the command says otherwise.
    ///
    /// # Errors
    /// A profile key that does not parse, named.
    pub fn for_local(
        base_url: &str,
        profile: &crate::profile::Load,
        duration: Option<Duration>,
        rate: Option<u32>,
    ) -> Result<Self, SettingsError> {
        let local_duration = match duration {
            Some(duration) => duration,
            None => crate::profile::parse_duration(&profile.local.duration).map_err(|message| {
                SettingsError::Profile {
                    key: "local.duration",
                    message,
                }
            })?,
        };
        Self::for_load(
            base_url,
            profile,
            &Overrides {
                duration: Some(local_duration),
                mix: Some(Mix::Mixed),
                rate: Some(rate.unwrap_or(profile.local.rate)),
                ..Overrides::default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::mix::Route;
    use crate::load::slo::Metric;

    #[test]
    fn the_built_in_profiles_load_settings_parse() {
        for name in ["reference", "flask-mongo"] {
            let profile = crate::profile::Profile::built_in(name).unwrap();
            let load = Settings::for_load(
                "http://127.0.0.1:5000",
                &profile.load,
                &Overrides::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(load.rate, None, "{name}: `load` runs unpaced unless asked");
            let local = Settings::for_local("http://127.0.0.1:5000", &profile.load, None, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((local.mix, local.rate), (Mix::Mixed, Some(100)), "{name}");
            assert_eq!(local.duration, Duration::from_secs(5), "{name}");
            assert_eq!(
                local.slos, load.slos,
                "{name}: one set of SLOs for both commands"
            );
            for route in Route::ALL {
                assert!(
                    local
                        .slos
                        .iter()
                        .any(|s| s.route == Some(route) && s.metric == Metric::P95),
                    "{name}: a p95 gate for {route}"
                );
            }
        }
        let reference = crate::profile::Profile::built_in("reference").unwrap();
        let local =
            Settings::for_local("http://127.0.0.1:1", &reference.load, None, Some(0)).unwrap();
        assert_eq!(local.rate, None, "--load-rate 0 runs unpaced");
        assert_eq!(local.list_read.path(), "/data?limit=100");
    }

    #[test]
    fn a_bad_override_or_profile_key_is_named() {
        let mut profile = crate::profile::Profile::built_in("reference").unwrap().load;
        let overrides = Overrides {
            slo: Some("p95<fast".into()),
            ..Overrides::default()
        };
        let error = Settings::for_load("http://127.0.0.1:1", &profile, &overrides).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SLO \"p95<fast\": \"fast\" is not a number"
        );
        let overrides = Overrides {
            list_read: Some("all".into()),
            ..Overrides::default()
        };
        let error = Settings::for_load("http://127.0.0.1:1", &profile, &overrides).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--list-read: \"all\": use \"whole\""),
            "{error}"
        );
        profile.slo = "GET /items:p95<1s".into();
        let error = Settings::for_local("http://127.0.0.1:1", &profile, None, None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("profile load.slo: \"GET /items:p95<1s\": unknown route"),
            "{error}"
        );
    }
}
