//! Installed packages found in an image: dpkg status, apk installed database, Python dist-info.
//!
//! The image reader hands over every file for which [`is_inventory_path`] says yes, and
//! [`parse`] turns its bytes into [`Package`]s; [`os_release`] names the distribution release so
//! that advisories can be scoped to it. Pure functions over bytes: nothing here touches a disk.

use serde::Serialize;

/// The package ecosystem a [`Package`] belongs to; its versions order by that ecosystem's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Ecosystem {
    /// A dpkg-managed package (Debian, distroless).
    Debian,
    /// An apk-managed package.
    Alpine,
    /// A Python distribution (a `.dist-info` or `.egg-info`).
    PyPI,
}

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    pub ecosystem: Ecosystem,
    /// The name the package manager shows: the binary package (`libssl3`), or the Python
    /// distribution as its metadata spells it (`Django`).
    pub name: String,
    /// The installed version (`3.0.11-1~deb12u2`, `3.1.4-r5`, `4.2.7`).
    pub version: String,
    /// The path in the image it was read from, without a leading `/`.
    pub source: String,
    /// The package the distribution's advisories are keyed by: the Debian source package
    /// (`Source:`, or the binary name when dpkg omits it because they are equal) or the Alpine
    /// origin (`o:`); `None` for Python, whose advisories use the (normalised) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    /// The Debian source version when `Source:` gives one that differs from the binary's
    /// (`Source: glibc (2.36-9+deb12u4)` on a binNMU); Debian advisories give source versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
}

impl Package {
    /// The name advisories use for this package: Debian source, Alpine origin, or the PEP 503
    /// normalised Python name.
    pub fn advisory_name(&self) -> String {
        match self.ecosystem {
            Ecosystem::PyPI => normalise_pypi_name(&self.name),
            Ecosystem::Debian | Ecosystem::Alpine => self
                .source_package
                .clone()
                .unwrap_or_else(|| self.name.clone()),
        }
    }

    /// The version advisories are compared with: the Debian source version when it differs,
    /// else the installed version.
    pub fn advisory_version(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }
}

/// Python's tree of distro-managed modules on Debian and Ubuntu. Packages there belong to a
/// dpkg package (`python3-urllib3`), whose Debian advisories know about backported fixes; PyPI
/// advisories would flag the unchanged upstream version, so only dpkg's view is taken.
const DEBIAN_PYTHON_TREE: &str = "usr/lib/python3/dist-packages/";

/// The path without the `/` or `./` that tar entries and layer listings may put in front.
fn relative(path: &str) -> &str {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            return p;
        }
    }
}

/// What kind of package database a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    DpkgStatus,
    Apk,
    Python,
}

fn kind_of(path: &str) -> Option<Kind> {
    let p = relative(path);
    if p == "var/lib/dpkg/status" {
        return Some(Kind::DpkgStatus);
    }
    if let Some(file) = p.strip_prefix("var/lib/dpkg/status.d/") {
        // Distroless keeps one stanza per file, plus `<name>.md5sums` beside each since 2023.
        let is_stanza = !file.is_empty() && !file.contains('/') && !file.ends_with(".md5sums");
        return is_stanza.then_some(Kind::DpkgStatus);
    }
    if p == "lib/apk/db/installed" {
        return Some(Kind::Apk);
    }
    if p.starts_with(DEBIAN_PYTHON_TREE) {
        return None;
    }
    let python = p.ends_with(".dist-info/METADATA")
        || p.ends_with(".egg-info/PKG-INFO")
        || p.ends_with(".egg/EGG-INFO/PKG-INFO")
        // distutils and old setuptools wrote the metadata as a single `<name>.egg-info` file.
        || p.ends_with(".egg-info");
    python.then_some(Kind::Python)
}

/// Whether the file at `path` in an image is a package database [`parse`] reads.
///
/// Accepts paths with or without a leading `/` or `./`: `var/lib/dpkg/status`, the files of
/// `var/lib/dpkg/status.d/` (distroless; not the `.md5sums`), `lib/apk/db/installed`,
/// `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` (or an `*.egg-info` file) and
/// `*.egg/EGG-INFO/PKG-INFO`. Python metadata under `usr/lib/python3/dist-packages/` is left
/// out: that tree is Debian's, its packages are already in the dpkg status.
pub fn is_inventory_path(path: &str) -> bool {
    kind_of(path).is_some()
}

/// The packages a database file lists; empty if `path` is not one or the file lists none.
///
/// dpkg: RFC 822 stanzas; a package counts when its `Status:` state says its files are on disk
/// (`installed`, `unpacked`, `half-configured`, `triggers-*`; not `config-files` or
/// `not-installed`), and a stanza without `Status:` (distroless `status.d`) counts.
/// apk: `P:`/`V:`/`o:` lines, one blank-line separated block per package. Python: the
/// `Name:`/`Version:` headers of the core metadata.
pub fn parse(path: &str, content: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(content);
    let source = relative(path).to_owned();
    match kind_of(path) {
        Some(Kind::DpkgStatus) => parse_dpkg(&text, &source),
        Some(Kind::Apk) => parse_apk(&text, &source),
        Some(Kind::Python) => parse_python(&text, &source).into_iter().collect(),
        None => Vec::new(),
    }
}

