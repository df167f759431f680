//! Release strategy rules: a blue-green or canary stack built from plain Deployments and
//! Services is recognised (see [`crate::strategy`]) and stated, and the mistakes that break a
//! switch or a split are findings with the fix: a live Service over both sides or neither, a
//! preview that shows the live side, a canary its Service never reaches, a canary larger than
//! stable, a side its own rollout can take to zero. Missing readiness probes on either side are
//! DC010's, which covers every Deployment.

use super::{Manifests, push};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::manifest::Object;
use crate::strategy::{self, Kind, Release};

rule!(
    RECOGNISED,
    "DC090",
    Info,
    "deploycheck checks a recognised release strategy on the cluster (`check` runs its scenario)",
    "nothing to do; set [strategy] in the profile where the recognition guessed wrong"
);
rule!(
    LIVE_SELECTOR,
    "DC091",
    Error,
    "a blue-green live Service must select exactly one side: over both, users get old and new answers at random; over neither, nobody is served",
    "put the version label in the live Service's selector with the live side's value (e.g. `version: blue`)"
);
rule!(
    PREVIEW_SELECTOR,
    "DC092",
    Error,
    "a preview Service that selects the live side tests what users already get, not the release about to go live",
    "select the idle side in the preview Service (the version label with the other value)"
);
rule!(
    CANARY_UNREACHED,
    "DC093",
    Error,
    "a canary's Service must select both tracks: traffic splits by ready pods only among the pods it selects, so one side gets nothing",
    "drop the track label from the Service's selector and keep only the labels both Deployments share"
);
rule!(
    CANARY_LARGER,
    "DC094",
    Warning,
    "a canary with more replicas than stable takes most of the traffic: that is a switch, not a canary",
    "run fewer canary replicas than stable (e.g. 1 of 4 for a quarter of the traffic)"
);
rule!(
    SIDE_TO_ZERO,
    "DC095",
    Warning,
    "a rollout that may take every pod of a side down at once leaves its Service with no endpoints in the middle of a release",
    "use a RollingUpdate with maxUnavailable below the replica count (0 and maxSurge 1 for one replica)"
);
rule!(
    CONTROLLER,
    "DC096",
    Info,
    "release controllers (Argo Rollouts, Flagger) decide traffic themselves; deploycheck does not check them yet, so nothing here is proven",
    "check the controller's own analysis, or express the release with two Deployments and a Service for deploycheck to prove it"
);

pub const RULES: [Rule; 7] = [
    RECOGNISED,
    LIVE_SELECTOR,
    PREVIEW_SELECTOR,
    CANARY_UNREACHED,
    CANARY_LARGER,
    SIDE_TO_ZERO,
    CONTROLLER,
];

/// DC090–DC096.
pub(super) fn releases(m: &Manifests, out: &mut Vec<Finding>) {
    for object in m.objects {
        if let Some(what) = strategy::controller_object(&object.kind, &object.api_version) {
            push(
                out,
                &CONTROLLER,
                object,
                object.node.line,
                format!("{what} is not checked by deploycheck yet: its release is not proven"),
            );
        }
    }
    let Some(release) = &m.release else {
        return;
    };
    if let Some(first) = deployment(m, &release.sides[0].name) {
        push(out, &RECOGNISED, first, first.node.line, release.describe());
    }
    match release.kind {
        Kind::BlueGreen => blue_green(m, release, out),
        Kind::Canary => canary(m, release, out),
    }
    for side in &release.sides {
        let Some(object) = deployment(m, &side.name) else {
            continue;
        };
        if let Some(problem) = drops_to_zero(object, side.replicas) {
            push(
                out,
                &SIDE_TO_ZERO,
                object,
                line_of(object, "strategy"),
                format!("Deployment {}: {problem}", side.name),
            );
        }
    }
}

