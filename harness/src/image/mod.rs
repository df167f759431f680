//! `deploycheck image`: a container image read as a file (a `docker save` tarball or an OCI
//! image layout), layer by layer and streamed, with no daemon, registry or network.
//!
//! [`check`] reads top-down: find the image in the input ([`source`] holds the blobs,
//! [`resolve`] picks the manifest, config and layers), stream each layer ([`layer`]) into the
//! merged tree and dive's counters ([`tree`]) while scanning small files for credentials
//! ([`secrets`]) and keeping package databases, then the package inventory and advisories
//! ([`inventory`], [`osv`]), dive's CI rules ([`ci`]) and the hygiene rules ([`rules`]). The
//! result is data; `report::image` renders it.

pub mod ci;
pub mod config;
pub mod error;
pub mod inventory;
pub mod layer;
pub mod osv;
pub mod resolve;
pub mod rules;
pub mod secrets;
pub mod source;
#[cfg(test)]
#[path = "../../tests/support/image_builder.rs"]
pub(crate) mod testing;
pub mod tree;
pub mod version;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::findings::{Catalogue, Finding};
pub use ci::CiConfig;
pub use config::Platform;
pub use error::ImageError;
pub use layer::Compression;
pub use resolve::Format;
pub use tree::{Efficiency, LayerStats};

/// Package databases and the files the checks read are kept in memory up to this size each
/// (a full Debian dpkg status is about 2 MB).
const KEEP_LIMIT: u64 = 32 << 20;

/// What to check an image against.
#[derive(Clone, Debug)]
pub struct Options {
    /// `Some` when the user chose a platform (then only that one is accepted).
    pub platform: Option<Platform>,
    /// The profile's app port, which the image should EXPOSE.
    pub app_port: u16,
    /// Bound on the image's size (Σ layer contents), bytes.
    pub max_size: u64,
    pub ci: CiConfig,
    /// Offline OSV advisories to match the inventory against.
    pub vuln_db: Option<PathBuf>,
}

impl Options {
    /// Defaults for a profile's app port: linux/amd64, dive's CI defaults, no advisories.
    pub fn new(app_port: u16) -> Options {
        Options {
            platform: None,
            app_port,
            max_size: rules::DEFAULT_MAX_SIZE,
            ci: CiConfig::default(),
            vuln_db: None,
        }
    }
}

/// One layer as reported.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    /// 1-based, base layer first.
    pub index: usize,
    pub blob: String,
    pub digest: Option<String>,
    pub compression: Compression,
    /// Bytes as stored (compressed size for compressed layers).
    pub blob_bytes: u64,
    /// Its digest was recomputed from every byte and matched.
    pub verified: bool,
    /// The history command that made it (dive's pairing), `(missing)` without history.
    pub command: String,
    #[serde(flatten)]
    pub stats: LayerStats,
}

/// Installed packages and the distribution.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    /// `(ID, VERSION_ID)` from os-release.
    pub os: Option<(String, String)>,
    pub packages: Vec<inventory::Package>,
}

/// Everything `deploycheck image` found out about one image.
#[derive(Debug, Serialize)]
pub struct ImageReport {
    /// The input, as given.
    pub image: String,
    pub format: Format,
    pub platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_note: Option<String>,
    pub tags: Vec<String>,
    pub user: String,
    pub exposed_ports: Vec<String>,
    pub layers: Vec<LayerReport>,
    /// Paths in the merged image.
    pub files: usize,
    pub efficiency: Efficiency,
    pub dive_ci: DiveCi,
    pub inventory: Inventory,
    /// Advisories matched (only with `--vuln-db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisories: Option<Vec<osv::Advisory>>,
    pub findings: Vec<Finding>,
}

/// dive's CI verdicts and the thresholds' source.
#[derive(Clone, Debug, Serialize)]
pub struct DiveCi {
    /// The `.dive-ci` file read, or `None` for dive's defaults.
    pub config: Option<PathBuf>,
    pub results: Vec<ci::CiOutcome>,
}

