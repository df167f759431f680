//! Renders a [`CheckReport`] as one self-contained HTML page (inline CSS and SVG, no script),
//! so it can be opened offline or attached to a CI run as an artifact.

use super::xml_escape as esc;
use crate::api::Verdict;
use crate::check::CheckReport;
use crate::probe::DriveStats;
use crate::scenario::{ScenarioOutcome, TimelinePoint};

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:0 auto;padding:1rem 1.5rem;color:#1f2937}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin:.2rem 0}h3{font-size:.95rem;margin:.8rem 0 .3rem}\
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}dl.meta dt{font-weight:600}dl.meta dd{margin:0}\
.banner{background:#fef3c7;border:1px solid #d97706;padding:.5rem .8rem;font-weight:600}\
.count{font-weight:700;margin-right:1rem}.count.pass{color:#15803d}.count.warn{color:#b45309}.count.fail{color:#b91c1c}.count.skip{color:#6b7280}\
section.scenario{border:1px solid #e5e7eb;border-left:6px solid #9ca3af;border-radius:4px;padding:.6rem 1rem;margin:1rem 0}\
section.pass{border-left-color:#16a34a}section.warn{border-left-color:#d97706}section.fail{border-left-color:#dc2626}\
.badge{display:inline-block;padding:0 .5rem;border-radius:3px;color:#fff;font-size:.8rem;background:#6b7280}\
.pass .badge{background:#16a34a}.warn .badge{background:#d97706}.fail .badge{background:#dc2626}\
.id{font-family:monospace;color:#4b5563}.duration{color:#6b7280;font-weight:400;font-size:.85rem}\
ul.advice{background:#fffbeb;border-left:3px solid #d97706;padding:.3rem .5rem .3rem 1.6rem}\
table.overview td{text-align:left}table.overview td.duration{text-align:right}\
table{border-collapse:collapse;margin:.3rem 0}th,td{border:1px solid #e5e7eb;padding:.1rem .5rem;text-align:right}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f9fafb;padding:.5rem;font-size:12px}\
svg.chart{display:block;width:100%;max-width:660px;height:auto;margin:.4rem 0}\
svg text{font:11px sans-serif;fill:#374151}";

const WIDTH: f64 = 660.0;
const HEIGHT: f64 = 230.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 58.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// The whole page. Every piece of report text is escaped: it includes pod logs.
pub fn html(report: &CheckReport) -> String {
    let count = |v| report.scenarios.iter().filter(|s| s.verdict == v).count();
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>deploycheck: {} / {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>deploycheck cluster report</h1>\n",
        esc(&report.context),
        esc(&report.namespace)
    );
    if report.interrupted {
        page.push_str(
            "<p class=\"banner\">Interrupted: the run was stopped before every scenario finished.</p>\n",
        );
    }
    page.push_str(&format!(
        "<p><span class=\"count pass\">{} passed</span><span class=\"count warn\">{} warned</span>\
         <span class=\"count fail\">{} failed</span>\
         <span class=\"count skip\">{} skipped</span></p>\n<dl class=\"meta\">\
         <dt>Context</dt><dd>{}</dd><dt>Namespace</dt><dd>{}</dd><dt>Deployed</dt><dd>{}</dd>\
         <dt>Duration</dt><dd>{} s</dd><dt>Restarts</dt><dd>{}</dd><dt>Cleanup</dt><dd>{}</dd></dl>\n",
        count(Verdict::Pass),
        count(Verdict::Warn),
        count(Verdict::Fail),
        count(Verdict::Skip),
        esc(&report.context),
        esc(&report.namespace),
        if report.deployed {
            "yes, into a fresh namespace"
        } else {
            "no, checked what was running"
        },
        num(report.seconds, 1),
        esc(&report
            .restart_summary()
            .unwrap_or_else(|| "not watched: no scenario ran after deploy".into())),
        esc(&report.cleanup)
    ));
    page.push_str(&overview(&report.scenarios));
    page.push_str(&recoveries(&report.scenarios));
    if report.scenarios.is_empty() {
        page.push_str("<p>No scenarios ran.</p>\n");
    }
    for outcome in &report.scenarios {
        page.push_str(&scenario(outcome));
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// A self-contained page for `load --in-cluster`: the merged latency by percentile, requests
/// per second and p95 over time (all workers together), each worker's figures, and what made
/// the result incomplete. `failures` empty: it passed.
pub fn in_cluster_load(
    report: &crate::incluster::run::InClusterReport,
    failures: &[String],
) -> String {
    let (class, label) = badge(if failures.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    });
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>deploycheck: in-cluster load on {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>deploycheck in-cluster load</h1>\n<section class=\"scenario {class}\"><h2>\
         <span class=\"badge\">{label}</span> {}</h2>\n<dl class=\"meta\"><dt>Namespace</dt><dd>{}</dd>\
         <dt>Workers</dt><dd>{} pod(s), {} connection(s)</dd><dt>Requests</dt><dd>{} ({} req/s), {} failed</dd>\
         <dt>Latency ms</dt><dd>p50 {} · p95 {} · p99 {} · max {}</dd><dt>Integrity</dt><dd>{} acknowledged writes, {} lost</dd></dl>\n",
        esc(&report.url),
        esc(&report.url),
        esc(&report.namespace),
        report.pods,
        report.connections,
        report.requests,
        num(report.rps, 0),
        report.failed,
        num(report.p50_ms, 2),
        num(report.p95_ms, 2),
        num(report.p99_ms, 2),
        num(report.max_ms, 2),
        report.acknowledged,
        report.lost.len()
    );
    page.push_str(&list("mismatches", failures));
    page.push_str(&list("mismatches", &report.incomplete));
    let percentiles: Vec<f64> = report.percentiles.iter().map(|(p, _)| *p).collect();
    let latency = Scale {
        unit: "ms",
        integer: false,
        series: vec![Series(
            "latency ms",
            "#7c3aed",
            report.percentiles.iter().map(|(_, ms)| *ms).collect(),
            "none",
        )],
    };
    page.push_str(&chart(
        "Merged latency by percentile (x: percentile)",
        &percentiles,
        &[latency],
    ));
    if !report.timeline.is_empty() {
        let xs: Vec<f64> = report.timeline.iter().map(|t| t.0).collect();
        let rps = Scale {
            unit: "req/s",
            integer: false,
            series: vec![Series(
                "req/s",
                "#059669",
                report.timeline.iter().map(|t| t.2).collect(),
                "none",
            )],
        };
        let p95 = Scale {
            unit: "p95 ms",
            integer: false,
            series: vec![Series(
                "p95 ms",
                "#7c3aed",
                report.timeline.iter().map(|t| t.3).collect(),
                "5 3",
            )],
        };
        page.push_str(&chart("Load over time, all workers", &xs, &[rps, p95]));
    }
    page.push_str(
        "<table class=\"timeline\"><tr><th>worker</th><th>requests</th><th>req/s</th>\
         <th>p95 ms</th><th>max ms</th><th>complete</th></tr>\n",
    );
    for worker in &report.per_worker {
        let row = [
            esc(&worker.worker),
            worker.requests.to_string(),
            num(worker.rps, 0),
            num(worker.p95_ms, 2),
            num(worker.max_ms, 2),
            if worker.complete { "yes" } else { "no" }.to_string(),
        ];
        page.push_str(&format!("<tr class=\"point\">{}</tr>\n", cells(&row)));
    }
    page.push_str("</table>\n");
    page.push_str(&list("advice", &report.notes));
    page.push_str("</section>\n</body>\n</html>\n");
    page
}

/// CSS class and badge text of a verdict.
fn badge(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Warn => ("warn", "WARN"),
        Verdict::Fail => ("fail", "FAIL"),
        Verdict::Skip => ("skip", "SKIP"),
    }
}

/// One row per scenario with its verdict and duration, linking to its section: where the time
/// of a run went, at a glance.
fn overview(scenarios: &[ScenarioOutcome]) -> String {
    if scenarios.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        "<table class=\"overview\"><tr><th>verdict</th><th>scenario</th><th>duration</th></tr>\n",
    );
    for outcome in scenarios {
        let (class, label) = badge(outcome.verdict);
        html.push_str(&format!(
            "<tr class=\"{class}\"><td><span class=\"badge\">{label}</span></td>\
             <td><a href=\"#scenario-{id}\"><span class=\"id\">{id}</span></a> {title}</td>\
             <td class=\"duration\">{duration}</td></tr>\n",
            id = esc(outcome.id),
            title = esc(outcome.title),
            duration = esc(&super::seconds(outcome.duration_ms)),
        ));
    }
    html.push_str("</table>\n");
    html
}

fn scenario(outcome: &ScenarioOutcome) -> String {
    let (class, label) = badge(outcome.verdict);
    let mut html = format!(
        "<section class=\"scenario {class}\" id=\"scenario-{id}\">\n<h2><span class=\"badge\">{label}</span> \
         <span class=\"id\">{id}</span> {title} <span class=\"duration\">{duration}</span></h2>\n\
         <p>{detail}</p>\n",
        id = esc(outcome.id),
        title = esc(outcome.title),
        duration = esc(&super::seconds(outcome.duration_ms)),
        detail = esc(&outcome.detail)
    );
    html.push_str(&list("mismatches", &outcome.mismatches));
    if !outcome.advice.is_empty() {
        html.push_str("<h3>Advice</h3>\n");
        html.push_str(&list("advice", &outcome.advice));
    }
    if let Some(ms) = outcome.recovery_ms {
        html.push_str(&format!("<p>Recovery: <strong>{ms} ms</strong></p>\n"));
    }
    if let Some(requests) = &outcome.requests {
        html.push_str(&request_stats(requests));
    }
    if !outcome.timeline.is_empty() {
        html.push_str(&timeline(&outcome.timeline));
    }
    // Diagnostics are only collected for failures, but never drop them if present.
    if let Some(diagnostics) = &outcome.diagnostics {
        html.push_str(&format!(
            "<details><summary>Diagnostics</summary><pre>{}</pre></details>\n",
            esc(diagnostics)
        ));
    }
    html.push_str("</section>\n");
    html
}

fn request_stats(stats: &DriveStats) -> String {
    let ms = |v: f64| num(v, 1);
    let mut html = format!(
        "<h3>Requests</h3>
<table><tr><th>sent</th><th>failed</th><th>p50 ms</th><th>p95 ms</th>\
         <th>p99 ms</th><th>max ms</th><th>req/s</th></tr>
<tr>{}</tr></table>
",
        cells(&[
            stats.requests.to_string(),
            stats.failed.to_string(),
            ms(stats.p50_ms),
            ms(stats.p95_ms),
            ms(stats.p99_ms),
            ms(stats.max_ms),
            ms(stats.rps()),
        ])
    );
    if !stats.failures.is_empty() {
        html.push_str("<p>First failures:</p>\n");
        html.push_str(&list("failures", &stats.failures));
    }
    html
}

fn list(class: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let items: String = items
        .iter()
        .map(|i| format!("<li>{}</li>\n", esc(i)))
        .collect();
    format!("<ul class=\"{class}\">\n{items}</ul>\n")
}

/// Table cells; `values` must already be escaped.
fn cells(values: &[String]) -> String {
    values.iter().map(|v| format!("<td>{v}</td>")).collect()
}

fn timeline(points: &[TimelinePoint]) -> String {
    let xs: Vec<f64> = points.iter().map(|p| p.seconds).collect();
    let column = |f: fn(&TimelinePoint) -> f64| points.iter().map(f).collect::<Vec<_>>();
    let (current, desired) = (column(|p| p.replicas.into()), column(|p| p.desired.into()));
    let replicas = Scale {
        unit: "replicas",
        integer: true,
        series: vec![
            Series("replicas", "#2563eb", current, "none"),
            Series("desired", "#d97706", desired, "5 3"),
        ],
    };
    let rps = Scale {
        unit: "req/s",
        integer: false,
        series: vec![Series("req/s", "#059669", column(|p| p.rps), "none")],
    };
    let p95 = Scale {
        unit: "p95 ms",
        integer: false,
        series: vec![Series("p95 ms", "#7c3aed", column(|p| p.p95_ms), "5 3")],
    };
    let mut html = format!(
        "<h3>Timeline</h3>\n{}{}<table class=\"timeline\"><tr><th>t (s)</th><th>replicas</th>\
         <th>desired</th><th>CPU %</th><th>req/s</th><th>p95 ms</th><th>failed</th>\
         <th>load connections</th></tr>\n",
        chart("Replicas over time", &xs, &[replicas]),
        chart("Load over time", &xs, &[rps, p95]),
    );
    for p in points {
        let row = [
            num(p.seconds, 0),
            p.replicas.to_string(),
            p.desired.to_string(),
            esc(&p.cpu_percent.map_or("<unknown>".into(), |c| c.to_string())),
            num(p.rps, 1),
            num(p.p95_ms, 1),
            p.failed.to_string(),
            p.connections
                .map_or("port-forwards".into(), |c| c.to_string()),
        ];
        html.push_str(&format!("<tr class=\"point\">{}</tr>\n", cells(&row)));
    }
    html.push_str("</table>\n");
    html
}

/// Bars of every recovery time, so fault scenarios can be compared at a glance.
fn recoveries(scenarios: &[ScenarioOutcome]) -> String {
    let bars: Vec<(&str, u64)> = scenarios
        .iter()
        .filter_map(|s| s.recovery_ms.map(|ms| (s.id, ms)))
        .collect();
    if bars.is_empty() {
        return String::new();
    }
    let longest = bars.iter().map(|&(_, ms)| ms).max().unwrap_or(0).max(1) as f64;
    let (label_width, row) = (130.0, 24.0);
    let mut svg = format!(
        "<h2>Recovery times</h2>\n<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>Recovery time per scenario (ms)</title>\n",
        coord(row * bars.len() as f64 + 10.0)
    );
    for (i, (id, ms)) in bars.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        // A sliver keeps a zero-millisecond recovery visible as a bar.
        let width = (*ms as f64 / longest * (WIDTH - label_width - 90.0)).max(1.0);
        svg.push_str(&text(label_width - 8.0, y + 15.0, "end", &esc(id)));
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{label_width}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#2563eb\"/>",
            coord(y + 3.0),
            coord(width),
            coord(row - 6.0)
        ));
        let label = format!("{ms} ms");
        svg.push_str(&text(label_width + width + 6.0, y + 15.0, "start", &label));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Label, colour, values, SVG dash pattern.
struct Series(&'static str, &'static str, Vec<f64>, &'static str);

/// The series that share one y axis; integer scales (replica counts) draw steps.
struct Scale {
    unit: &'static str,
    integer: bool,
    series: Vec<Series>,
}

/// A linear axis whose span is never zero, so mapping values cannot divide by zero.
struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl Axis {
    fn from_zero(scale: &Scale) -> Self {
        let values = scale.series.iter().flat_map(|s| s.2.iter().copied());
        let max = values.map(finite).fold(0.0, f64::max);
        let step = nice_step(max, 4.0).max(if scale.integer { 1.0 } else { 0.0 });
        let hi = ((max / step).ceil() * step).max(step);
        Self { lo: 0.0, hi, step }
    }

    fn spanning(values: &[f64]) -> Self {
        let finite_values = values.iter().copied().filter(|v| v.is_finite());
        let lo = finite_values.clone().fold(f64::INFINITY, f64::min);
        let hi = finite_values.fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let step = nice_step(hi - lo, 6.0);
        Self { lo, hi, step }
    }

    /// Position in `0..=1`; out-of-range and non-finite values are pinned to an edge.
    fn fraction(&self, value: f64) -> f64 {
        finite((finite(value) - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<f64> {
        let first = (self.lo / self.step).ceil() * self.step;
        (0..50)
            .map(|i| first + self.step * f64::from(i))
            .take_while(|t| *t <= self.hi + self.step * 1e-9)
            .collect()
    }
}

/// 1, 2 or 5 times a power of ten, about `span / ticks`.
fn nice_step(span: f64, ticks: f64) -> f64 {
    let raw = span / ticks;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let mantissa = raw / magnitude;
    let nice = [1.0, 2.0, 5.0]
        .into_iter()
        .find(|m| mantissa <= *m)
        .unwrap_or(10.0);
    finite(nice * magnitude).max(f64::MIN_POSITIVE)
}

/// A line chart over time with the first scale on the left and an optional second on the right.
fn chart(title: &str, xs: &[f64], scales: &[Scale]) -> String {
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let (bottom, x_axis) = (TOP + plot_h, Axis::spanning(xs));
    let px = |v: f64| LEFT + x_axis.fraction(v) * plot_w;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>\n\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#9ca3af\"/>\n",
        esc(title)
    );
    for t in x_axis.ticks() {
        let x = coord(px(t));
        svg.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{bottom}\" x2=\"{x}\" y2=\"{}\" stroke=\"#9ca3af\"/>",
            bottom + 4.0
        ));
        svg.push_str(&text(px(t), bottom + 16.0, "middle", &tick_label(t)));
    }
    let middle = LEFT + plot_w / 2.0;
    svg.push_str(&text(middle, HEIGHT - 6.0, "middle", "time (s)"));
    let mut legend_x = LEFT;
    for (side, scale) in scales.iter().take(2).enumerate() {
        let axis = Axis::from_zero(scale);
        let py = |v: f64| TOP + (1.0 - axis.fraction(v)) * plot_h;
        let (label_x, anchor, unit_x) = match side {
            0 => (LEFT - 6.0, "end", 14.0),
            _ => (LEFT + plot_w + 6.0, "start", WIDTH - 10.0),
        };
        for t in axis.ticks() {
            // Only the left scale draws grid lines; two grids would not line up.
            if side == 0 {
                let y = coord(py(t));
                svg.push_str(&format!(
                    "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e5e7eb\"/>",
                    LEFT + plot_w
                ));
            }
            svg.push_str(&text(label_x, py(t) + 4.0, anchor, &tick_label(t)));
        }
        let (ux, uy) = (coord(unit_x), coord(TOP + plot_h / 2.0));
        svg.push_str(&format!(
            "<text x=\"{ux}\" y=\"{uy}\" text-anchor=\"middle\" transform=\"rotate(-90 {ux} {uy})\">{}</text>\n",
            esc(scale.unit)
        ));
        for Series(label, colour, values, dash) in &scale.series {
            let point = |x: f64, y: f64| format!("{},{}", coord(px(x)), coord(py(y)));
            let mut points = Vec::new();
            for (i, (&x, &y)) in xs.iter().zip(values).enumerate() {
                if scale.integer && i > 0 {
                    points.push(point(x, values[i - 1]));
                }
                points.push(point(x, y));
            }
            svg.push_str(&format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\n",
                points.join(" ")
            ));
            // Markers keep a single-point timeline visible, where a line has no length.
            for (&x, &y) in xs.iter().zip(values) {
                svg.push_str(&format!(
                    "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{colour}\"/>",
                    coord(px(x)),
                    coord(py(y))
                ));
            }
            svg.push_str(&format!(
                "\n<rect x=\"{}\" y=\"8\" width=\"12\" height=\"4\" fill=\"{colour}\"/>",
                coord(legend_x)
            ));
            svg.push_str(&text(legend_x + 16.0, 14.0, "start", &esc(label)));
            legend_x += 28.0 + 7.0 * label.len() as f64;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// `body` must already be escaped.
fn text(x: f64, y: f64, anchor: &str, body: &str) -> String {
    format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{body}</text>\n",
        coord(x),
        coord(y)
    )
}

/// Non-finite numbers never reach the page: they would print as `NaN` or `inf`.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

fn coord(value: f64) -> String {
    format!("{:.1}", finite(value))
}

fn num(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "?".into()
    }
}

fn tick_label(value: f64) -> String {
    let text = format!("{:.2}", finite(value));
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{assert_contains_all, warned_rolling};

    fn report(scenarios: Vec<ScenarioOutcome>) -> CheckReport {
        CheckReport {
            context: "kind-kind".into(),
            namespace: "deploycheck-abc123".into(),
            deployed: true,
            scenarios,
            cleanup: "deleted namespace `deploycheck-abc123`".into(),
            interrupted: false,
            seconds: 42.0,
            restarts: Vec::new(),
        }
    }

    fn point(seconds: f64, replicas: i32, cpu_percent: Option<i32>, rps: f64) -> TimelinePoint {
        TimelinePoint {
            seconds,
            replicas,
            desired: replicas + 1,
            cpu_percent,
            rps,
            p95_ms: 12.5,
            failed: 0,
            connections: None,
        }
    }

    fn plain() -> Vec<ScenarioOutcome> {
        vec![
            ScenarioOutcome::pass("deploy", "rolled out"),
            ScenarioOutcome::pass("connectivity", "reachable"),
            ScenarioOutcome::fail("replicas", "no replacement"),
            ScenarioOutcome::skip("hpa", "no metrics"),
        ]
    }

    #[test]
    fn hostile_text_comes_out_escaped_and_the_page_has_no_script() {
        let mut failed = ScenarioOutcome::fail("replicas", "pod said <script>alert(1)</script>");
        failed.mismatches = vec!["<img src=x onerror=alert(2)>".into()];
        failed.diagnostics = Some("log: <SCRIPT>steal()</SCRIPT> & \"more\"".into());
        let mut hostile = report(vec![failed]);
        hostile.cleanup = "<script>".into();
        let page = html(&hostile);
        assert!(!page.to_lowercase().contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(
            page.contains("said &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        let diagnostics = "<details><summary>Diagnostics</summary><pre>log: &lt;SCRIPT&gt;steal()\
                           &lt;/SCRIPT&gt; &amp; &quot;more&quot;</pre></details>";
        assert!(page.contains(diagnostics), "{page}");
    }

    #[test]
    fn an_hpa_timeline_gets_two_charts_and_a_row_per_point() {
        let mut hpa = ScenarioOutcome::pass("hpa", "scaled 1 -> 3");
        hpa.timeline = vec![point(0.0, 1, Some(20), 0.0), point(15.0, 2, None, 80.0)];
        hpa.timeline.push(point(30.0, 3, Some(95), 120.0));
        let page = html(&report(vec![hpa]));
        assert_eq!(page.matches("<svg").count(), 2, "{page}");
        assert_eq!(page.matches("<polyline").count(), 4, "{page}");
        assert_eq!(page.matches("<tr class=\"point\">").count(), 3, "{page}");
        assert!(page.contains("<td>&lt;unknown&gt;</td>"), "{page}");
    }

    #[test]
    fn charts_appear_only_for_timelines_and_recoveries() {
        assert!(!html(&report(plain())).contains("<svg"));
        let mut scenarios = plain();
        scenarios[1].recovery_ms = Some(1500);
        scenarios[2].recovery_ms = Some(300);
        let page = html(&report(scenarios));
        assert_eq!(page.matches("<svg").count(), 1, "{page}");
        assert_eq!(page.matches("<rect class=\"bar\"").count(), 2, "{page}");
        assert!(page.contains(">connectivity</text>"), "{page}");
        assert!(page.contains(">1500 ms</text>") && page.contains(">300 ms</text>"));
    }

    #[test]
    fn the_header_counts_match_the_scenarios() {
        let mut counted = report(plain());
        let page = html(&counted);
        assert!(
            page.contains(">2 passed<") && page.contains(">1 failed<"),
            "{page}"
        );
        assert!(
            page.contains(">1 skipped<") && !page.contains("class=\"banner\""),
            "{page}"
        );
        assert_eq!(page.matches("<section class=\"scenario").count(), 4);
        assert!(page.contains("<span class=\"badge\">FAIL</span>"), "{page}");
        counted.interrupted = true;
        assert!(html(&counted).contains("class=\"banner\">Interrupted"));
    }

    #[test]
    fn a_warning_has_its_badge_count_and_advice_and_every_scenario_its_duration() {
        let warned = warned_rolling(
            "restarted in 41200 ms",
            "2 of 140 requests failed: add a <preStop> pause",
        );
        let mut scenarios = plain();
        scenarios[0].duration_ms = 15_234;
        scenarios.push(warned);
        let page = html(&report(scenarios));
        assert_contains_all(
            &page,
            &[
                ">1 warned<",
                ">2 passed<",
                "<section class=\"scenario warn\" id=\"scenario-rolling\">",
                "<span class=\"badge\">WARN</span>",
                "<ul class=\"advice\">\n<li>2 of 140 requests failed: add a &lt;preStop&gt; pause</li>",
            ],
        );
        // The overview has a row per scenario with its duration; each section repeats it.
        assert_eq!(page.matches("<td class=\"duration\">").count(), 5, "{page}");
        assert_contains_all(
            &page,
            &[
                "<td class=\"duration\">15.2 s</td>",
                "<td class=\"duration\">48.1 s</td>",
                "a rolling restart fails no request <span class=\"duration\">48.1 s</span></h2>",
                "<a href=\"#scenario-hpa\">",
            ],
        );
    }

    #[test]
    fn degenerate_inputs_never_print_nan_or_inf() {
        let mut single = ScenarioOutcome::pass("hpa", "one sample");
        single.timeline = vec![point(0.0, 0, None, 0.0)];
        single.requests = Some(DriveStats::default());
        single.recovery_ms = Some(0);
        let mut flat = ScenarioOutcome::fail("rolling", "no load");
        flat.timeline = vec![point(5.0, 1, None, 0.0), point(5.0, 1, None, 0.0)];
        flat.timeline[1].p95_ms = f64::NAN;
        flat.timeline[1].seconds = f64::INFINITY;
        let stats = DriveStats {
            p99_ms: f64::NAN,
            requests: 3,
            ..DriveStats::default()
        };
        flat.requests = Some(stats);
        let mut zero = report(vec![single, flat]);
        zero.seconds = 0.0;
        let mut empty = report(Vec::new());
        empty.seconds = f64::NAN;
        let (zero, empty) = (html(&zero), html(&empty));
        for page in [&zero, &empty] {
            assert!(!page.contains("NaN") && !page.contains("inf"), "{page}");
        }
        assert!(empty.contains("No scenarios ran.") && !empty.contains("<svg"));
        assert_eq!(zero.matches("<svg").count(), 5, "{zero}");
    }

    #[test]
    fn the_in_cluster_load_page_has_its_curve_its_timeline_and_every_worker_escaped() {
        let report = crate::incluster::run::InClusterReport {
            namespace: "shop".into(),
            url: "http://web:5000".into(),
            pods: 2,
            connections: 64,
            requests: 1000,
            failed: 0,
            errors: Default::default(),
            seconds: 10.0,
            rps: 100.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
            max_ms: 4.0,
            percentiles: vec![(0.0, 0.5), (50.0, 1.0), (95.0, 2.0), (100.0, 4.0)],
            timeline: vec![(5.0, 500, 100.0, 2.0, 64), (10.0, 500, 100.0, 2.1, 64)],
            per_worker: Vec::new(),
            incomplete: vec!["<load-1>: never reported".into()],
            notes: Vec::new(),
            acknowledged: 0,
            lost: Vec::new(),
        };
        let page = in_cluster_load(&report, &["SLO p95<1ms missed (actual 2.00)".into()]);
        assert!(page.contains("Merged latency by percentile"), "{page}");
        assert!(page.contains("Load over time, all workers"), "{page}");
        assert!(page.contains("&lt;load-1&gt;: never reported"), "{page}");
        assert!(page.contains("<span class=\"badge\">FAIL</span>"), "{page}");
        assert!(!page.contains("<load-1>"), "{page}");
    }
}
