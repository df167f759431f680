//! The Grafana part of the `monitoring` scenario: `/api/health` ok, the dashboard found
//! through `/api/search`, and every panel's query returning data through the data source
//! proxy, a panel without data named with its query and, where that is why, the metric the
//! app does not have.

use std::collections::BTreeSet;

use serde_json::Value;

use super::prometheus::vector;
use super::{Findings, Settings, client, forward_to, get_json};
use crate::cluster::Cluster;
use crate::profile::Monitoring;
use crate::scenario::Target;

/// Series Prometheus makes for every target itself: a dashboard may query them although no
/// app exposes them.
const SCRAPE_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Grafana reached through its Service, and what it needs to be asked.
struct Grafana<'a> {
    http: reqwest::Client,
    base: String,
    auth: Option<&'a str>,
    /// The default data source's uid, once read.
    default: Option<Result<String, String>>,
}

impl Grafana<'_> {
    async fn get(&self, path: &str) -> Result<Value, String> {
        get_json(&self.http, &format!("{}{path}", self.base), self.auth).await
    }

    /// The uid of the default data source (`/api/datasources`, or where a Viewer may not list
    /// data sources, `/api/frontend/settings`).
    async fn default_datasource(&mut self) -> Result<String, String> {
        if let Some(known) = &self.default {
            return known.clone();
        }
        let listed = match self.get("/api/datasources").await {
            Ok(all) => all
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["isDefault"] == true)
                .and_then(|d| d["uid"].as_str())
                .map(str::to_string)
                .ok_or_else(|| "no data source is the default".to_string()),
            Err(_) => match self.get("/api/frontend/settings").await {
                Ok(settings) => {
                    let name = settings["defaultDatasource"].as_str().unwrap_or_default();
                    settings["datasources"][name]["uid"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| "no data source is the default".to_string())
                }
                Err(problem) => Err(problem),
            },
        };
        self.default = Some(listed.clone());
        listed
    }
}

/// How to get past a 401 or 403, given whether credentials were sent.
fn grafana_login_fix(auth: Option<&str>, problem: &str) -> Option<String> {
    if problem.starts_with("answered 401") {
        Some(match auth {
            None => "it does not let anonymous users view dashboards: set \
                     DEPLOYCHECK_GRAFANA_AUTH=user:password (a Viewer is enough), or enable \
                     anonymous Viewer access (GF_AUTH_ANONYMOUS_ENABLED=true, \
                     GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer)"
                .into(),
            Some(_) => "it refused the login in DEPLOYCHECK_GRAFANA_AUTH: check its user and \
                        password (user:password)"
                .into(),
        })
    } else if problem.starts_with("answered 403") {
        Some(
            "the user (or the anonymous role) may not read it: give it the Viewer role in the \
             dashboard's organisation"
                .into(),
        )
    } else {
        None
    }
}

/// Grafana's health, the dashboard, and every panel's query through the data source proxy.
pub(super) async fn grafana<C: Cluster + Send + 'static>(
    target: &Target<C>,
    settings: &Settings,
    app_names: &BTreeSet<String>,
    found: &mut Findings,
) {
    let monitoring = &target.profile.monitoring;
    let forwarder = match forward_to(
        target,
        &monitoring.grafana_service,
        "[monitoring] grafana_service",
        monitoring.grafana_port,
    )
    .await
    {
        Ok(forwarder) => forwarder,
        Err(problem) => {
            found.mismatches.push(format!("Grafana: {problem}"));
            return;
        }
    };
    let mut grafana = Grafana {
        http: client(settings.timeout, false),
        base: forwarder.base_url(),
        auth: settings.grafana_auth.as_deref(),
        default: None,
    };
    if let Err(problem) = health(&grafana).await {
        found.mismatches.push(format!("Grafana: {problem}"));
        return;
    }
    let hits = match grafana.get("/api/search?type=dash-db&limit=5000").await {
        Ok(hits) => hits.as_array().cloned().unwrap_or_default(),
        Err(problem) => {
            let fix = grafana_login_fix(grafana.auth, &problem)
                .map(|fix| format!(": {fix}"))
                .unwrap_or_default();
            found
                .mismatches
                .push(format!("Grafana: /api/search {problem}{fix}"));
            return;
        }
    };
    let dashboards = match dashboards(&grafana, &hits, monitoring).await {
        Ok(dashboards) => dashboards,
        Err(problem) => {
            found.mismatches.push(format!("Grafana: {problem}"));
            return;
        }
    };
    for dashboard in dashboards {
        panels(&mut grafana, &dashboard, monitoring, app_names, found).await;
    }
}

