//! `deploycheck image` (and `lint` given an image) as a user runs it: images built in code in
//! every layout, exact dive figures, rule firings, dive-ci configs, and bad inputs.

#[path = "support/image_builder.rs"]
mod image_builder;
#[path = "support/output.rs"]
mod output;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;
use image_builder::{Compression, Image, Layer, Layout, padded, pypi_advisory, write_multi_arch};
use output::{assert_contains_all, text};
use serde_json::Value;

/// Runs the binary in `dir`, so neither a `.dive-ci` nor a `deploycheck.toml` of the
/// repository is picked up.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("deploycheck")
        .expect("the binary is built")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn json_report(dir: &Path, args: &[&str]) -> (i32, Value) {
    let output = run(dir, args);
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&output.stdout), text(&output.stderr)));
    (output.status.code().unwrap(), value)
}

fn rule_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// Root user, a key baked in a gzip layer and deleted by the next, an overwrite, a deleted
/// directory, an opaque directory, a dpkg status and a dist-info.
fn messy() -> Image {
    Image::new()
        .layer(
            Layer::new("ADD rootfs.tar /")
                .file("etc/passwd", padded("root:x:0:0:root:/root:/bin/sh", 100))
                .file(
                    "var/lib/dpkg/status",
                    padded(
                        "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n",
                        400,
                    ),
                )
                .sized("app/config.json", 1000)
                .dir("cache")
                .sized("cache/x", 1000)
                .dir("opt")
                .sized("opt/old.so", 500),
        )
        .layer(
            Layer::new("RUN /bin/sh -c make")
                .sized("app/config.json", 1000)
                .whiteout("cache")
                .opaque("opt")
                .sized("opt/new.so", 100)
                .file_mode(
                    "root/.ssh/id_ed25519",
                    padded("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", 400),
                    0o600,
                )
                .file(
                    "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                    padded(
                        "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
                        100,
                    ),
                )
                .compressed(Compression::Gzip),
        )
        .layer(
            Layer::new("RUN /bin/sh -c rm -f /root/.ssh/id_ed25519")
                .whiteout("root/.ssh/id_ed25519"),
        )
        .expose("5000/tcp")
}

/// efficiency 0.95, wasted 2000 bytes, user wasted 0.2, nothing else to find.
fn measured() -> Image {
    Image::new()
        .layer(Layer::new("COPY base /").sized("a", 1000).sized("b", 9000))
        .layer(Layer::new("COPY app /").sized("a", 1000).sized("c", 9000))
        .user("10001:10001")
        .expose("5000/tcp")
}

#[test]
fn rules_are_listed_with_their_ids_severities_and_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["image", "--rules"]);
    assert!(output.status.success());
    let listing = text(&output.stdout);
    for id in ["DI001", "DI010", "DI050", "DI070", "DI090", "DI092"] {
        assert!(listing.contains(id), "{id}: {listing}");
    }
    assert!(listing.contains("fix: "), "{listing}");
}