/// The image rule catalogue, for `--rules`, JUnit and SARIF.
pub fn catalogue() -> Catalogue {
    rules::RULES.iter().collect()
}

fn kept(path: &str) -> bool {
    inventory::is_inventory_path(path)
        || inventory::is_os_release_path(path)
        || path == "etc/passwd"
}

/// Checks one image.
///
/// # Errors
/// Input that is missing, not an image, truncated or corrupt (one [`ImageError`] sentence),
/// or an unreadable `--vuln-db`.
pub fn check(path: &Path, options: &Options) -> Result<ImageReport, ImageError> {
    // Loaded first: a bad database should not cost a read of a 2 GiB image.
    let vuln_db = options
        .vuln_db
        .as_deref()
        .map(osv::load)
        .transpose()
        .map_err(ImageError::VulnDb)?;
    let store = source::Store::open(path)?;
    let resolved = resolve::resolve(&store, options.platform.as_ref())?;
    let commands = resolved.config.layer_commands(resolved.layers.len());

    let mut tree = tree::Tree::default();
    let mut hits: Vec<rules::SecretHit> = Vec::new();
    let mut blobs = Vec::new();
    for (index, layer_ref) in resolved.layers.iter().enumerate() {
        tree.begin_layer();
        let info = layer::walk(&store, layer_ref, index, &mut |meta, content| {
            let is_file = meta.kind == layer::Kind::File;
            let keep = is_file && meta.size <= KEEP_LIMIT && kept(&meta.path);
            let scan = is_file && meta.size <= secrets::SCAN_LIMIT;
            let mut bytes = None;
            if keep || scan {
                let mut buffer = Vec::with_capacity(meta.size as usize);
                content.take(meta.size).read_to_end(&mut buffer)?;
                if scan {
                    for secret in secrets::scan(&buffer) {
                        hits.push(rules::SecretHit {
                            layer: index,
                            path: meta.path.clone(),
                            what: rules::SecretWhat::Content(secret),
                        });
                    }
                }
                bytes = keep.then_some(buffer);
            }
            if is_file && secrets::is_env_file(&meta.path) {
                hits.push(rules::SecretHit {
                    layer: index,
                    path: meta.path.clone(),
                    what: rules::SecretWhat::EnvFile,
                });
            }
            tree.add(meta.clone(), bytes);
            Ok(())
        })?;
        tree.end_layer();
        blobs.push(info);
    }
    // Built after the last layer: a layer's wasted bytes depend on the layers above it.
    let layers: Vec<LayerReport> = resolved
        .layers
        .iter()
        .zip(blobs)
        .zip(&tree.layers)
        .enumerate()
        .map(|(index, ((layer_ref, info), stats))| LayerReport {
            index: index + 1,
            blob: layer_ref.name.clone(),
            digest: layer_ref.digest.clone(),
            compression: info.compression,
            blob_bytes: info.blob_bytes,
            verified: info.verified,
            command: secrets::redact(&commands[index]),
            stats: stats.clone(),
        })
        .collect();

    let inventory = take_inventory(&tree);
    let advisories = vuln_db.map(|db| db.matches(&inventory.packages, inventory.os.as_ref()));
    let efficiency = tree.efficiency();
    let dive_ci = DiveCi {
        config: options.ci.source.clone(),
        results: options.ci.evaluate(&efficiency),
    };
    let origin = path.display().to_string();
    let findings = rules::check(&rules::Inputs {
        origin: &origin,
        config: &resolved.config,
        tree: &tree,
        efficiency: &efficiency,
        secrets: &hits,
        ci: &dive_ci.results,
        advisories: advisories.as_deref().unwrap_or(&[]),
        app_port: options.app_port,
        max_size: options.max_size,
    });
    Ok(ImageReport {
        image: origin,
        format: resolved.format,
        platform: resolved.config.platform().to_string(),
        platform_note: resolved.platform_note,
        tags: resolved.tags,
        user: resolved.config.user.clone(),
        exposed_ports: resolved.config.exposed_ports.clone(),
        layers,
        files: tree.files.len(),
        efficiency,
        dive_ci,
        inventory,
        advisories,
        findings,
    })
}