/// `/api/health` says the database is ok (it answers 503 when it is not, with the same body).
async fn health(grafana: &Grafana<'_>) -> Result<(), String> {
    let answer = grafana
        .http
        .get(format!("{}/api/health", grafana.base))
        .send()
        .await
        .map_err(|e| {
            format!(
                "/api/health failed: {}",
                crate::http::describe_transport(&e, std::time::Duration::from_secs(10))
            )
        })?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    let database = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|h| h["database"].as_str().map(str::to_string));
    match database.as_deref() {
        Some("ok") if status.is_success() => Ok(()),
        Some(other) => Err(format!(
            "/api/health answered {status}: its database is `{other}`, so it cannot read its \
             dashboards or users (its pod's log says why)"
        )),
        None => Err(format!(
            "/api/health answered {status} without a database state: {}",
            super::shorten(&text)
        )),
    }
}

/// The dashboards to check: the one the profile names (by uid or title), else every one whose
/// queries name the request counter.
async fn dashboards(
    grafana: &Grafana<'_>,
    hits: &[Value],
    monitoring: &Monitoring,
) -> Result<Vec<Value>, String> {
    let wanted = &monitoring.dashboard;
    let listed = || {
        let all: Vec<String> = hits
            .iter()
            .take(10)
            .map(|h| {
                format!(
                    "`{}` (uid {})",
                    h["title"].as_str().unwrap_or_default(),
                    h["uid"].as_str().unwrap_or_default()
                )
            })
            .collect();
        if all.is_empty() {
            "none".to_string()
        } else {
            all.join(", ")
        }
    };
    let fetch = |uid: String| async move {
        grafana
            .get(&format!("/api/dashboards/uid/{uid}"))
            .await
            .map(|answer| answer["dashboard"].clone())
            .map_err(|problem| {
                let fix = grafana_login_fix(grafana.auth, &problem)
                    .map(|fix| format!(": {fix}"))
                    .unwrap_or_default();
                format!("/api/dashboards/uid/{uid} {problem}{fix}")
            })
    };
    let uid_of = |h: &Value| h["uid"].as_str().unwrap_or_default().to_string();
    if !wanted.is_empty() {
        let hit = hits.iter().find(|h| {
            h["uid"] == wanted.as_str()
                || h["title"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(wanted))
        });
        let Some(hit) = hit else {
            return Err(format!(
                "no dashboard with uid or title `{wanted}` ([monitoring] dashboard) in its search \
                 (dashboards: {}): provision it (a dashboard provider's folder or the API), or \
                 name the right one",
                listed()
            ));
        };
        return Ok(vec![fetch(uid_of(hit)).await?]);
    }
    let counter = &monitoring.request_counter;
    let mut chosen = Vec::new();
    for hit in hits.iter().take(50) {
        let dashboard = fetch(uid_of(hit)).await?;
        let names_counter = flatten(&dashboard).iter().any(|panel| {
            exprs(panel).iter().any(|expr| {
                crate::promql::metric_names(&substitute(expr, &dashboard, monitoring)).is_ok_and(
                    |names| names.contains(counter) || names.contains(&format!("{counter}_total")),
                )
            })
        });
        if names_counter {
            chosen.push(dashboard);
        }
    }
    if chosen.is_empty() {
        return Err(format!(
            "no dashboard queries `{counter}` (dashboards: {}): provision one over the app's \
             metrics, or name it in [monitoring] dashboard",
            listed()
        ));
    }
    Ok(chosen)
}

/// Every panel of a dashboard, the panels of collapsed rows included.
fn flatten(dashboard: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel.clone());
        all.extend(panel["panels"].as_array().into_iter().flatten().cloned());
    }
    all.retain(|p| p["type"] != "row");
    all
}

