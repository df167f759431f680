//! What a load sends: its routes, and the mixes that weigh them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mix {
    /// Only `GET /`: the app's own overhead.
    GetRoot,
    /// Only `POST /data`.
    Write,
    /// Only `GET /data`.
    Read,
    /// 60% `GET /`, 30% `POST /data`, 10% `GET /data`.
    Mixed,
}

impl Mix {
    /// Goose weight of each route in this mix (0: not sent).
    pub(super) fn weight(self, route: Route) -> usize {
        match (self, route) {
            (Mix::GetRoot, Route::Root) | (Mix::Write, Route::Write) | (Mix::Read, Route::List) => {
                1
            }
            (Mix::Mixed, Route::Root) => 6,
            (Mix::Mixed, Route::Write) => 3,
            (Mix::Mixed, Route::List) => 1,
            _ => 0,
        }
    }

    /// Whether this mix sends `route` at all.
    pub fn sends(self, route: Route) -> bool {
        self.weight(route) > 0
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = clap::ValueEnum::to_possible_value(self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        f.write_str(&name)
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Mix as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown mix {s:?}: use get-root, write, read or mixed"))
    }
}

/// The requests a load sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Route {
    #[serde(rename = "GET /")]
    Root,
    #[serde(rename = "POST /data")]
    Write,
    /// The list: its cost depends on how many documents an answer holds.
    #[serde(rename = "GET /data")]
    List,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Root, Route::Write, Route::List];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Root => "GET /",
            Route::Write => "POST /data",
            Route::List => "GET /data",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Route {
    type Err = ();
    /// `GET /data`, `get  /data`: the method in any case, the path exactly.
    fn from_str(text: &str) -> Result<Self, ()> {
        let mut words = text.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(());
        };
        let method = method.to_ascii_uppercase();
        Route::ALL
            .into_iter()
            .find(|r| r.as_str() == format!("{method} {path}"))
            .ok_or(())
    }
}