/// Packages from the database files of the merged image; os-release from `etc/`, else
/// `usr/lib/` (os-release(5)).
fn take_inventory(tree: &tree::Tree) -> Inventory {
    let mut packages = Vec::new();
    for (path, content) in &tree.kept {
        if inventory::is_inventory_path(path) {
            packages.extend(inventory::parse(path, content));
        }
    }
    packages.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version).cmp(&(b.ecosystem, &b.name, &b.version))
    });
    let os = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| tree.kept.get(*p))
        .and_then(|content| inventory::os_release(content));
    Inventory { os, packages }
}

#[cfg(test)]
mod tests {
    use super::testing::{
        Compression as Packed, Image, Layer, Layout, padded, pypi_advisory, write_multi_arch,
    };
    use super::*;

    const STATUS: &str = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n";
    const METADATA: &str = "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.0\n";
    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

    /// Every case the issue lists: overwrite, whiteout of a directory and of a file, an opaque
    /// directory, gzip and zstd layers, root, a key deleted later, dpkg and dist-info.
    fn messy() -> Image {
        Image::new()
            .layer(
                Layer::new("ADD rootfs.tar /")
                    .dir("etc")
                    .file(
                        "etc/passwd",
                        padded("root:x:0:0:root:/root:/sbin/nologin", 100),
                    )
                    .file("var/lib/dpkg/status", padded(STATUS, 400))
                    .file(
                        "etc/os-release",
                        padded("ID=debian\nVERSION_ID=\"12\"", 100),
                    )
                    .dir("usr/bin")
                    .sized("app/config.json", 1000)
                    .dir("cache")
                    .sized("cache/x", 300)
                    .sized("cache/y", 700)
                    .dir("opt/lib")
                    .sized("opt/lib/old.so", 400),
            )
            .layer(
                Layer::new("RUN /bin/sh -c build")
                    .sized("app/config.json", 1200)
                    .whiteout("cache")
                    .opaque("opt/lib")
                    .sized("opt/lib/new.so", 100)
                    .file_mode("root/.ssh/id_rsa", padded(KEY, 500), 0o600)
                    .file(
                        "usr/local/lib/python3.12/site-packages/flask-3.0.0.dist-info/METADATA",
                        padded(METADATA, 200),
                    )
                    .compressed(Packed::Gzip),
            )
            .layer(
                Layer::new("RUN /bin/sh -c rm /root/.ssh/id_rsa")
                    .whiteout("root/.ssh/id_rsa")
                    .compressed(Packed::Zstd),
            )
            .expose("5000/tcp")
    }