fn exprs(panel: &Value) -> Vec<String> {
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["hide"] != true)
        .filter_map(|t| t["expr"].as_str())
        .filter(|e| !e.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A query as Grafana would send it for an instant over the dashboard's last hour: its
/// built-in interval variables (`$__rate_interval` is four scrape intervals, Grafana's floor
/// for it; `$__interval` one; `$__range` the hour) and the dashboard's own variables (their
/// current value; "All" or none: `.*`).
pub fn substitute(expr: &str, dashboard: &Value, monitoring: &Monitoring) -> String {
    let scrape = monitoring.scrape_interval.as_secs().max(1);
    let builtin = |name: &str| -> Option<String> {
        Some(match name {
            "__rate_interval" => format!("{}s", scrape * 4),
            "__rate_interval_ms" => format!("{}", scrape * 4000),
            "__interval" => format!("{scrape}s"),
            "__interval_ms" => format!("{}", scrape * 1000),
            "__range" => "1h".into(),
            "__range_s" => "3600".into(),
            "__range_ms" => "3600000".into(),
            _ => return None,
        })
    };
    let variable = |name: &str| -> String {
        if let Some(value) = builtin(name) {
            return value;
        }
        let current = dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .map(|v| v["current"]["value"].clone());
        match current {
            Some(Value::String(value)) if value != "$__all" => value,
            Some(Value::Array(values))
                if !values.is_empty() && !values.iter().any(|v| v == "$__all") =>
            {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|")
            }
            _ => ".*".into(),
        }
    };
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    let word = |from: usize| {
        let mut end = from;
        while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
            end += 1;
        }
        end
    };
    while at < chars.len() {
        let rest: String = chars[at..].iter().take(2).collect();
        if rest == "${"
            && let Some(close) = chars[at..].iter().position(|c| *c == '}')
        {
            let inner: String = chars[at + 2..at + close].iter().collect();
            let name = inner.split(':').next().unwrap_or_default();
            out.push_str(&variable(name));
            at += close + 1;
        } else if rest == "[["
            && let Some(close) = chars[at..].windows(2).position(|w| w == [']', ']'])
        {
            let inner: String = chars[at + 2..at + close].iter().collect();
            let name = inner.split(':').next().unwrap_or_default();
            out.push_str(&variable(name));
            at += close + 2;
        } else if chars[at] == '$' && word(at + 1) > at + 1 {
            let end = word(at + 1);
            let name: String = chars[at + 1..end].iter().collect();
            out.push_str(&variable(&name));
            at = end;
        } else {
            out.push(chars[at]);
            at += 1;
        }
    }
    out
}

/// The data source a panel's target queries: its own, the panel's, a dashboard variable's
/// current value, or Grafana's default. `Ok(None)`: not a Prometheus data source.
async fn datasource(
    grafana: &mut Grafana<'_>,
    dashboard: &Value,
    panel: &Value,
    target: &Value,
) -> Result<Option<String>, String> {
    let chosen = [&target["datasource"], &panel["datasource"]]
        .into_iter()
        .find(|d| !d.is_null())
        .cloned()
        .unwrap_or(Value::Null);
    let (kind, uid) = match &chosen {
        Value::Object(_) => (
            chosen["type"].as_str().map(str::to_string),
            chosen["uid"].as_str().map(str::to_string),
        ),
        // A data source named by a string (older dashboards): a variable, or a uid.
        Value::String(text) => (None, Some(text.clone())),
        _ => (None, None),
    };
    if kind.as_deref().is_some_and(|k| k != "prometheus") {
        return Ok(None);
    }
    let uid = match uid {
        Some(uid) if uid.starts_with('$') => {
            let name = uid.trim_start_matches('$').trim_matches(['{', '}']);
            let value = dashboard["templating"]["list"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["name"] == name)
                .and_then(|v| v["current"]["value"].as_str())
                .filter(|v| !v.starts_with('$'))
                .map(str::to_string);
            match value {
                Some(value) => value,
                None => grafana.default_datasource().await?,
            }
        }
        Some(uid) if !uid.is_empty() => uid,
        _ => grafana.default_datasource().await?,
    };
    Ok(Some(uid))
}

/// Each panel's queries through the data source proxy: every one must return data.
async fn panels(
    grafana: &mut Grafana<'_>,
    dashboard: &Value,
    monitoring: &Monitoring,
    app_names: &BTreeSet<String>,
    found: &mut Findings,
) {
    let title = dashboard["title"].as_str().unwrap_or_default().to_string();
    let mut with_data = 0;
    let mut not_checked = Vec::new();
    for panel in flatten(dashboard) {
        let panel_title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
        let targets: Vec<Value> = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() && panel.get("libraryPanel").is_some() {
            not_checked.push(format!("`{panel_title}` (a library panel)"));
        }
        let mut all_data = !targets.is_empty();
        for query_target in targets.iter().filter(|t| t["hide"] != true) {
            let Some(expr) = query_target["expr"]
                .as_str()
                .filter(|e| !e.trim().is_empty())
            else {
                continue;
            };
            let uid = match datasource(grafana, dashboard, &panel, query_target).await {
                Ok(Some(uid)) => uid,
                Ok(None) => {
                    not_checked.push(format!("`{panel_title}` (not a Prometheus data source)"));
                    continue;
                }
                Err(problem) => {
                    found.mismatches.push(format!(
                        "Grafana: panel `{panel_title}` of `{title}`: its data source cannot be \
                         resolved: {problem}"
                    ));
                    all_data = false;
                    continue;
                }
            };
            let sent = substitute(expr, dashboard, monitoring);
            let url = match reqwest::Url::parse_with_params(
                &format!(
                    "{}/api/datasources/proxy/uid/{uid}/api/v1/query",
                    grafana.base
                ),
                [("query", sent.as_str())],
            ) {
                Ok(url) => url,
                Err(error) => {
                    found.mismatches.push(format!("Grafana: {error}"));
                    continue;
                }
            };
            let answer = get_json(&grafana.http, url.as_str(), grafana.auth).await;
            let problem = match answer.and_then(|a| vector(&a)) {
                Ok(samples) if !samples.is_empty() => None,
                Ok(_) => Some(no_data(&panel_title, &title, expr, &sent, app_names)),
                Err(problem) => {
                    let fix = grafana_login_fix(grafana.auth, &problem)
                        .map(|fix| format!(": {fix}"))
                        .unwrap_or_default();
                    Some(format!(
                        "Grafana: panel `{panel_title}` of `{title}`: `{expr}` through data \
                         source {uid} {problem}{fix}"
                    ))
                }
            };
            if let Some(problem) = problem {
                found.mismatches.push(problem);
                all_data = false;
            }
        }
        if all_data {
            with_data += 1;
        }
    }
    let skipped = if not_checked.is_empty() {
        String::new()
    } else {
        format!("; not checked: {}", not_checked.join(", "))
    };
    found.held.push(format!(
        "Grafana: dashboard `{title}`: {with_data} panel(s) return data through the data source \
         proxy{skipped}"
    ));
}

