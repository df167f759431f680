//! Which release strategy a stack implements, recognised from its Deployments' pod labels and
//! its Services' selectors, the way a take-home stack expresses it with plain objects:
//!
//! - **blue-green**: two Deployments that differ in one label (`version: blue` / `green`,
//!   `color`, `slot`, ...), a live Service whose selector includes that label and so matches
//!   one side, often a preview Service selecting the other;
//! - **canary**: a stable and a canary Deployment sharing the labels their Service selects, the
//!   track label not among them, so traffic splits by ready pods.
//!
//! Pure over label maps, so `lint` recognises it in manifests and `check` in the cluster from
//! the same rules.

use std::collections::BTreeMap;

use serde::Serialize;

pub type Labels = BTreeMap<String, String>;

/// A Deployment as far as recognition needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    pub name: String,
    /// Its pod template's labels.
    pub labels: Labels,
    pub replicas: i32,
}

/// A Service as far as recognition needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub selector: Labels,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    BlueGreen,
    Canary,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BlueGreen => "blue-green",
            Self::Canary => "canary",
        })
    }
}

/// A release strategy recognised in a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub kind: Kind,
    /// The label whose value tells the sides apart (`version`, `track`, ...).
    pub label: String,
    /// Blue-green: the side the live Service selects first (the first by name when it selects
    /// both or neither); canary: the stable side first.
    pub sides: [Side; 2],
    /// Blue-green: the Service that carries the traffic; canary: the Service over both tracks.
    pub live: Option<Route>,
    /// Blue-green: a Service that selects by the version label other than the live one.
    pub preview: Option<Route>,
}

impl Release {
    /// The value of the version label on `side` (`blue`), or `-` when the side lacks it.
    pub fn version(&self, side: usize) -> &str {
        self.sides[side]
            .labels
            .get(&self.label)
            .map_or("-", String::as_str)
    }

    /// Which sides `route` selects, by index.
    pub fn selected_by(&self, route: &Route) -> Vec<usize> {
        (0..2)
            .filter(|&i| selects(&route.selector, &self.sides[i].labels))
            .collect()
    }