/// dpkg states in which the package's files are on disk.
const DPKG_PRESENT: [&str; 5] = [
    "installed",
    "unpacked",
    "half-configured",
    "triggers-awaited",
    "triggers-pending",
];

/// Splits RFC 822 style text into stanzas of `(field, value)`; continuation lines are dropped,
/// since none of the fields read here spans lines.
fn stanzas(text: &str) -> Vec<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            continue;
        } else if let Some((field, value)) = line.split_once(':') {
            current.push((field.trim(), value.trim()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The value of a field, by case-insensitive name (deb822 and email headers are).
fn field<'a>(stanza: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .filter(|v| !v.is_empty())
}

fn parse_dpkg(text: &str, source: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in stanzas(text) {
        let (Some(name), Some(version)) = (field(&stanza, "Package"), field(&stanza, "Version"))
        else {
            continue;
        };
        // `Status: <want> <flag> <state>`; the state is what says whether files are on disk.
        if let Some(status) = field(&stanza, "Status") {
            let state = status.split_whitespace().nth(2).unwrap_or("");
            if !DPKG_PRESENT.contains(&state) {
                continue;
            }
        }
        // `Source: name` or `Source: name (version)`; absent when it is the binary's own name.
        let (source_package, source_version) = match field(&stanza, "Source") {
            Some(src) => match src.split_once('(') {
                Some((n, v)) => (
                    n.trim().to_owned(),
                    Some(v.trim_end_matches(')').trim().to_owned())
                        .filter(|v| !v.is_empty() && v != version),
                ),
                None => (src.to_owned(), None),
            },
            None => (name.to_owned(), None),
        };
        out.push(Package {
            ecosystem: Ecosystem::Debian,
            name: name.to_owned(),
            version: version.to_owned(),
            source: source.to_owned(),
            source_package: Some(source_package),
            source_version,
        });
    }
    out
}

fn parse_apk(text: &str, source: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in stanzas(text) {
        // apk's keys are single, case-sensitive letters (`p:` is "provides", `P:` the name).
        let get = |key: &str| {
            stanza
                .iter()
                .find(|(f, _)| *f == key)
                .map(|(_, v)| *v)
                .filter(|v| !v.is_empty())
        };
        let (Some(name), Some(version)) = (get("P"), get("V")) else {
            continue;
        };
        out.push(Package {
            ecosystem: Ecosystem::Alpine,
            name: name.to_owned(),
            version: version.to_owned(),
            source: source.to_owned(),
            source_package: Some(get("o").unwrap_or(name).to_owned()),
            source_version: None,
        });
    }
    out
}

fn parse_python(text: &str, source: &str) -> Option<Package> {
    // The headers end at the first blank line; the long description follows and may contain
    // "Name:" lines of its own.
    let headers = stanzas(text).into_iter().next()?;
    Some(Package {
        ecosystem: Ecosystem::PyPI,
        name: field(&headers, "Name")?.to_owned(),
        version: field(&headers, "Version")?.to_owned(),
        source: source.to_owned(),
        source_package: None,
        source_version: None,
    })
}

/// A Python project name normalised per PEP 503: lowercase, each run of `-`, `_`, `.` one `-`.
/// OSV's PyPI advisories use this form, and `Django`, `django` and `DJANGO` are one project.
pub fn normalise_pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Whether `path` is an os-release file (`etc/os-release` or `usr/lib/os-release`; the first
/// wins when both exist, per os-release(5)).
pub fn is_os_release_path(path: &str) -> bool {
    matches!(relative(path), "etc/os-release" | "usr/lib/os-release")
}

/// `(ID, VERSION_ID)` from an os-release file, e.g. `("debian", "12")` or
/// `("alpine", "3.19.1")`; `None` without an `ID`. `VERSION_ID` is empty when the file has none
/// (Debian testing and sid), which advisory matching takes as "release unknown".
pub fn os_release(content: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(content);
    let mut id = None;
    let mut version_id = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key.trim() {
            "ID" => id = Some(unquote(value)),
            "VERSION_ID" => version_id = unquote(value),
            _ => {}
        }
    }
    id.filter(|i| !i.is_empty()).map(|i| (i, version_id))
}

/// A shell-style os-release value without its quotes and backslash escapes.
fn unquote(value: &str) -> String {
    let v = value.trim();
    let inner = ['"', '\'']
        .iter()
        .find_map(|q| v.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DPKG_STATUS: &str = "\
Package: libssl3
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 This package is part of the OpenSSL project.
 .
 Package: not-a-field

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0-1

Package: libc6
Status: hold ok installed
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4+b1

Package: cpp
Status: install ok unpacked
Source: gcc-defaults (1.203)
Version: 4:12.2.0-3

Package: bash
Status: install ok installed
Version: 5.2.15-2+b2
";

    #[test]
    fn inventory_paths_with_and_without_leading_slash() {
        for yes in [
            "var/lib/dpkg/status",
            "/var/lib/dpkg/status",
            "./var/lib/dpkg/status",
            "var/lib/dpkg/status.d/libssl3",
            "lib/apk/db/installed",
            "/usr/local/lib/python3.12/site-packages/Django-4.2.7.dist-info/METADATA",
            "app/.venv/lib/python3.11/site-packages/six-1.16.0.egg-info/PKG-INFO",
            "usr/lib/python2.7/dist-packages/foo-1.0.egg-info",
            "opt/x/lib/foo-1.0-py3.8.egg/EGG-INFO/PKG-INFO",
        ] {
            assert!(is_inventory_path(yes), "{yes}");
        }
        for no in [
            "var/lib/dpkg/status-old",
            "var/lib/dpkg/status.d/libssl3.md5sums",
            "var/lib/dpkg/status.d/",
            "lib/apk/db/scripts.tar",
            "usr/local/lib/python3.12/site-packages/django/__init__.py",
            "usr/local/lib/python3.12/site-packages/Django-4.2.7.dist-info/RECORD",
            "usr/lib/python3/dist-packages/urllib3-1.26.12.dist-info/METADATA",
        ] {
            assert!(!is_inventory_path(no), "{no}");
        }
    }

    #[test]
    fn dpkg_status_keeps_present_packages_with_their_source() {
        let pkgs = parse("/var/lib/dpkg/status", DPKG_STATUS.as_bytes());
        let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libssl3", "libc6", "cpp", "bash"]);
        assert_eq!(
            pkgs[0],
            Package {
                ecosystem: Ecosystem::Debian,
                name: "libssl3".into(),
                version: "3.0.11-1~deb12u2".into(),
                source: "var/lib/dpkg/status".into(),
                source_package: Some("openssl".into()),
                source_version: None,
            }
        );
        assert_eq!(pkgs[1].advisory_name(), "glibc");
        assert_eq!(pkgs[1].advisory_version(), "2.36-9+deb12u4");
        assert_eq!(pkgs[2].advisory_version(), "1.203");
        assert_eq!(pkgs[3].advisory_name(), "bash");
        assert_eq!(pkgs[3].advisory_version(), "5.2.15-2+b2");
    }

    #[test]
    fn distroless_status_d_stanzas_have_no_status() {
        let stanza = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n";
        let pkgs = parse("var/lib/dpkg/status.d/tzdata", stanza.as_bytes());
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].name, "tzdata");
        assert_eq!(pkgs[0].source, "var/lib/dpkg/status.d/tzdata");
    }

    #[test]
    fn apk_installed_uses_origin_as_source_package() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\no:musl\nA:x86_64\n\n\
                  C:Q1def=\nP:libcrypto3\nV:3.1.4-r5\np:so:libcrypto.so.3=3\no:openssl\n\n";
        let pkgs = parse("lib/apk/db/installed", db.as_bytes());
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[0].ecosystem, Ecosystem::Alpine);
        assert_eq!(
            (pkgs[1].name.as_str(), pkgs[1].version.as_str()),
            ("libcrypto3", "3.1.4-r5")
        );
        assert_eq!(pkgs[1].advisory_name(), "openssl");
    }

    #[test]
    fn python_metadata_headers_only() {
        let meta = "Metadata-Version: 2.1\nName: Flask_SQLAlchemy\nVersion: 3.1.1\n\
                    Summary: x\n\nName: not-this\nVersion: 9\n";
        let path =
            "usr/local/lib/python3.12/site-packages/flask_sqlalchemy-3.1.1.dist-info/METADATA";
        let pkgs = parse(path, meta.as_bytes());
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].name, "Flask_SQLAlchemy");
        assert_eq!(pkgs[0].version, "3.1.1");
        assert_eq!(pkgs[0].advisory_name(), "flask-sqlalchemy");
        assert!(parse(path, b"Metadata-Version: 2.1\nName: half\n").is_empty());
    }

    #[test]
    fn pep503_normalisation() {
        assert_eq!(normalise_pypi_name("Flask_SQLAlchemy"), "flask-sqlalchemy");
        assert_eq!(normalise_pypi_name("zope.interface"), "zope-interface");
        assert_eq!(normalise_pypi_name("A-_.-b"), "a-b");
    }

    #[test]
    fn os_release_id_and_version() {
        let debian =
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release(debian), Some(("debian".into(), "12".into())));
        let alpine = b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n";
        assert_eq!(os_release(alpine), Some(("alpine".into(), "3.19.1".into())));
        let sid = b"PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n";
        assert_eq!(os_release(sid), Some(("debian".into(), String::new())));
        assert_eq!(os_release(b"# nothing\nNAME=x\n"), None);
        assert!(is_os_release_path("/etc/os-release"));
        assert!(is_os_release_path("usr/lib/os-release"));
    }
}