    fn rule_ids(report: &ImageReport) -> Vec<&'static str> {
        report.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn dives_figures_and_runtime_counts_are_exact_in_every_layout() {
        for layout in [
            Layout::DockerArchive,
            Layout::DockerOciArchive,
            Layout::OciArchive,
            Layout::OciDir,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = messy().write(layout, &dir.path().join("image"));
            let report = check(&path, &Options::new(5000)).unwrap();
            let e = &report.efficiency;
            // Σ minimum 4300 / Σ cumulative 6000 (see docs/image.md for the walk-through).
            assert_eq!(e.score, 4300.0 / 6000.0, "{layout:?}");
            assert_eq!(e.wasted_bytes, 2700, "{layout:?}");
            assert_eq!((e.size_bytes, e.user_size_bytes), (5000, 2000));
            assert_eq!(e.user_wasted_percent, 1.35);
            assert_eq!(e.hidden_bytes, 2900);
            assert_eq!(e.inefficient[0].path, "/app/config.json");
            assert_eq!((e.inefficient[0].count, e.inefficient[0].bytes), (2, 2200));
            assert_eq!(e.inefficient[1].path, "/root/.ssh/id_rsa");
            let counts: Vec<(u64, u64, u64, u64)> = report
                .layers
                .iter()
                .map(|l| {
                    let s = &l.stats;
                    (s.added, s.modified, s.removed, s.wasted_bytes)
                })
                .collect();
            assert_eq!(counts, [(7, 0, 0, 2400), (3, 1, 3, 500), (0, 0, 1, 0)]);
            let compressions: Vec<Compression> =
                report.layers.iter().map(|l| l.compression).collect();
            assert_eq!(
                compressions,
                [Compression::None, Compression::Gzip, Compression::Zstd]
            );
            assert_eq!(report.layers[1].command, "RUN build");
            assert_eq!(
                rule_ids(&report),
                ["DI001", "DI010", "DI090", "DI092"],
                "{layout:?}"
            );
            let key = &report.findings[1];
            assert_eq!(key.object, "/root/.ssh/id_rsa");
            assert!(
                key.message.contains("layer 2's blob still carries it"),
                "{}",
                key.message
            );
            assert_eq!(report.inventory.os, Some(("debian".into(), "12".into())));
            let packages: Vec<(&str, &str)> = report
                .inventory
                .packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect();
            assert_eq!(
                packages,
                [("libssl3", "3.0.11-1~deb12u2"), ("Flask", "3.0.0")]
            );
        }
    }