/// A panel without data, with the metric it names that the app does not have (and the closest
/// one it has), where that is the reason.
fn no_data(
    panel: &str,
    dashboard: &str,
    expr: &str,
    sent: &str,
    app_names: &BTreeSet<String>,
) -> String {
    let mut text =
        format!("Grafana: panel `{panel}` of `{dashboard}` returned no data for `{expr}`");
    if sent != expr {
        text.push_str(&format!(" (sent as `{sent}`)"));
    }
    let named = crate::promql::metric_names(sent).unwrap_or_default();
    let unknown: Vec<&String> = named
        .iter()
        .filter(|n| !app_names.contains(*n) && !SCRAPE_SERIES.contains(&n.as_str()))
        .collect();
    if unknown.is_empty() || app_names.is_empty() {
        text.push_str(
            ": every metric it names is one the app exposes, so a label filter matches no \
             series yet (write `... or vector(0)` where no series means zero) or Prometheus has \
             not scraped them",
        );
        return text;
    }
    let said: Vec<String> = unknown
        .iter()
        .map(|name| match closest(name, app_names) {
            Some(near) => format!("`{name}` (closest the app has: `{near}`)"),
            None => format!("`{name}`"),
        })
        .collect();
    text.push_str(&format!(
        ": it names {}, which the app does not expose: fix the panel's query",
        said.join(", ")
    ));
    text
}

/// The name of `names` nearest to `name` in edits, if any is near enough to be a misspelling.
fn closest<'a>(name: &str, names: &'a BTreeSet<String>) -> Option<&'a str> {
    names
        .iter()
        .map(|candidate| (crate::spelling::edit_distance(name, candidate), candidate))
        .filter(|(d, candidate)| *d <= candidate.len().max(name.len()) / 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate.as_str())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::cluster::fake::monitoring::recorded;

    use super::*;
    #[test]
    fn grafana_variables_become_what_grafana_would_send() {
        let dashboard = recorded::json(recorded::DASHBOARD)["dashboard"].clone();
        let mut monitoring = crate::profile::Profile::built_in("reference")
            .unwrap()
            .monitoring;
        monitoring.scrape_interval = Duration::from_secs(10);
        let sent = |expr: &str| substitute(expr, &dashboard, &monitoring);
        assert_eq!(
            sent("sum(rate(x[$__rate_interval])) / sum(rate(x[${__interval}]))"),
            "sum(rate(x[40s])) / sum(rate(x[10s]))"
        );
        assert_eq!(sent("increase(x[$__range])"), "increase(x[1h])");
        assert_eq!(sent("x{ds=\"$datasource\"}"), "x{ds=\"prometheus\"}");
        assert_eq!(
            sent("x{pod=~\"$pod\",a=\"[[job]]\"}"),
            "x{pod=~\".*\",a=\".*\"}"
        );
        assert_eq!(sent("x{a=\"${datasource:regex}\"}"), "x{a=\"prometheus\"}");
    }
    #[test]
    fn panels_of_collapsed_rows_are_panels_too() {
        let dashboard = recorded::json(recorded::DASHBOARD)["dashboard"].clone();
        let titles: Vec<String> = flatten(&dashboard)
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            titles,
            ["Request rate", "Error ratio", "p95 latency", "Pods up"]
        );
    }
    #[test]
    fn the_closest_name_is_a_likely_misspelling_or_none() {
        let names: BTreeSet<String> = ["http_requests_total", "db_errors_total"]
            .map(String::from)
            .into();
        assert_eq!(
            closest("http_request_total", &names),
            Some("http_requests_total")
        );
        assert_eq!(closest("node_cpu_seconds_total", &names), None);
    }
}
