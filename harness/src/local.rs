//! `deploycheck local`: challenge part 1 end to end (contract, a short load, and the database
//! restarted under the app, which must recover by itself and lose nothing it acknowledged).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::api::{self, Outcome, Verdict};
use crate::load::{self, LoadSummary};
use crate::profile::Profile;

/// How long the app may take to serve again after the database is back.
pub const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);
/// Upper bound for a user's restart command.
pub const RESTART_COMMAND_DEADLINE: Duration = Duration::from_secs(120);
/// Acknowledged writes made before the restart and read back after it.
const MARKERS: usize = 5;

/// Result of the restart check.
#[derive(Clone, Debug, Serialize)]
pub struct RestartOutcome {
    pub verdict: Verdict,
    pub detail: String,
    /// From the restart's end to the first successful write.
    pub recovery_ms: Option<u64>,
    pub acknowledged_before: usize,
    pub lost: usize,
}

/// The load step: it ran, was skipped on request, or could not run (a failure).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome")]
pub enum LoadStep {
    Ran(Box<LoadSummary>),
    Skipped { reason: String },
    Failed { reason: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct LocalReport {
    pub url: String,
    pub api: Vec<Outcome>,
    pub load: LoadStep,
    pub restart: RestartOutcome,
}

impl LocalReport {
    pub fn passed(&self) -> bool {
        let load_ok = match &self.load {
            LoadStep::Ran(summary) => summary.passed(),
            LoadStep::Skipped { .. } => true,
            LoadStep::Failed { .. } => false,
        };
        // `local` has no --strict: a warning's requirement held.
        !self.api.iter().any(|o| o.verdict.fails(false))
            && load_ok
            && !self.restart.verdict.fails(false)
    }
}

/// The HTTP contract (`api`'s checks) and, where the profile names a metrics route, the
/// exposition's rules and the request counter: what `deploycheck api` and part 1 check.
///
/// # Errors
/// When the app cannot be reached at all (nothing is checked then).
pub async fn contract(
    target: &api::Target,
    profile: &Profile,
) -> Result<Vec<Outcome>, api::ApiError> {
    let mut outcomes = api::check(target, profile).await?;
    outcomes.extend(metrics_outcomes(target, profile).await);
    Ok(outcomes)
}

/// The metrics checks as two contract outcomes: the exposition's rules (an error finding fails,
/// a warning warns) and the request counter. Skipped, never passed, when the profile names no
/// metrics route.
async fn metrics_outcomes(target: &api::Target, profile: &Profile) -> [api::Outcome; 2] {
    use crate::metrics::{self, Verdict as CounterVerdict, rules};
    const EXPOSITION: &str = "the metrics route serves a valid exposition";
    const COUNTER: &str = "the request counter counts requests";
    let monitoring = &profile.monitoring;
    let outcome =
        |check, verdict, detail: String, sent: String, received: String, hint| api::Outcome {
            check,
            verdict,
            detail,
            sent,
            received,
            hint,
            elapsed_ms: 0,
        };
    if monitoring.metrics_path.is_empty() {
        let why = "the profile names no metrics route ([monitoring] metrics_path)";
        return [
            outcome(
                EXPOSITION,
                api::Verdict::Skip,
                why.into(),
                String::new(),
                String::new(),
                rules::PARSE.hint,
            ),
            outcome(
                COUNTER,
                api::Verdict::Skip,
                why.into(),
                String::new(),
                String::new(),
                rules::COUNTER_MOVES.hint,
            ),
        ];
    }
    let url = format!(
        "{}{}",
        target.base_url.trim_end_matches('/'),
        monitoring.metrics_path
    );
    let options = metrics::Options {
        timeout: target.timeout,
        ..metrics::Options::new(&url, &monitoring.request_counter)
    };
    let scraped = format!("GET {}", monitoring.metrics_path);
    let report = match metrics::run(&options).await {
        Ok(report) => report,
        Err(error) => {
            let detail = format!("no exposition: {error}");
            return [
                outcome(
                    EXPOSITION,
                    api::Verdict::Fail,
                    detail.clone(),
                    scraped,
                    error.to_string(),
                    rules::PARSE.hint,
                ),
                outcome(
                    COUNTER,
                    api::Verdict::Skip,
                    "the metrics route did not answer".into(),
                    String::new(),
                    String::new(),
                    rules::COUNTER_MOVES.hint,
                ),
            ];
        }
    };
    let findings: Vec<&crate::findings::Finding> = report.rule_findings().collect();
    let worst = findings.iter().map(|f| f.severity).max();
    let verdict = match worst {
        Some(crate::findings::Severity::Error) => api::Verdict::Fail,
        Some(crate::findings::Severity::Warning) => api::Verdict::Warn,
        _ => api::Verdict::Pass,
    };
    let detail = if findings.is_empty() {
        "no findings".to_string()
    } else {
        findings
            .iter()
            .map(|f| format!("{} {} (line {}): {}", f.rule, f.object, f.line, f.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let hint = findings
        .iter()
        .max_by_key(|f| f.severity)
        .map_or(rules::PARSE.hint, |f| f.hint);
    let received = match report.format {
        Some(format) => format!(
            "{format}, {} families, {} samples",
            report.families, report.samples
        ),
        None => "no exposition".into(),
    };
    let counter = &report.counter;
    let counter_verdict = match counter.verdict {
        CounterVerdict::Pass => api::Verdict::Pass,
        CounterVerdict::Fail => api::Verdict::Fail,
        CounterVerdict::Skip => api::Verdict::Skip,
    };
    let sent = if counter.sent == 0 {
        String::new()
    } else {
        format!("{} x GET {}", counter.sent, counter.path)
    };
    let rose = counter.rose.map_or(String::new(), |rose| {
        format!(
            "`{}` rose by {}",
            counter.counter,
            metrics::counter::count(rose)
        )
    });
    [
        api::Outcome {
            elapsed_ms: report.scrape_ms,
            ..outcome(EXPOSITION, verdict, detail, scraped, received, hint)
        },
        api::Outcome {
            elapsed_ms: counter.elapsed_ms,
            ..outcome(
                COUNTER,
                counter_verdict,
                counter.detail.clone(),
                sent,
                rose,
                rules::COUNTER_MOVES.hint,
            )
        },
    ]
}

/// Runs the contract, the load and the restart check against `base_url`.
///
/// `restart` stops and starts the database and returns when its command has finished (or says
/// why it could not); `None` reports the restart check as skipped with `no_restart_reason`.
///
/// # Errors
/// When the app cannot be reached at all (nothing is checked then).
pub async fn run(
    base_url: &str,
    profile: &Profile,
    load_settings: Option<load::Settings>,
    restart: Option<impl AsyncFnOnce() -> Result<(), String>>,
    no_restart_reason: &str,
) -> Result<LocalReport, String> {
    let target = api::Target {
        base_url: base_url.to_string(),
        timeout: Duration::from_secs(10),
    };
    let api = contract(&target, profile)
        .await
        .map_err(|e| e.to_string())?;
    let load = match load_settings {
        None => LoadStep::Skipped {
            reason: "--skip-load was given".into(),
        },
        Some(settings) => match load::run(&settings).await {
            Ok(summary) => LoadStep::Ran(Box::new(summary)),
            Err(error) => LoadStep::Failed {
                reason: error.to_string(),
            },
        },
    };
    let restart = match restart {
        None => RestartOutcome {
            verdict: Verdict::Skip,
            detail: no_restart_reason.to_string(),
            recovery_ms: None,
            acknowledged_before: 0,
            lost: 0,
        },
        Some(restart) => restart_check(base_url, restart).await,
    };
    Ok(LocalReport {
        url: base_url.to_string(),
        api,
        load,
        restart,
    })
}

async fn restart_check(
    base_url: &str,
    restart: impl AsyncFnOnce() -> Result<(), String>,
) -> RestartOutcome {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client builds");
    let data = format!("{}/data", base_url.trim_end_matches('/'));
    let run_id = crate::unique_marker("restart");
    let fail = |detail: String, acknowledged_before: usize| RestartOutcome {
        verdict: Verdict::Fail,
        detail,
        recovery_ms: None,
        acknowledged_before,
        lost: 0,
    };

    let mut markers = Vec::new();
    for n in 0..MARKERS {
        let marker = format!("{run_id}-{n}");
        match http
            .post(&data)
            .json(&json!({"deploycheck_restart": marker}))
            .send()
            .await
        {
            Ok(r) if matches!(r.status().as_u16(), 200 | 201) => markers.push(marker),
            Ok(r) => {
                return fail(
                    format!("before the restart, POST /data answered {}", r.status()),
                    markers.len(),
                );
            }
            Err(e) => {
                return fail(
                    format!("before the restart, POST /data failed: {e}"),
                    markers.len(),
                );
            }
        }
    }

    if let Err(reason) = restart().await {
        return fail(
            format!("the database restart failed: {reason}"),
            markers.len(),
        );
    }

    // Poll with writes: the app must take a write again without being restarted itself.
    let restarted = Instant::now();
    let mut last = String::from("no attempt yet");
    let recovered = loop {
        let probe = json!({"deploycheck_restart": format!("{run_id}-after")});
        match http.post(&data).json(&probe).send().await {
            Ok(r) if matches!(r.status().as_u16(), 200 | 201) => break true,
            Ok(r) => last = format!("POST /data answered {}", r.status()),
            Err(e) => last = format!("POST /data failed: {e}"),
        }
        if restarted.elapsed() > RECOVERY_DEADLINE {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if !recovered {
        return fail(
            format!(
                "the app did not take a write within {} s after the database restart; last: {last}. \
                 A driver with a connection pool reconnects by itself: create the client once \
                 at start-up and do not cache a single connection",
                RECOVERY_DEADLINE.as_secs()
            ),
            markers.len(),
        );
    }
    let recovery_ms = restarted.elapsed().as_millis() as u64;

    let documents: Option<serde_json::Value> = match http.get(&data).send().await {
        Ok(r) => r.json().await.ok(),
        Err(_) => None,
    };
    let Some(documents) = documents.as_ref().and_then(|d| d.as_array()) else {
        return fail(
            "after the restart, GET /data did not return a JSON array".into(),
            markers.len(),
        );
    };
    let lost: Vec<&String> = markers
        .iter()
        .filter(|m| {
            !documents
                .iter()
                .any(|d| d.get("deploycheck_restart").and_then(|v| v.as_str()) == Some(m.as_str()))
        })
        .collect();
    RestartOutcome {
        verdict: if lost.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: if lost.is_empty() {
            format!(
                "recovered in {recovery_ms} ms; all {} acknowledged writes are still there",
                markers.len()
            )
        } else {
            format!(
                "{} of {} acknowledged writes are gone after the restart (is the database on a persistent volume?)",
                lost.len(),
                markers.len()
            )
        },
        recovery_ms: Some(recovery_ms),
        acknowledged_before: markers.len(),
        lost: lost.len(),
    }
}

/// Runs a user's restart command through `sh -c`, bounded in time.
///
/// # Errors
/// The command's exit status and the end of its output, or a timeout.
pub async fn run_restart_command(command: &str) -> Result<(), String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(RESTART_COMMAND_DEADLINE, child).await {
        Err(_) => Err(format!(
            "`{command}` did not finish within {} s",
            RESTART_COMMAND_DEADLINE.as_secs()
        )),
        Ok(Err(e)) => Err(format!("`{command}` could not start: {e}")),
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            Err(format!(
                "`{command}` exited with {}{}",
                output.status,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                    )
                }
            ))
        }
    }
}