    #[test]
    fn a_correct_minimal_image_raises_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for layout in [Layout::DockerArchive, Layout::OciDir] {
            let path = Image::minimal().write(layout, &dir.path().join(format!("{layout:?}")));
            let report = check(&path, &Options::new(5000)).unwrap();
            assert!(report.findings.is_empty(), "{:?}", report.findings);
            assert_eq!(report.efficiency.score, 1.0);
            assert!(
                report
                    .dive_ci
                    .results
                    .iter()
                    .all(|r| r.status != ci::CiStatus::Fail)
            );
        }
    }

    #[test]
    fn compressed_layers_are_verified_against_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = messy().write(Layout::OciDir, &dir.path().join("oci"));
        let report = check(&path, &Options::new(5000)).unwrap();
        let verified: Vec<bool> = report.layers.iter().map(|l| l.verified).collect();
        // The uncompressed layer is read by seeking over file data, so not hashed.
        assert_eq!(verified, [false, true, true]);
    }

    #[test]
    fn advisories_from_an_offline_osv_file_become_findings() {
        let dir = tempfile::tempdir().unwrap();
        let path = messy().write(Layout::DockerArchive, &dir.path().join("img.tar"));
        let db = dir.path().join("osv.json");
        std::fs::write(
            &db,
            serde_json::json!([pypi_advisory(
                "GHSA-m2qf-hxjv-5gpq",
                "CVE-2023-30861",
                "Flask vulnerable to possible disclosure of permanent session cookie",
                "flask",
                "0",
                "3.0.1"
            )])
            .to_string(),
        )
        .unwrap();
        let options = Options {
            vuln_db: Some(db),
            ..Options::new(5000)
        };
        let report = check(&path, &options).unwrap();
        let advisories = report.advisories.as_ref().unwrap();
        assert_eq!(advisories.len(), 1);
        assert_eq!(advisories[0].fixed.as_deref(), Some("3.0.1"));
        let finding = report.findings.iter().find(|f| f.rule == "DI070").unwrap();
        assert!(
            finding.message.starts_with(
                "GHSA-m2qf-hxjv-5gpq (CVE-2023-30861): Flask 3.0.0 is affected, fixed in 3.0.1"
            ),
            "{}",
            finding.message
        );
        let missing = Options {
            vuln_db: Some(dir.path().join("nope.zip")),
            ..Options::new(5000)
        };
        let error = check(&path, &missing).unwrap_err().to_string();
        assert!(error.starts_with("--vuln-db: "), "{error}");
    }

    #[test]
    fn a_multi_arch_index_yields_the_platform_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let amd = Image::minimal();
        let arm = Image::new()
            .platform("linux", "arm64")
            .layer(Layer::new("COPY arm").sized("app", 10).sized("extra", 5))
            .user("1000")
            .expose("5000");
        let path = write_multi_arch(&[&amd, &arm], &[], true, &dir.path().join("multi"));
        let default = check(&path, &Options::new(5000)).unwrap();
        assert_eq!(default.platform, "linux/amd64");
        assert_eq!(default.tags, ["example/multi:1.0"]);
        let options = Options {
            platform: Some(Platform::parse("linux/arm64").unwrap()),
            ..Options::new(5000)
        };
        let report = check(&path, &options).unwrap();
        assert_eq!((report.platform.as_str(), report.files), ("linux/arm64", 2));
        let options = Options {
            platform: Some(Platform::parse("linux/s390x").unwrap()),
            ..Options::new(5000)
        };
        let error = check(&path, &options).unwrap_err().to_string();
        assert!(
            error.ends_with("it has no linux/s390x image (it has linux/amd64, linux/arm64); choose one with --platform"),
            "{error}"
        );
        // A single-platform save of a multi-arch image: only arm64's blobs are there.
        let path = write_multi_arch(
            &[&amd, &arm],
            &["linux/amd64"],
            false,
            &dir.path().join("arm.tar"),
        );
        let report = check(&path, &Options::new(5000)).unwrap();
        assert_eq!(report.platform, "linux/arm64");
        assert!(
            report
                .platform_note
                .unwrap()
                .contains("read its only one, linux/arm64")
        );
    }

    #[test]
    fn truncated_or_damaged_archives_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let damaged = dir.path().join("damaged.tar");
        for layout in [
            Layout::DockerArchive,
            Layout::DockerOciArchive,
            Layout::OciArchive,
        ] {
            let good = std::fs::read(messy().write(layout, &dir.path().join("good.tar"))).unwrap();
            let step = (good.len() / 97).max(1);
            for cut in (0..good.len()).step_by(step) {
                std::fs::write(&damaged, &good[..cut]).unwrap();
                let _ = check(&damaged, &Options::new(5000));
                let mut flipped = good.clone();
                flipped[cut] ^= 0xa5;
                std::fs::write(&damaged, &flipped).unwrap();
                if let Err(error) = check(&damaged, &Options::new(5000)) {
                    assert_eq!(error.to_string().lines().count(), 1, "{error}");
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_one_sentence_errors() {
        let dir = tempfile::tempdir().unwrap();
        let error = |path: &Path| check(path, &Options::new(5000)).unwrap_err().to_string();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        assert!(
            error(&text).contains("not a container image"),
            "{}",
            error(&text)
        );
        assert!(error(&dir.path().join("nope.tar")).ends_with("no such file or directory"));

        let good = messy().write(Layout::OciArchive, &dir.path().join("oci.tar"));
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut.tar");
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        assert!(error(&cut).contains("truncated"), "{}", error(&cut));

        let layout = messy().write(Layout::OciDir, &dir.path().join("layout"));
        let blobs: Vec<PathBuf> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // The gzip layer: flip a byte in the middle, same size.
        let gzip = blobs
            .iter()
            .find(|p| std::fs::read(p).unwrap().starts_with(&[0x1f, 0x8b]))
            .unwrap();
        let mut blob = std::fs::read(gzip).unwrap();
        let middle = blob.len() / 2;
        blob[middle] ^= 0xff;
        std::fs::write(gzip, &blob).unwrap();
        let message = error(&layout);
        assert!(
            message.contains("does not match its digest") || message.contains("cannot be read"),
            "{message}"
        );
        std::fs::remove_file(gzip).unwrap();
        assert!(
            error(&layout).contains("which the archive does not contain"),
            "{}",
            error(&layout)
        );
        for message in [error(&text), error(&cut), error(&layout)] {
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}