fn deployment<'a>(m: &Manifests<'a>, name: &str) -> Option<&'a Object> {
    m.workloads
        .iter()
        .find(|w| w.object.kind == "Deployment" && w.object.name == name)
        .map(|w| w.object)
}

fn service<'a>(m: &Manifests<'a>, name: &str) -> Option<&'a Object> {
    m.services.iter().find(|s| s.name == name).copied()
}

/// The line of `spec.<field>`, or the object's when the field is not written.
fn line_of(object: &Object, field: &str) -> u64 {
    object
        .node
        .path(&["spec", field])
        .map_or(object.node.line, |n| n.line)
}

fn blue_green(m: &Manifests, release: &Release, out: &mut Vec<Finding>) {
    let label = &release.label;
    // The profile's live Service selecting no side is the "neither" case: recognition then
    // fell back to another Service.
    let routes = m.routes();
    let named_live = routes.iter().find(|r| r.name == m.profile.app.service);
    let live = match named_live {
        Some(route) if release.selected_by(route).is_empty() => Some(route),
        _ => release.live.as_ref(),
    };
    if let Some(live) = live
        && let Some(object) = service(m, &live.name)
    {
        let message = match release.selected_by(live).len() {
            2 => Some(format!(
                "live Service {} selects both {} and {}: its selector lacks `{label}`",
                live.name, release.sides[0].name, release.sides[1].name
            )),
            0 => Some(format!(
                "live Service {} selects neither {} nor {}",
                live.name, release.sides[0].name, release.sides[1].name
            )),
            _ => None,
        };
        if let Some(message) = message {
            push(
                out,
                &LIVE_SELECTOR,
                object,
                line_of(object, "selector"),
                message,
            );
        }
    }
    if let Some(preview) = &release.preview
        && let Some(object) = service(m, &preview.name)
        && release.selected_by(preview).contains(&0)
        && release
            .live
            .as_ref()
            .is_some_and(|l| release.selected_by(l) == [0])
    {
        push(
            out,
            &PREVIEW_SELECTOR,
            object,
            line_of(object, "selector"),
            format!(
                "preview Service {} selects the live side {} (`{label}: {}`)",
                preview.name,
                release.sides[0].name,
                release.version(0)
            ),
        );
    }
}

fn canary(m: &Manifests, release: &Release, out: &mut Vec<Finding>) {
    let [stable, canary] = &release.sides;
    if let Some(live) = &release.live
        && let Some(object) = service(m, &live.name)
        && let [only] = release.selected_by(live)[..]
    {
        push(
            out,
            &CANARY_UNREACHED,
            object,
            line_of(object, "selector"),
            format!(
                "Service {} selects only {} (`{}: {}`): {} gets no traffic",
                live.name,
                release.sides[only].name,
                release.label,
                release.version(only),
                release.sides[1 - only].name
            ),
        );
    }
    if canary.replicas > stable.replicas
        && let Some(object) = deployment(m, &canary.name)
    {
        push(
            out,
            &CANARY_LARGER,
            object,
            line_of(object, "replicas"),
            format!(
                "canary {} runs {} replicas, stable {} only {}",
                canary.name, canary.replicas, stable.name, stable.replicas
            ),
        );
    }
}