#[test]
fn every_layout_gives_dives_exact_figures_and_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    for (name, layout) in [
        ("docker.tar", Layout::DockerArchive),
        ("docker25.tar", Layout::DockerOciArchive),
        ("oci.tar", Layout::OciArchive),
        ("layout", Layout::OciDir),
    ] {
        let path = messy().write(layout, &dir.path().join(name));
        let (code, report) = json_report(
            dir.path(),
            &["image", path.to_str().unwrap(), "--format", "json"],
        );
        assert_eq!(code, 1, "{name}: errors fail the run");
        let e = &report["efficiency"];
        // Σ minimum: passwd 100 + status 400 + config 1000 + cache/x 1000 + cache 1000
        // (the whiteout of a directory counts its content once) + old.so 500 + new.so 100
        // + key 0 + METADATA 100 = 4200; Σ cumulative adds the second config (1000) and the
        // key (400): 5600. Wasted: both configs and the key, 2400.
        assert_eq!(e["score"].as_f64().unwrap(), 4200.0 / 5600.0, "{name}");
        assert_eq!(e["wasted_bytes"], 2400, "{name}");
        assert_eq!(e["size_bytes"], 4600);
        assert_eq!(e["user_size_bytes"], 1600);
        assert_eq!(e["user_wasted_percent"].as_f64().unwrap(), 1.5);
        assert_eq!(e["hidden_bytes"], 2900);
        let layers = report["layers"].as_array().unwrap();
        let counts: Vec<(u64, u64, u64)> = layers
            .iter()
            .map(|l| {
                (
                    l["added"].as_u64().unwrap(),
                    l["modified"].as_u64().unwrap(),
                    l["removed"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(counts, [(5, 0, 0), (3, 1, 2), (0, 0, 1)], "{name}");
        assert_eq!(layers[1]["compression"], "gzip");
        assert_eq!(layers[0]["compression"], "none");
        assert_eq!(
            rule_ids(&report),
            ["DI001", "DI010", "DI090", "DI092"],
            "{name}"
        );
        let packages: Vec<&str> = report["inventory"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(packages, ["zlib1g", "requests"], "{name}");
        assert_eq!(report["summary"]["errors"], 4);
    }
}

#[test]
fn a_correct_minimal_image_passes_with_nothing_to_say() {
    let dir = tempfile::tempdir().unwrap();
    let path = Image::minimal().write(Layout::DockerArchive, &dir.path().join("app.tar"));
    let output = run(dir.path(), &["image", path.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert_contains_all(
        &stdout,
        &[
            "docker-archive  linux/amd64  example/app:1.0",
            "user 65532:65532 · exposes 5000/tcp · 1 layer",
            "PASS lowestEfficiency 0.9",
        ],
    );
    assert!(stdout.trim_end().ends_with("no findings"), "{stdout}");
}

#[test]
fn the_human_report_shows_the_layer_table_and_findings_with_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let path = messy().write(Layout::OciArchive, &dir.path().join("oci.tar"));
    let output = run(dir.path(), &["image", path.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert_contains_all(
        &stdout,
        &[
            "layer       size  wasted",
            "RUN make",
            "/root/.ssh/id_ed25519: a private key (layer 2;",
            "fix: rotate the key",
            "packages: no os-release; 1 dpkg, 0 apk, 1 Python",
        ],
    );
}

fn dive_ci(dir: &Path, image: &Path, config: Option<&str>) -> (i32, Vec<String>) {
    let mut args = vec!["image", image.to_str().unwrap(), "--format", "json"];
    let file = dir.join("ci.yaml");
    if let Some(config) = config {
        std::fs::write(&file, config).unwrap();
        args.extend(["--ci-config", file.to_str().unwrap()]);
    }
    let (code, report) = json_report(dir, &args);
    (code, rule_ids(&report))
}

#[test]
fn dive_ci_rules_trip_one_by_one_past_their_thresholds_and_not_at_them() {
    let dir = tempfile::tempdir().unwrap();
    let image = measured().write(Layout::DockerArchive, &dir.path().join("m.tar"));
    let exact = "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 2kB\n  highestUserWastedPercent: 0.2\n";
    assert_eq!(dive_ci(dir.path(), &image, Some(exact)), (0, vec![]));
    for (config, id) in [
        (
            "rules:\n  lowestEfficiency: 0.96\n  highestUserWastedPercent: disabled\n",
            "DI090",
        ),
        (
            "rules:\n  highestWastedBytes: 1999\n  highestUserWastedPercent: disabled\n",
            "DI091",
        ),
        ("rules:\n  highestUserWastedPercent: 0.19\n", "DI092"),
    ] {
        assert_eq!(
            dive_ci(dir.path(), &image, Some(config)),
            (1, vec![id.to_string()]),
            "{config}"
        );
    }
    // dive's defaults: 0.9, disabled, 0.1; the image's 0.2 user wasted trips the last one.
    assert_eq!(
        dive_ci(dir.path(), &image, None),
        (1, vec!["DI092".to_string()])
    );
    // A .dive-ci in the working directory is read, as dive does.
    std::fs::write(
        dir.path().join(".dive-ci"),
        "rules:\n  highestUserWastedPercent: disabled\n",
    )
    .unwrap();
    assert_eq!(dive_ci(dir.path(), &image, None), (0, vec![]));
}

#[test]
fn a_misconfigured_dive_ci_is_a_usage_error_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let image = measured().write(Layout::DockerArchive, &dir.path().join("m.tar"));
    std::fs::write(
        dir.path().join("ci.yaml"),
        "rules:\n  lowestEfficiency: 90\n",
    )
    .unwrap();
    let output = run(
        dir.path(),
        &["image", image.to_str().unwrap(), "--ci-config", "ci.yaml"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ci.yaml: rules.lowestEfficiency: 90 is outside"),
        "{stderr}"
    );
}

/// Writes `bytes` to `dir/name` and returns the path.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn bad_inputs_exit_2_with_one_sentence_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = std::fs::read(messy().write(Layout::DockerArchive, &d.join("good.tar"))).unwrap();

    // An archive with no manifest: a valid tar of something else.
    let mut plain = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(5);
    header.set_mode(0o644);
    plain
        .append_data(&mut header, "hello.txt", &b"hello"[..])
        .unwrap();
    let plain = plain.into_inner().unwrap();

    // The OCI layout with its gzip layer blob removed.
    let layout = messy().write(Layout::OciDir, &d.join("layout"));
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]) {
            std::fs::remove_file(path).unwrap();
        }
    }
    // The OCI layout with a byte of its gzip layer changed.
    let flipped = messy().write(Layout::OciDir, &d.join("flipped"));
    for entry in std::fs::read_dir(flipped.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let at = bytes.len() - 12;
            bytes[at] ^= 0x55;
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzipped, &good).unwrap();

    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "not an image",
            file(d, "notes.txt", b"just text\n"),
            "not a container image",
        ),
        ("missing", d.join("absent.tar"), "no such file or directory"),
        (
            "empty file",
            file(d, "empty.tar", b""),
            "not a container image",
        ),
        (
            "truncated",
            file(d, "cut.tar", &good[..good.len() / 2]),
            "truncated",
        ),
        (
            "no manifest",
            file(d, "plain.tar", &plain),
            "neither manifest.json",
        ),
        ("missing blob", layout, "which the archive does not contain"),
        ("corrupt layer", flipped, "flipped"),
        (
            "gzipped archive",
            file(d, "img.tar.gz", &gzipped.finish().unwrap()),
            "gzip-compressed; decompress it first",
        ),
        (
            "bad manifest",
            {
                let mut b = tar::Builder::new(Vec::new());
                let mut h = tar::Header::new_ustar();
                h.set_size(7);
                h.set_mode(0o644);
                b.append_data(&mut h, "manifest.json", &b"{oops}\n"[..])
                    .unwrap();
                file(d, "badjson.tar", &b.into_inner().unwrap())
            },
            "is not valid JSON",
        ),
    ];
    for (what, path, expected) in cases {
        let output = run(d, &["image", path.to_str().unwrap()]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(output.stdout.is_empty(), "{what}: {}", text(&output.stdout));
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.starts_with("deploycheck image: "),
            "{what}: {stderr}"
        );
        assert!(stderr.contains(expected), "{what}: {stderr}");
    }
}

#[test]
fn reports_go_to_files_and_fail_on_moves_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    // A shell: a warning only.
    let image = Image::new()
        .layer(
            Layer::new("FROM busybox")
                .file_mode("bin/busybox", vec![1; 10], 0o755)
                .symlink("bin/sh", "busybox"),
        )
        .user("1000")
        .expose("5000/tcp")
        .write(Layout::DockerArchive, &dir.path().join("busy.tar"));
    let image = image.to_str().unwrap();
    let output = run(
        dir.path(),
        &[
            "image",
            image,
            "--json",
            "out/r.json",
            "--junit",
            "out/r.xml",
            "--sarif",
            "out/r.sarif",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/r.json")).unwrap()).unwrap();
    assert_eq!(rule_ids(&json), ["DI003"]);
    let xml = std::fs::read_to_string(dir.path().join("out/r.xml")).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/r.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "DI003");
    let output = run(dir.path(), &["image", image, "--fail-on", "warning"]);
    assert_eq!(output.status.code(), Some(1));
    // --max-size in .dive-ci's units.
    let output = run(
        dir.path(),
        &["image", image, "--max-size", "5B", "--format", "json"],
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rule_ids(&report), ["DI003", "DI040"]);
}

#[test]
fn platform_picks_from_a_multi_arch_index() {
    let dir = tempfile::tempdir().unwrap();
    let amd = Image::minimal();
    let arm = Image::minimal().platform("linux", "arm64");
    let path = write_multi_arch(&[&amd, &arm], &[], false, &dir.path().join("multi.tar"));
    let path = path.to_str().unwrap();
    let (code, report) = json_report(
        dir.path(),
        &[
            "image",
            path,
            "--platform",
            "linux/arm64",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        (code, report["platform"].as_str()),
        (0, Some("linux/arm64"))
    );
    let output = run(dir.path(), &["image", path, "--platform", "windows/amd64"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("choose one with --platform"));
    let output = run(dir.path(), &["image", path, "--platform", "amd64"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a malformed platform is a usage error"
    );
}

#[test]
fn lint_accepts_an_image_tarball_and_applies_the_image_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = messy().write(Layout::DockerArchive, &dir.path().join("app.tar"));
    let output = run(
        dir.path(),
        &["lint", path.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rule_ids(&report), ["DI001", "DI010", "DI090", "DI092"]);
    let output = run(
        dir.path(),
        &["lint", path.to_str().unwrap(), "--format", "junit"],
    );
    assert!(
        text(&output.stdout).contains("DI010"),
        "the image rules are test cases too"
    );
}

#[test]
fn vulnerabilities_come_from_an_offline_osv_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = messy().write(Layout::DockerArchive, &dir.path().join("app.tar"));
    let db = file(
        dir.path(),
        "osv.json",
        pypi_advisory(
            "GHSA-j8r2-6x86-q33q",
            "CVE-2023-32681",
            "Unintended leak of Proxy-Authorization header in requests",
            "requests",
            "2.3.0",
            "2.31.0",
        )
        .to_string()
        .as_bytes(),
    );
    // requests 2.31.0 is the fixed version: not affected.
    let (_, report) = json_report(
        dir.path(),
        &[
            "image",
            path.to_str().unwrap(),
            "--vuln-db",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(report["advisories"], serde_json::json!([]));
    let older = Image::new()
        .layer(Layer::new("pip install").file(
            "usr/lib/python3.11/site-packages/requests-2.30.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.30.0\n",
        ))
        .user("1000")
        .expose("5000")
        .write(Layout::OciArchive, &dir.path().join("old.tar"));
    let (code, report) = json_report(
        dir.path(),
        &[
            "image",
            older.to_str().unwrap(),
            "--vuln-db",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(rule_ids(&report), ["DI070"]);
    assert_eq!(report["advisories"][0]["fixed"], "2.31.0");
}