    /// One line for reports: `blue-green by label `version`: live Service deploycheck-app →
    /// deploycheck-app-blue (blue), idle deploycheck-app-green (green), preview Service ...`.
    pub fn describe(&self) -> String {
        let side = |i: usize| format!("{} ({})", self.sides[i].name, self.version(i));
        match self.kind {
            Kind::BlueGreen => format!(
                "blue-green by label `{}`: {}, idle {}{}",
                self.label,
                match &self.live {
                    Some(live) => format!("live Service {} → {}", live.name, side(0)),
                    None => format!("no live Service selects {}", side(0)),
                },
                side(1),
                self.preview
                    .as_ref()
                    .map(|p| format!(", preview Service {}", p.name))
                    .unwrap_or_default()
            ),
            Kind::Canary => format!(
                "canary by label `{}`: stable {} × {}, canary {} × {}{}",
                self.label,
                side(0),
                self.sides[0].replicas,
                side(1),
                self.sides[1].replicas,
                self.live
                    .as_ref()
                    .map(|r| format!(", Service {}", r.name))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Whether a selector matches a set of labels (an empty selector matches nothing here: a
/// Service without a selector has hand-made endpoints).
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Label keys that name a blue-green slot, and values that name a side.
const BLUE_GREEN_KEYS: [&str; 3] = ["color", "colour", "slot"];
const BLUE_GREEN_VALUES: [&str; 2] = ["blue", "green"];
const CANARY_KEYS: [&str; 1] = ["track"];
const CANARY_VALUES: [&str; 2] = ["canary", "stable"];

/// The one label two sides differ in, when they share at least one other label and differ in
/// exactly one (present on both with other values, or on one only).
fn differing_label(a: &Labels, b: &Labels) -> Option<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    let shared = a.iter().any(|(k, v)| b.get(k) == Some(v));
    (shared && differing.len() == 1).then(|| differing[0].clone())
}

/// The release strategy of these Deployments and Services, if two Deployments form one: the
/// first pair (by name) that differs in one label and that some Service selects. `live_name`
/// is the profile's app Service, preferred as the live one.
pub fn recognise(sides: &[Side], routes: &[Route], live_name: &str) -> Option<Release> {
    let mut sides: Vec<&Side> = sides.iter().collect();
    sides.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, a) in sides.iter().enumerate() {
        for b in &sides[i + 1..] {
            let Some(label) = differing_label(&a.labels, &b.labels) else {
                continue;
            };
            let selecting: Vec<&Route> = routes
                .iter()
                .filter(|r| selects(&r.selector, &a.labels) || selects(&r.selector, &b.labels))
                .collect();
            if selecting.is_empty() {
                continue;
            }
            return Some(classify(
                label,
                [(*a).clone(), (*b).clone()],
                &selecting,
                live_name,
            ));
        }
    }
    None
}

fn classify(label: String, sides: [Side; 2], selecting: &[&Route], live_name: &str) -> Release {
    let values: Vec<&str> = sides
        .iter()
        .filter_map(|s| s.labels.get(&label).map(String::as_str))
        .collect();
    let named = |keys: &[&str], known: &[&str]| {
        keys.contains(&label.as_str()) || values.iter().any(|v| known.contains(v))
    };
    let by_version = selecting.iter().any(|r| r.selector.contains_key(&label));
    let kind = if named(&CANARY_KEYS, &CANARY_VALUES) {
        Kind::Canary
    } else if named(&BLUE_GREEN_KEYS, &BLUE_GREEN_VALUES) || by_version {
        Kind::BlueGreen
    } else {
        Kind::Canary
    };
    // The live Service: the profile's app Service if it selects a side, else the first that
    // does and is not named a preview (a blue-green stack whose only selecting Service is the
    // preview has no live one).
    let live = selecting
        .iter()
        .find(|r| r.name == live_name)
        .or_else(|| selecting.iter().find(|r| !r.name.contains("preview")))
        .or_else(|| (kind == Kind::Canary).then(|| selecting.first()).flatten())
        .map(|r| (*r).clone());
    let mut release = Release {
        kind,
        label,
        sides,
        live,
        preview: None,
    };
    match kind {
        Kind::BlueGreen => {
            release.preview = selecting
                .iter()
                .find(|r| {
                    Some(r.name.as_str()) != release.live.as_ref().map(|l| l.name.as_str())
                        && r.selector.contains_key(&release.label)
                })
                .map(|r| (*r).clone());
            let live_sides = release
                .live
                .as_ref()
                .map(|l| release.selected_by(l))
                .unwrap_or_default();
            if live_sides == [1] {
                release.sides.swap(0, 1);
            }
        }
        Kind::Canary => {
            let is_canary = |s: &Side| {
                s.labels.get(&release.label).map(String::as_str) == Some("canary")
                    || s.name.contains("canary")
            };
            let swap = match (is_canary(&release.sides[0]), is_canary(&release.sides[1])) {
                (true, false) => true,
                (false, true) => false,
                _ => release.sides[1].replicas > release.sides[0].replicas,
            };
            if swap {
                release.sides.swap(0, 1);
            }
        }
    }
    release
}

/// Release objects of controllers deploycheck does not check yet, by kind and API group.
pub fn controller_object(kind: &str, api_version: &str) -> Option<&'static str> {
    match (kind, api_version.split('/').next().unwrap_or_default()) {
        ("Rollout", "argoproj.io") => Some("an Argo Rollouts Rollout"),
        ("Canary", "flagger.app") => Some("a Flagger Canary"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn side(name: &str, pairs: &[(&str, &str)], replicas: i32) -> Side {
        Side {
            name: name.into(),
            labels: labels(pairs),
            replicas,
        }
    }

    fn route(name: &str, pairs: &[(&str, &str)]) -> Route {
        Route {
            name: name.into(),
            selector: labels(pairs),
        }
    }

    const APP: (&str, &str) = ("app", "web");

    #[test]
    fn blue_green_is_a_service_selecting_one_side_by_its_version_label() {
        let sides = [
            side("web-green", &[APP, ("version", "green")], 2),
            side("web-blue", &[APP, ("version", "blue")], 2),
        ];
        let routes = [
            route("web", &[APP, ("version", "blue")]),
            route("web-preview", &[APP, ("version", "green")]),
        ];
        let release = recognise(&sides, &routes, "web").unwrap();
        assert_eq!(release.kind, Kind::BlueGreen);
        assert_eq!((release.version(0), release.version(1)), ("blue", "green"));
        assert_eq!(release.preview.as_ref().unwrap().name, "web-preview");
        assert_eq!(
            release.describe(),
            "blue-green by label `version`: live Service web → web-blue (blue), idle web-green \
             (green), preview Service web-preview"
        );
        // The live Service switched: the live side follows it.
        let switched = [route("web", &[APP, ("version", "green")])];
        let release = recognise(&sides, &switched, "web").unwrap();
        assert_eq!(release.version(0), "green");
    }

    #[test]
    fn canary_is_one_service_over_both_tracks_stable_first() {
        let sides = [
            side("web-canary", &[APP, ("track", "canary")], 1),
            side("web", &[APP, ("track", "stable")], 3),
        ];
        let release = recognise(&sides, &[route("web", &[APP])], "web").unwrap();
        assert_eq!(release.kind, Kind::Canary);
        assert_eq!(release.sides[0].name, "web");
        assert_eq!(release.selected_by(release.live.as_ref().unwrap()), [0, 1]);
        // A canary labelled on one side only is still recognised.
        let sides = [
            side("web", &[APP], 3),
            side("web-canary", &[APP, ("track", "canary")], 1),
        ];
        let release = recognise(&sides, &[route("web", &[APP])], "web").unwrap();
        assert_eq!(
            (release.kind, release.sides[1].name.as_str()),
            (Kind::Canary, "web-canary")
        );
    }

    #[test]
    fn a_blue_green_service_over_both_sides_is_still_blue_green() {
        let sides = [
            side("web-blue", &[APP, ("version", "blue")], 2),
            side("web-green", &[APP, ("version", "green")], 2),
        ];
        let release = recognise(&sides, &[route("web", &[APP])], "web").unwrap();
        assert_eq!(release.kind, Kind::BlueGreen);
        assert_eq!(release.selected_by(release.live.as_ref().unwrap()), [0, 1]);
    }

    #[test]
    fn unrelated_deployments_are_no_release() {
        let sides = [
            side("web", &[APP], 2),
            side("worker", &[("app", "worker")], 1),
        ];
        assert!(recognise(&sides, &[route("web", &[APP])], "web").is_none());
        // Two sides no Service selects are no release either.
        let sides = [
            side("web-blue", &[APP, ("version", "blue")], 2),
            side("web-green", &[APP, ("version", "green")], 2),
        ];
        assert!(recognise(&sides, &[route("other", &[("app", "x")])], "web").is_none());
    }

    #[test]
    fn rollout_controllers_are_named() {
        assert_eq!(
            controller_object("Rollout", "argoproj.io/v1alpha1"),
            Some("an Argo Rollouts Rollout")
        );
        assert_eq!(
            controller_object("Canary", "flagger.app/v1beta1"),
            Some("a Flagger Canary")
        );
        assert_eq!(controller_object("Deployment", "apps/v1"), None);
    }
}