/// Why the Deployment's own rollout may leave it with no available pod, if it may.
fn drops_to_zero(object: &Object, replicas: i32) -> Option<String> {
    if replicas < 1 {
        return None;
    }
    let strategy = object.node.path(&["spec", "strategy"]);
    let kind = strategy
        .and_then(|s| s.get("type"))
        .and_then(|t| t.scalar_text())
        .unwrap_or_else(|| "RollingUpdate".into());
    if kind == "Recreate" {
        return Some("strategy Recreate stops every pod before starting new ones".into());
    }
    let max = strategy.and_then(|s| s.path(&["rollingUpdate", "maxUnavailable"]))?;
    let text = max.scalar_text()?;
    let unavailable = match text.strip_suffix('%') {
        // Kubernetes rounds a percentage of unavailable pods down.
        Some(percent) => percent.trim().parse::<f64>().ok()? * f64::from(replicas) / 100.0,
        None => text.trim().parse::<f64>().ok()?,
    }
    .floor() as i32;
    (unavailable >= replicas).then(|| {
        format!(
            "maxUnavailable {text} of {replicas} replica(s) lets a rollout take all of them down"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::k8s::tests::objects;
    use crate::profile::Profile;

    /// (rule id, message) of every release finding.
    fn releases(text: &str) -> Vec<(&'static str, String)> {
        let objects = objects(text);
        let profile = Profile::built_in("reference").unwrap();
        let mut out = Vec::new();
        super::releases(&Manifests::new(&objects, &profile), &mut out);
        out.into_iter().map(|f| (f.rule, f.message)).collect()
    }

    fn deployment(name: &str, track: (&str, &str), replicas: i32, strategy: &str) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n{strategy}  \
             template:\n    metadata:\n      labels: {{app.kubernetes.io/name: deploycheck-app, {}: {}}}\n    \
             spec:\n      containers: [{{name: app, image: 'deploycheck-app:0.1.0'}}]\n---\n",
            track.0, track.1
        )
    }

    fn service(name: &str, selector: &str) -> String {
        format!(
            "kind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{{selector}}}\n---\n"
        )
    }

    const APP: &str = "app.kubernetes.io/name: deploycheck-app";

    fn blue_green(live: &str, preview: &str) -> String {
        deployment("deploycheck-app-blue", ("version", "blue"), 2, "")
            + &deployment("deploycheck-app-green", ("version", "green"), 2, "")
            + &service("deploycheck-app", live)
            + &service("deploycheck-app-preview", preview)
    }

    fn ids(findings: &[(&'static str, String)]) -> Vec<&'static str> {
        findings.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn a_correct_blue_green_stack_is_recognised_and_nothing_else() {
        let found = releases(&blue_green(
            &format!("{APP}, version: blue"),
            &format!("{APP}, version: green"),
        ));
        assert_eq!(
            found,
            [(
                "DC090",
                "blue-green by label `version`: live Service deploycheck-app → \
                 deploycheck-app-blue (blue), idle deploycheck-app-green (green), preview Service \
                 deploycheck-app-preview"
                    .to_string()
            )]
        );
    }

    #[test]
    fn deployments_beside_the_app_are_not_its_release() {
        // A Prometheus and a Grafana differing in one label, with a Service over one of them,
        // look like two sides of a blue-green release unless sides must be the app's pods.
        let tool = |name: &str, component: &str| {
            format!(
                "kind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  template:\n    metadata:\n      \
                 labels: {{app.kubernetes.io/part-of: monitoring, app.kubernetes.io/component: {component}}}\n    \
                 spec:\n      containers: [{{name: c, image: 'example:1.0'}}]\n---\n"
            )
        };
        let stack = tool("prometheus", "metrics")
            + &tool("grafana", "dashboards")
            + &service("grafana", "app.kubernetes.io/component: dashboards");
        let found = releases(&stack);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_live_service_over_both_sides_or_neither_is_an_error() {
        let both = releases(&blue_green(APP, &format!("{APP}, version: green")));
        assert_eq!(ids(&both), ["DC090", "DC091"], "{both:?}");
        assert_eq!(
            both[1].1,
            "live Service deploycheck-app selects both deploycheck-app-blue and \
             deploycheck-app-green: its selector lacks `version`"
        );
        let neither = releases(&blue_green(
            &format!("{APP}, version: purple"),
            &format!("{APP}, version: green"),
        ));
        assert!(
            neither.iter().any(|(id, m)| *id == "DC091"
                && m == "live Service deploycheck-app selects neither deploycheck-app-blue nor deploycheck-app-green"),
            "{neither:?}"
        );
    }

    #[test]
    fn a_preview_of_the_live_side_is_an_error() {
        let found = releases(&blue_green(
            &format!("{APP}, version: blue"),
            &format!("{APP}, version: blue"),
        ));
        assert_eq!(ids(&found), ["DC090", "DC092"], "{found:?}");
        assert_eq!(
            found[1].1,
            "preview Service deploycheck-app-preview selects the live side deploycheck-app-blue \
             (`version: blue`)"
        );
    }

    fn canary(selector: &str, stable: i32, canary: i32) -> String {
        deployment("deploycheck-app", ("track", "stable"), stable, "")
            + &deployment("deploycheck-app-canary", ("track", "canary"), canary, "")
            + &service("deploycheck-app", selector)
    }

    #[test]
    fn a_canary_needs_its_service_over_both_tracks_and_fewer_replicas() {
        let good = releases(&canary(APP, 3, 1));
        assert_eq!(ids(&good), ["DC090"], "{good:?}");
        assert_eq!(
            good[0].1,
            "canary by label `track`: stable deploycheck-app (stable) × 3, canary \
             deploycheck-app-canary (canary) × 1, Service deploycheck-app"
        );
        let unreached = releases(&canary(&format!("{APP}, track: stable"), 3, 1));
        assert_eq!(ids(&unreached), ["DC090", "DC093"], "{unreached:?}");
        assert_eq!(
            unreached[1].1,
            "Service deploycheck-app selects only deploycheck-app (`track: stable`): \
             deploycheck-app-canary gets no traffic"
        );
        let larger = releases(&canary(APP, 1, 3));
        assert_eq!(ids(&larger), ["DC090", "DC094"], "{larger:?}");
        assert_eq!(
            larger[1].1,
            "canary deploycheck-app-canary runs 3 replicas, stable deploycheck-app only 1"
        );
    }

    #[test]
    fn a_stable_side_an_hpa_scales_counts_its_minimum() {
        let hpa = "kind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  \
                   scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: deploycheck-app}\n  \
                   minReplicas: 3\n  maxReplicas: 5\n";
        let found = releases(&(canary(APP, 1, 2) + hpa));
        assert_eq!(ids(&found), ["DC090"], "{found:?}");
        assert!(
            found[0].1.contains("stable deploycheck-app (stable) × 3"),
            "{found:?}"
        );
    }

    #[test]
    fn a_rollout_that_may_empty_a_side_is_a_warning() {
        let stack = deployment(
            "deploycheck-app-blue",
            ("version", "blue"),
            1,
            "  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}\n",
        ) + &deployment(
            "deploycheck-app-green",
            ("version", "green"),
            4,
            "  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 25%}}\n",
        ) + &service("deploycheck-app", &format!("{APP}, version: blue"));
        let found = releases(&stack);
        assert_eq!(ids(&found), ["DC090", "DC095"], "{found:?}");
        assert_eq!(
            found[1].1,
            "Deployment deploycheck-app-blue: maxUnavailable 1 of 1 replica(s) lets a rollout take \
             all of them down"
        );
        let recreate = deployment(
            "deploycheck-app-blue",
            ("version", "blue"),
            2,
            "  strategy: {type: Recreate}\n",
        ) + &deployment("deploycheck-app-green", ("version", "green"), 2, "")
            + &service("deploycheck-app", &format!("{APP}, version: blue"));
        assert!(releases(&recreate).iter().any(|(id, m)| *id == "DC095"
            && m.ends_with("strategy Recreate stops every pod before starting new ones")),);
    }

    #[test]
    fn one_deployment_is_no_release_and_controllers_are_named() {
        let single = deployment("deploycheck-app", ("tier", "web"), 2, "")
            + &service("deploycheck-app", APP);
        assert!(releases(&single).is_empty());
        let rollout =
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec: {}\n";
        assert_eq!(
            releases(rollout),
            [(
                "DC096",
                "an Argo Rollouts Rollout is not checked by deploycheck yet: its release is not proven"
                    .to_string()
            )]
        );
    }
}
