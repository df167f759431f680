//! Renders an image report: human text (a per-layer table with a bar of each layer's wasted
//! bytes, dive's figures and CI verdicts, findings with fixes), JSON, JUnit XML and SARIF.

use std::fmt::Write as _;

use serde_json::json;

use super::{findings_summary, plural, severity_counts, write_finding};
use crate::findings::Rule;
use crate::image::ci::CiStatus;
use crate::image::rules::human_bytes;
use crate::image::{ImageReport, inventory::Ecosystem};

/// Width of the wasted-bytes bar, in cells.
const BAR: usize = 10;
/// Widest command shown in the layer table.
const COMMAND: usize = 60;
/// Inefficient paths the human report lists.
const PATHS: usize = 10;

/// A bar of `part / whole` in [`BAR`] cells; any part above zero shows at least one cell.
pub fn bar(part: u64, whole: u64) -> String {
    let filled = if whole == 0 || part == 0 {
        0
    } else {
        (((part as f64 / whole as f64) * BAR as f64).round() as usize).clamp(1, BAR)
    };
    format!("{}{}", "█".repeat(filled), "░".repeat(BAR - filled))
}

fn shorten(text: &str, width: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= width {
        flat
    } else {
        let cut: String = flat.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

/// The report as a person reads it.
pub fn human(report: &ImageReport, colour: bool) -> String {
    let paint = |code: &str, text: &str| super::paint(colour, code, text);
    let mut out = String::new();
    let tags = if report.tags.is_empty() {
        String::new()
    } else {
        format!("  {}", report.tags.join(", "))
    };
    let _ = writeln!(
        out,
        "{}  {}  {}{tags}",
        paint("1", &report.image),
        report.format.as_str(),
        report.platform
    );
    if let Some(note) = &report.platform_note {
        let _ = writeln!(out, "note: {note}");
    }
    let e = &report.efficiency;
    let _ = writeln!(
        out,
        "user {} · exposes {} · {} · {} (user layers {}) · {}\n",
        if report.user.is_empty() {
            "(none: root)"
        } else {
            &report.user
        },
        if report.exposed_ports.is_empty() {
            "nothing".to_string()
        } else {
            report.exposed_ports.join(", ")
        },
        plural(report.layers.len(), "layer"),
        human_bytes(e.size_bytes),
        human_bytes(e.user_size_bytes),
        plural(report.files, "path")
    );
    let _ = writeln!(
        out,
        "{:>5}  {:>9}  {:<BAR$}  {:>9}  {:>6}  {:>7}  {:>7}  command",
        "layer", "size", "wasted", "", "added", "changed", "removed"
    );
    for layer in &report.layers {
        let s = &layer.stats;
        let _ = writeln!(
            out,
            "{:>5}  {:>9}  {}  {:>9}  {:>6}  {:>7}  {:>7}  {}",
            layer.index,
            human_bytes(s.size_bytes),
            paint("33", &bar(s.wasted_bytes, s.size_bytes)),
            human_bytes(s.wasted_bytes),
            s.added,
            s.modified,
            s.removed,
            shorten(&layer.command, COMMAND)
        );
    }
    let _ = writeln!(
        out,
        "\nefficiency {} · wasted {} · user wasted {} (dive's figures); hidden by later layers {}",
        percent(e.score),
        human_bytes(e.wasted_bytes),
        percent(e.user_wasted_percent),
        human_bytes(e.hidden_bytes)
    );
    let source = report
        .dive_ci
        .config
        .as_ref()
        .map_or("dive's defaults".to_string(), |p| p.display().to_string());
    let verdicts: Vec<String> = report
        .dive_ci
        .results
        .iter()
        .map(|r| {
            let status = match r.status {
                CiStatus::Pass => paint("32", "PASS"),
                CiStatus::Fail => paint("31", "FAIL"),
                CiStatus::Disabled => "SKIP".to_string(),
            };
            format!("{status} {} {}", r.rule, r.threshold.display())
        })
        .collect();
    let _ = writeln!(out, "dive-ci ({source}): {}", verdicts.join(" · "));
    let shown: Vec<_> = e.inefficient.iter().filter(|i| i.bytes > 0).collect();
    if !shown.is_empty() {
        let _ = writeln!(
            out,
            "largest wasted paths (dive: every copy of a path written or deleted in more than one layer):"
        );
        for item in shown.iter().take(PATHS) {
            let _ = writeln!(
                out,
                "  {:>5}  {:>9}  {}",
                item.count,
                human_bytes(item.bytes),
                item.path
            );
        }
        if shown.len() > PATHS {
            let _ = writeln!(out, "  … and {} more", e.inefficient_total - PATHS);
        }
    }
    let count = |ecosystem: Ecosystem| {
        report
            .inventory
            .packages
            .iter()
            .filter(|p| p.ecosystem == ecosystem)
            .count()
    };
    let os = report
        .inventory
        .os
        .as_ref()
        .map_or("no os-release".to_string(), |(id, version)| {
            format!("{id} {version}").trim().to_string()
        });
    let mut packages = format!(
        "packages: {os}; {} dpkg, {} apk, {} Python",
        count(Ecosystem::Debian),
        count(Ecosystem::Alpine),
        count(Ecosystem::PyPI)
    );
    match &report.advisories {
        Some(advisories) => {
            let _ = write!(
                packages,
                "; {} with --vuln-db",
                plural(advisories.len(), "advisory match")
            );
        }
        None => packages.push_str("; no --vuln-db given, advisories not checked"),
    }
    let _ = writeln!(out, "{packages}\n");
    for f in &report.findings {
        write_finding(&mut out, "", 18, f, colour);
    }
    let _ = writeln!(out, "{}", findings_summary(&report.findings, colour));
    out
}

/// The whole report, plus a summary of the findings.
pub fn json(report: &ImageReport) -> String {
    let (errors, warnings, infos) = severity_counts(&report.findings);
    let mut value = serde_json::to_value(report).unwrap_or_default();
    value["summary"] = json!({"errors": errors, "warnings": warnings, "infos": infos});
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// One test case per rule, as `lint` writes them, so dashboards list what was checked.
pub fn junit(report: &ImageReport, rules: &[&Rule]) -> String {
    super::lint::junit_by_rule("image", &report.image, &report.findings, rules, |_| {
        String::new()
    })
}

/// SARIF 2.1.0 with the image file as every result's location, as `lint` writes it.
pub fn sarif(report: &ImageReport, rules: &[&Rule]) -> String {
    super::lint::sarif(&report.findings, rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::testing::{Image, Layer, Layout};
    use crate::image::{self, Options};
    use crate::report::assert_contains_all;

    fn report(image: &Image) -> ImageReport {
        let dir = tempfile::tempdir().unwrap();
        let path = image.write(Layout::DockerArchive, &dir.path().join("img.tar"));
        image::check(&path, &Options::new(5000)).unwrap()
    }

    fn sample() -> ImageReport {
        report(
            &Image::new()
                .layer(
                    Layer::new("ADD rootfs.tar /")
                        .sized("a", 1000)
                        .sized("b", 500),
                )
                .layer(
                    Layer::new("RUN /bin/sh -c rm b && touch a")
                        .sized("a", 1000)
                        .whiteout("b"),
                ),
        )
    }

    #[test]
    fn bars_fill_in_proportion_and_never_hide_a_little_waste() {
        assert_eq!(bar(0, 100), "░".repeat(10));
        assert_eq!(bar(1, 1000), format!("█{}", "░".repeat(9)));
        assert_eq!(bar(50, 100), format!("{}{}", "█".repeat(5), "░".repeat(5)));
        assert_eq!(bar(100, 100), "█".repeat(10));
        assert_eq!(bar(5, 0), "░".repeat(10));
    }

    #[test]
    fn human_has_the_layer_table_dive_figures_and_findings() {
        let text = human(&sample(), false);
        assert_contains_all(
            &text,
            &[
                "docker-archive  linux/amd64  example/app:1.0",
                "    1     1.5 kB  ██████████     1.5 kB       2        0        0  ADD rootfs.tar /",
                "RUN rm b && touch a",
                "efficiency 40.0 % · wasted 2.5 kB · user wasted 250.0 %",
                "FAIL lowestEfficiency 0.9",
                "      2     2.0 kB  /a",
                "error    DI001  config User: no USER is set",
                "fix: add a user",
            ],
        );
        assert!(text.ends_with("3 errors, 1 warning, 0 notes\n"), "{text}");
        assert!(human(&sample(), true).contains("\x1b[31mFAIL"));
    }

    #[test]
    fn json_junit_and_sarif_carry_the_findings() {
        let report = sample();
        let value: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(value["summary"]["errors"], 3);
        assert_eq!(value["layers"][1]["modified"], 1);
        assert_eq!(value["efficiency"]["wasted_bytes"], 2500);
        assert_eq!(value["dive_ci"]["results"][0]["status"], "fail");
        let rules = image::catalogue();
        let xml = junit(&report, &rules);
        assert_eq!(xml.matches("<testcase ").count(), rules.len());
        assert!(xml.contains("failures=\"4\""), "{xml}");
        let sarif: serde_json::Value = serde_json::from_str(&sarif(&report, &rules)).unwrap();
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), report.findings.len());
        assert!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("img.tar")
        );
    }
}
