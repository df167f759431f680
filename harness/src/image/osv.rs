//! Offline OSV advisories matched against an image inventory.
//!
//! The user hands over OSV data as a local file (never fetched: no network here): the `all.zip`
//! osv.dev publishes per ecosystem, one advisory JSON, a JSON array of advisories, or a
//! directory of `.json` files. [`VulnDb::matches`] then answers "which installed packages does
//! an advisory cover, and which version fixes it" with the OSV schema's evaluation algorithm
//! and each ecosystem's own version ordering (see [`super::version`]).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::inventory::{Ecosystem, Package, normalise_pypi_name};
use super::version;

/// No advisory comes near this; an entry that unpacks beyond it is a zip bomb or not OSV.
const ENTRY_LIMIT_MIB: u64 = 64;

/// Why OSV data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    #[error("no OSV data at {}: there is no such file or directory", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read OSV data {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is neither a zip of OSV advisories nor OSV JSON (one advisory or an array of them)",
        path.display()
    )]
    NotRecognised { path: PathBuf },
    #[error("{} holds no OSV advisories (no .json files in it)", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not a readable zip archive: {source}", path.display())]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("cannot unpack {entry}: {source}")]
    Unpack {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("{entry} unpacks to more than {ENTRY_LIMIT_MIB} MiB, which no OSV advisory does")]
    TooLarge { entry: String },
    #[error("malformed OSV advisory {entry}: {source}")]
    Malformed {
        entry: String,
        #[source]
        source: serde_json::Error,
    },
}

/// An advisory that covers an installed package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Advisory {
    /// The OSV id (`GHSA-...`, `DSA-5532-1`, `DEBIAN-CVE-2023-5678`, `ALPINE-CVE-...`).
    pub id: String,
    /// Other ids for the same issue, CVEs mostly.
    pub aliases: Vec<String>,
    /// The installed package, as the package manager names it (the binary package for Debian).
    pub package: String,
    /// The advisory's ecosystem string that matched (`Debian:12`, `Alpine:v3.19`, `PyPI`).
    pub ecosystem: String,
    /// The installed version, as the package manager shows it.
    pub installed: String,
    /// The smallest fixed version above the installed one, if the advisory names one.
    pub fixed: Option<String>,
    /// The advisory's summary, or the first line of its details.
    pub summary: String,
    /// A qualitative rating when the database gives one (GHSA's `HIGH`), else the first
    /// severity score (a CVSS vector).
    pub severity: Option<String>,
}

/// Advisories loaded from local OSV data, indexed by ecosystem and package name.
#[derive(Debug, Default)]
pub struct VulnDb {
    records: Vec<Record>,
    index: HashMap<(Ecosystem, String), Vec<(usize, usize)>>,
    ignored: usize,
}

#[derive(Debug)]
struct Record {
    id: String,
    aliases: Vec<String>,
    summary: String,
    severity: Option<String>,
    affected: Vec<Affected>,
}

/// One `affected[]` entry for an ecosystem this module understands.
#[derive(Debug)]
struct Affected {
    ecosystem: String,
    kind: Ecosystem,
    /// The `:<release>` suffix of the ecosystem (`12`, `v3.19`).
    release: Option<String>,
    ranges: Vec<Range>,
    /// Only kept when no range can be evaluated: osv.dev derives this list from the ranges,
    /// and on the Debian dump it is most of the bytes.
    versions: Vec<String>,
    severity: Option<String>,
}

#[derive(Debug)]
struct Range {
    /// `SEMVER` rather than `ECOSYSTEM`.
    semver: bool,
    events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }

    /// `introduced: "0"` sorts before every version, whatever the ecosystem's ordering says.
    fn is_origin(&self) -> bool {
        matches!(self, Event::Introduced(v) if v == "0")
    }
}

// The subset of the OSV schema read here; everything else in a record is ignored. Fields are
// `Option`s, which serde reads as `None` when absent or `null`, because real dumps leave many
// out.

#[derive(Deserialize)]
struct RawAdvisory {
    id: String,
    aliases: Option<Vec<String>>,
    summary: Option<String>,
    details: Option<String>,
    withdrawn: Option<String>,
    severity: Option<Vec<RawSeverity>>,
    affected: Option<Vec<RawAffected>>,
    database_specific: Option<RawSpecific>,
}

#[derive(Deserialize)]
struct RawSeverity {
    score: String,
}

/// `database_specific` / `ecosystem_specific`: only a `severity` string is of use here.
#[derive(Deserialize)]
struct RawSpecific {
    severity: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    ranges: Option<Vec<RawRange>>,
    versions: Option<Vec<String>>,
    severity: Option<Vec<RawSeverity>>,
    ecosystem_specific: Option<RawSpecific>,
    database_specific: Option<RawSpecific>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

/// Loads OSV advisories from a local file or directory.
///
/// `path` may be a zip of advisory files (osv.dev's `<ecosystem>/all.zip`; entries are
/// unpacked one at a time), a JSON file holding one advisory or an array of them, or a
/// directory searched recursively for `.json` files (hidden entries skipped). Withdrawn
/// advisories and those for no Debian, Alpine or PyPI package are dropped (see
/// [`VulnDb::ignored`]).
///
/// # Errors
///
/// [`OsvError`] when `path` does not exist or cannot be read, is neither a zip nor JSON, holds
/// no `.json` at all (a directory or zip), or when any advisory is malformed (the error names
/// the file or zip entry).
pub fn load(path: &Path) -> Result<VulnDb, OsvError> {
    let meta = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
    let mut db = VulnDb::default();
    if meta.is_dir() {
        let mut files = Vec::new();
        json_files(path, &mut files)?;
        if files.is_empty() {
            return Err(OsvError::Empty { path: path.into() });
        }
        for file in files {
            load_json_file(&file, &mut db)?;
        }
    } else {
        load_file(path, &mut db)?;
    }
    Ok(db)
}

fn read_error(path: &Path, source: io::Error) -> OsvError {
    if source.kind() == io::ErrorKind::NotFound {
        OsvError::NotFound { path: path.into() }
    } else {
        OsvError::Read {
            path: path.into(),
            source,
        }
    }
}

/// The `.json` files under `dir`, sorted so that loading is deterministic.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), OsvError> {
    let mut entries = std::fs::read_dir(dir)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| read_error(dir, source))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|source| read_error(&path, source))?;
        // `metadata` follows symlinks, so a link to a directory or file counts as what it names.
        let is_dir = kind.is_dir() || (kind.is_symlink() && path.is_dir());
        if is_dir {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// What the first bytes of a file say it is.
enum Format {
    Zip,
    /// JSON starting this many bytes in (after a UTF-8 byte order mark).
    Json(u64),
    Unknown,
}

fn sniff(file: &mut File, path: &Path) -> Result<Format, OsvError> {
    let mut head = Vec::with_capacity(512);
    file.by_ref()
        .take(512)
        .read_to_end(&mut head)
        .map_err(|source| read_error(path, source))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|source| read_error(path, source))?;
    // Local file header, or the end-of-directory record of an empty archive.
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Format::Zip);
    }
    let bom = if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let first = head[bom..].iter().find(|b| !b.is_ascii_whitespace());
    Ok(match first {
        Some(b'{' | b'[') => Format::Json(bom as u64),
        _ => Format::Unknown,
    })
}

fn load_file(path: &Path, db: &mut VulnDb) -> Result<(), OsvError> {
    let mut file = File::open(path).map_err(|source| read_error(path, source))?;
    match sniff(&mut file, path)? {
        Format::Zip => load_zip(file, path, db),
        Format::Json(skip) => load_json(file, skip, path, db),
        Format::Unknown => Err(OsvError::NotRecognised { path: path.into() }),
    }
}

fn load_json_file(path: &Path, db: &mut VulnDb) -> Result<(), OsvError> {
    let mut file = File::open(path).map_err(|source| read_error(path, source))?;
    match sniff(&mut file, path)? {
        Format::Json(skip) => load_json(file, skip, path, db),
        Format::Zip | Format::Unknown => Err(OsvError::NotRecognised { path: path.into() }),
    }
}

fn load_json(mut file: File, skip: u64, path: &Path, db: &mut VulnDb) -> Result<(), OsvError> {
    file.seek(SeekFrom::Start(skip))
        .map_err(|source| read_error(path, source))?;
    // Parsed from the reader so that a large array file is never held as text as well.
    let value: OneOrMany =
        serde_json::from_reader(BufReader::new(file)).map_err(|source| OsvError::Malformed {
            entry: path.display().to_string(),
            source,
        })?;
    for raw in value.into_vec() {
        db.add(raw);
    }
    Ok(())
}

/// A JSON document of one advisory or an array of them.
enum OneOrMany {
    One(Box<RawAdvisory>),
    Many(Vec<RawAdvisory>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<RawAdvisory> {
        match self {
            OneOrMany::One(a) => vec![*a],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Dispatching on the first token (rather than `#[serde(untagged)]`) keeps serde_json's
        // precise message, "missing field `id` at line 3 column 1", instead of "no variant".
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an OSV advisory object or an array of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<OneOrMany, A::Error> {
                let one =
                    RawAdvisory::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(OneOrMany::One(Box::new(one)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let many = Vec::<RawAdvisory>::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(OneOrMany::Many(many))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn load_zip(file: File, path: &Path, db: &mut VulnDb) -> Result<(), OsvError> {
    let zip_error = |source| OsvError::Zip {
        path: path.into(),
        source,
    };
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
    let mut seen = 0;
    let mut buf = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(zip_error)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("#{i}"));
        if !name.ends_with(".json") {
            continue;
        }
        seen += 1;
        let label = format!("{name} in {}", path.display());
        buf.clear();
        let limit = ENTRY_LIMIT_MIB * 1024 * 1024;
        entry
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|source| OsvError::Unpack {
                entry: label.clone(),
                source,
            })?;
        if buf.len() as u64 > limit {
            return Err(OsvError::TooLarge { entry: label });
        }
        let value: OneOrMany =
            serde_json::from_slice(strip_bom(&buf)).map_err(|source| OsvError::Malformed {
                entry: label,
                source,
            })?;
        for raw in value.into_vec() {
            db.add(raw);
        }
    }
    if seen == 0 {
        return Err(OsvError::Empty { path: path.into() });
    }
    Ok(())
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// A `severity` string from a `*_specific` object (GHSA puts `"HIGH"` there).
fn specific_severity(specific: Option<&RawSpecific>) -> Option<String> {
    specific?
        .severity
        .as_ref()?
        .as_str()
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn first_score(scores: Option<&Vec<RawSeverity>>) -> Option<String> {
    scores?.first().map(|s| s.score.clone())
}

/// The summary, or the first line of the details cut to a readable length.
fn summary_of(summary: Option<String>, details: Option<String>) -> String {
    if let Some(s) = summary
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    {
        return s;
    }
    let details = details.unwrap_or_default();
    let line = details
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    const MAX: usize = 160;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// The ecosystem an OSV `affected[].package.ecosystem` string names, with its release suffix.
fn parse_ecosystem(s: &str) -> Option<(Ecosystem, Option<String>)> {
    let (base, release) = match s.split_once(':') {
        Some((b, r)) => (b, Some(r.to_owned())),
        None => (s, None),
    };
    let kind = match base {
        "Debian" => Ecosystem::Debian,
        "Alpine" => Ecosystem::Alpine,
        "PyPI" if release.is_none() => Ecosystem::PyPI,
        _ => return None,
    };
    Some((kind, release))
}

fn convert_range(raw: RawRange) -> Option<Range> {
    let semver = match raw.kind.as_str() {
        "SEMVER" => true,
        "ECOSYSTEM" => false,
        // GIT ranges need the repository's history, which an image does not carry.
        _ => return None,
    };
    let events = raw
        .events
        .into_iter()
        .filter_map(|e| {
            // The schema allows one key per event; the first present is taken.
            e.introduced
                .map(Event::Introduced)
                .or(e.fixed.map(Event::Fixed))
                .or(e.last_affected.map(Event::LastAffected))
                .or(e.limit.map(Event::Limit))
        })
        .collect();
    Some(Range { semver, events })
}

impl VulnDb {
    /// Number of advisories kept (for a Debian, Alpine or PyPI package, not withdrawn).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no advisory was kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of advisories dropped at load: withdrawn, or for no ecosystem matched here.
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    fn add(&mut self, raw: RawAdvisory) {
        if raw.withdrawn.is_some() {
            self.ignored += 1;
            return;
        }
        let record_severity = specific_severity(raw.database_specific.as_ref())
            .or_else(|| first_score(raw.severity.as_ref()));
        let mut names = Vec::new();
        let mut affected = Vec::new();
        for a in raw.affected.unwrap_or_default() {
            let Some(package) = a.package else { continue };
            let Some((kind, release)) = parse_ecosystem(&package.ecosystem) else {
                continue;
            };
            let ranges: Vec<Range> = a
                .ranges
                .unwrap_or_default()
                .into_iter()
                .filter_map(convert_range)
                .collect();
            let versions = if ranges.is_empty() {
                a.versions.unwrap_or_default()
            } else {
                Vec::new()
            };
            let severity = specific_severity(a.ecosystem_specific.as_ref())
                .or_else(|| specific_severity(a.database_specific.as_ref()))
                .or_else(|| first_score(a.severity.as_ref()));
            let name = match kind {
                Ecosystem::PyPI => normalise_pypi_name(&package.name),
                Ecosystem::Debian | Ecosystem::Alpine => package.name,
            };
            names.push((kind, name));
            affected.push(Affected {
                ecosystem: package.ecosystem,
                kind,
                release,
                ranges,
                versions,
                severity,
            });
        }
        if affected.is_empty() {
            self.ignored += 1;
            return;
        }
        let at = self.records.len();
        for (i, key) in names.into_iter().enumerate() {
            self.index.entry(key).or_default().push((at, i));
        }
        self.records.push(Record {
            id: raw.id,
            aliases: raw.aliases.unwrap_or_default(),
            summary: summary_of(raw.summary, raw.details),
            severity: record_severity,
            affected,
        });
    }

    /// The advisories that cover `packages`, one per (advisory, package name, installed
    /// version), sorted by package, version and id.
    ///
    /// Debian and Alpine packages are looked up by their source package (Debian `Source:`,
    /// Alpine origin) and compared at their source version, since that is what those advisories
    /// name; PyPI ones by PEP 503 name. `os` is the image's `(ID, VERSION_ID)` from
    /// os-release: with it, `Debian:<release>` / `Alpine:v<major.minor>` entries must name
    /// the image's release, and Debian (Alpine) advisories are only applied when `ID` is
    /// `debian` (`alpine`), so an Ubuntu or Wolfi image is not judged by another
    /// distribution's fixes. Without it, or with an empty `VERSION_ID`, any release matches and
    /// an advisory covering several keeps the smallest fix above the installed version.
    pub fn matches(&self, packages: &[Package], os: Option<&(String, String)>) -> Vec<Advisory> {
        let mut found: Vec<Advisory> = Vec::new();
        let mut slots: HashMap<(usize, &str, &str), usize> = HashMap::new();
        for pkg in packages {
            if !distribution_applies(pkg.ecosystem, os) {
                continue;
            }
            let Some(hits) = self.index.get(&(pkg.ecosystem, pkg.advisory_name())) else {
                continue;
            };
            let version = pkg.advisory_version();
            for &(r, a) in hits {
                let record = &self.records[r];
                let affected = &record.affected[a];
                if !release_applies(affected, os) {
                    continue;
                }
                let Some(fixed) = affected_by(affected, version) else {
                    continue;
                };
                let key = (r, pkg.name.as_str(), pkg.version.as_str());
                if let Some(&slot) = slots.get(&key) {
                    let advisory = &mut found[slot];
                    advisory.fixed = smaller_fix(pkg.ecosystem, advisory.fixed.take(), fixed);
                    continue;
                }
                slots.insert(key, found.len());
                found.push(Advisory {
                    id: record.id.clone(),
                    aliases: record.aliases.clone(),
                    package: pkg.name.clone(),
                    ecosystem: affected.ecosystem.clone(),
                    installed: pkg.version.clone(),
                    fixed,
                    summary: record.summary.clone(),
                    severity: affected.severity.clone().or(record.severity.clone()),
                });
            }
        }
        found.sort_by(|x, y| {
            (&x.package, &x.installed, &x.id).cmp(&(&y.package, &y.installed, &y.id))
        });
        found
    }
}

/// Whether a distribution's advisories apply to the image at all.
fn distribution_applies(kind: Ecosystem, os: Option<&(String, String)>) -> bool {
    match (kind, os) {
        (Ecosystem::PyPI, _) | (_, None) => true,
        (Ecosystem::Debian, Some((id, _))) => id == "debian",
        (Ecosystem::Alpine, Some((id, _))) => id == "alpine",
    }
}

/// Whether an `affected` entry's release suffix names the image's release.
fn release_applies(affected: &Affected, os: Option<&(String, String)>) -> bool {
    let (Some(release), Some((_, version_id))) = (&affected.release, os) else {
        return true;
    };
    if version_id.is_empty() {
        return true;
    }
    let mut parts = version_id.split('.');
    let major = parts.next().unwrap_or("");
    match affected.kind {
        Ecosystem::Debian => release == major,
        Ecosystem::Alpine => {
            let minor = parts.next().unwrap_or("");
            *release == format!("v{major}.{minor}")
        }
        Ecosystem::PyPI => true,
    }
}

/// The ordering a range's versions follow.
fn compare(kind: Ecosystem, semver: bool, a: &str, b: &str) -> Option<Ordering> {
    if semver {
        return Some(version::compare_semver(a, b));
    }
    match kind {
        Ecosystem::Debian => Some(version::compare_debian(a, b)),
        Ecosystem::Alpine => Some(version::compare_apk(a, b)),
        Ecosystem::PyPI => version::compare_pep440(a, b),
    }
}

/// `Some(fixed)` when `version` is covered by the entry, `fixed` being the smallest fixed
/// version above it; `None` when it is not covered.
fn affected_by(affected: &Affected, version: &str) -> Option<Option<String>> {
    let kind = affected.kind;
    // A version the ecosystem cannot order is only matched by the explicit list: any range
    // starting at "0" would otherwise cover it with nothing to say it is past the fix.
    let orderable = kind != Ecosystem::PyPI || version::is_pep440(version);
    let listed = affected.versions.iter().any(|v| {
        v == version || (orderable && compare(kind, false, version, v) == Some(Ordering::Equal))
    });
    let in_range = orderable
        && affected
            .ranges
            .iter()
            .any(|r| range_covers(kind, r, version) == Some(true));
    if !listed && !in_range {
        return None;
    }
    let mut fixed: Option<String> = None;
    for range in &affected.ranges {
        for event in &range.events {
            let Event::Fixed(f) = event else { continue };
            if compare(kind, range.semver, version, f) != Some(Ordering::Less) {
                continue;
            }
            fixed = smaller_fix(kind, fixed, Some(f.clone()));
        }
    }
    Some(fixed)
}

/// The smaller of two fixed versions (either may be absent).
fn smaller_fix(kind: Ecosystem, a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => {
            if compare(kind, false, &b, &a) == Some(Ordering::Less) {
                Some(b)
            } else {
                Some(a)
            }
        }
        (a, b) => a.or(b),
    }
}

/// The OSV evaluation of one range: `None` when a version in it cannot be ordered.
///
/// The schema walks the events sorted by version and lets each one the version has reached
/// (`introduced`/`fixed` at or below it, `last_affected` below it) set the state; the result is
/// the state set by the greatest reached event, which is found here without sorting (ties go to
/// the later event, as a stable sort would leave them).
fn range_covers(kind: Ecosystem, range: &Range, version: &str) -> Option<bool> {
    let cmp = |a: &str, b: &str| compare(kind, range.semver, a, b);
    let limits: Vec<&str> = range
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Limit(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    if !limits.is_empty() {
        let mut below_a_limit = false;
        for limit in limits {
            below_a_limit |= limit.contains('*') || cmp(version, limit)? == Ordering::Less;
        }
        if !below_a_limit {
            return Some(false);
        }
    }
    let mut decisive: Option<&Event> = None;
    for event in &range.events {
        let reached = match event {
            Event::Introduced(_) if event.is_origin() => true,
            Event::Introduced(v) | Event::Fixed(v) => cmp(version, v)? != Ordering::Less,
            Event::LastAffected(v) => cmp(version, v)? == Ordering::Greater,
            Event::Limit(_) => false,
        };
        if !reached {
            continue;
        }
        let later = match decisive {
            None => true,
            Some(d) => match (d.is_origin(), event.is_origin()) {
                (_, true) => d.is_origin(),
                (true, false) => true,
                (false, false) => cmp(event.version(), d.version())? != Ordering::Less,
            },
        };
        if later {
            decisive = Some(event);
        }
    }
    Some(matches!(decisive, Some(Event::Introduced(_))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn db(advisories: serde_json::Value) -> VulnDb {
        let list: OneOrMany = serde_json::from_value(advisories).expect("valid test advisories");
        let mut db = VulnDb::default();
        for raw in list.into_vec() {
            db.add(raw);
        }
        db
    }

    fn pkg(
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        source_package: Option<&str>,
    ) -> Package {
        Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            source: "test".into(),
            source_package: source_package.map(Into::into),
            source_version: None,
        }
    }

    fn pypi(name: &str, version: &str) -> Package {
        pkg(Ecosystem::PyPI, name, version, None)
    }

    fn advisory(
        id: &str,
        ecosystem: &str,
        name: &str,
        range: serde_json::Value,
    ) -> serde_json::Value {
        json!({
            "id": id,
            "summary": format!("{id} summary"),
            "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "ranges": [range]}]
        })
    }

    fn ecosystem_range(events: serde_json::Value) -> serde_json::Value {
        json!({"type": "ECOSYSTEM", "events": events})
    }

    /// `(package, installed, fixed)` of each match, for short assertions.
    fn hits(
        db: &VulnDb,
        packages: &[Package],
        os: Option<(&str, &str)>,
    ) -> Vec<(String, String, Option<String>)> {
        let os = os.map(|(i, v)| (i.to_owned(), v.to_owned()));
        db.matches(packages, os.as_ref())
            .into_iter()
            .map(|a| (a.package, a.installed, a.fixed))
            .collect()
    }

    fn fixed(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn introduced_and_fixed_give_the_smallest_fix_above_the_installed_version() {
        let db = db(json!([advisory(
            "GHSA-1",
            "PyPI",
            "jinja2",
            ecosystem_range(json!([
                {"introduced": "0"}, {"fixed": "2.11.3"},
                {"introduced": "3.0.0a1"}, {"fixed": "3.1.3"}
            ]))
        )]));
        let h = |v: &str| hits(&db, &[pypi("Jinja2", v)], None);
        assert_eq!(
            h("2.10"),
            [("Jinja2".into(), "2.10".into(), fixed("2.11.3"))]
        );
        assert!(h("2.11.3").is_empty());
        assert!(h("2.11.3.post1").is_empty());
        assert_eq!(
            h("3.0.0rc1"),
            [("Jinja2".into(), "3.0.0rc1".into(), fixed("3.1.3"))]
        );
        assert_eq!(h("3.1.2")[0].2, fixed("3.1.3"));
        assert!(h("3.1.3").is_empty());
        // Not a PEP 440 version: ranges cannot place it, so it is not reported.
        assert!(h("not-a-version").is_empty());
    }

    #[test]
    fn last_affected_is_inclusive_and_gives_no_fix() {
        let db = db(json!([advisory(
            "GHSA-2",
            "PyPI",
            "pkg",
            ecosystem_range(json!([{"introduced": "1.0"}, {"last_affected": "1.4"}]))
        )]));
        assert!(hits(&db, &[pypi("pkg", "0.9")], None).is_empty());
        assert_eq!(
            hits(&db, &[pypi("pkg", "1.4")], None),
            [("pkg".into(), "1.4".into(), None)]
        );
        assert!(hits(&db, &[pypi("pkg", "1.4.post1")], None).is_empty());
    }

    #[test]
    fn explicit_versions_match_by_ecosystem_equality() {
        let db = db(json!([{
            "id": "PYSEC-3",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "pkg"}, "versions": ["1.0", "1.1"]}]
        }]));
        assert_eq!(hits(&db, &[pypi("pkg", "1.0.0")], None).len(), 1);
        assert_eq!(hits(&db, &[pypi("pkg", "1.1")], None).len(), 1);
        assert!(hits(&db, &[pypi("pkg", "1.2")], None).is_empty());
    }

    #[test]
    fn limit_bounds_the_range() {
        let db = db(json!([advisory(
            "X-4",
            "PyPI",
            "pkg",
            ecosystem_range(json!([{"introduced": "0"}, {"limit": "2.0"}]))
        )]));
        assert_eq!(hits(&db, &[pypi("pkg", "1.9")], None).len(), 1);
        assert!(hits(&db, &[pypi("pkg", "2.0")], None).is_empty());
    }

    #[test]
    fn semver_ranges_compare_numerically() {
        let db = db(json!([advisory(
            "X-5",
            "PyPI",
            "pkg",
            json!({"type": "SEMVER", "events": [{"introduced": "1.2.0"}, {"fixed": "1.10.0"}]})
        )]));
        assert_eq!(
            hits(&db, &[pypi("pkg", "1.9.0")], None)[0].2,
            fixed("1.10.0")
        );
        assert!(hits(&db, &[pypi("pkg", "1.10.0")], None).is_empty());
        assert!(hits(&db, &[pypi("pkg", "1.1.9")], None).is_empty());
    }

    #[test]
    fn withdrawn_and_foreign_advisories_are_dropped() {
        let mut withdrawn = advisory(
            "GHSA-6",
            "PyPI",
            "pkg",
            ecosystem_range(json!([{"introduced": "0"}])),
        );
        withdrawn["withdrawn"] = json!("2024-01-01T00:00:00Z");
        let npm = advisory(
            "GHSA-7",
            "npm",
            "pkg",
            ecosystem_range(json!([{"introduced": "0"}])),
        );
        let git_only = json!({"id": "OSV-8", "affected": [{"ranges": [{"type": "GIT", "events": [{"introduced": "abc"}]}]}]});
        let db = db(json!([withdrawn, npm, git_only]));
        assert_eq!((db.len(), db.ignored()), (0, 3));
        assert!(hits(&db, &[pypi("pkg", "1.0")], None).is_empty());
    }

    #[test]
    fn pypi_names_are_normalised_on_both_sides() {
        let db = db(json!([advisory(
            "GHSA-9",
            "PyPI",
            "Flask_SQLAlchemy",
            ecosystem_range(json!([{"introduced": "0"}, {"fixed": "3.0.0"}]))
        )]));
        let found = db.matches(&[pypi("flask.sqlalchemy", "2.5.1")], None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].package, "flask.sqlalchemy");
        assert_eq!(found[0].ecosystem, "PyPI");
    }

    fn openssl_advisory() -> serde_json::Value {
        json!({
            "id": "DSA-10",
            "aliases": ["CVE-2024-0001"],
            "details": "\n  openssl: buffer overread in X.\nMore text.",
            "affected": [
                {"package": {"ecosystem": "Debian:12", "name": "openssl"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2-1"}]}]},
                {"package": {"ecosystem": "Debian:11", "name": "openssl"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.9-1~deb11u1"}]}]}
            ]
        })
    }

    #[test]
    fn debian_matches_by_source_package_with_epochs_and_release() {
        let db = db(json!([openssl_advisory()]));
        // Binary libssl3 from source openssl; 1.5-1 has epoch 0, so it is below 1:1.2-1.
        let libssl = pkg(Ecosystem::Debian, "libssl3", "1.5-1", Some("openssl"));
        let bookworm = hits(&db, std::slice::from_ref(&libssl), Some(("debian", "12")));
        assert_eq!(
            bookworm,
            [("libssl3".into(), "1.5-1".into(), fixed("1:1.2-1"))]
        );
        // On bullseye 1.5-1 is below 1.9-1~deb11u1.
        assert_eq!(
            hits(&db, std::slice::from_ref(&libssl), Some(("debian", "11")))[0].2,
            fixed("1.9-1~deb11u1")
        );
        // Not Debian at all: Debian's fixes say nothing about Ubuntu's versions.
        assert!(
            hits(
                &db,
                std::slice::from_ref(&libssl),
                Some(("ubuntu", "22.04"))
            )
            .is_empty()
        );
        // Release unknown: one advisory, the smallest fix above 1.5-1 of both releases.
        assert_eq!(
            hits(&db, std::slice::from_ref(&libssl), None),
            [("libssl3".into(), "1.5-1".into(), fixed("1.9-1~deb11u1"))]
        );
        // The binary name is not what Debian advisories are keyed by.
        let unrelated = pkg(Ecosystem::Debian, "openssl-ish", "1.0-1", Some("other"));
        assert!(hits(&db, &[unrelated], None).is_empty());
        // Fixed version installed.
        let patched = pkg(Ecosystem::Debian, "libssl3", "1:1.2-1", Some("openssl"));
        assert!(hits(&db, &[patched], Some(("debian", "12"))).is_empty());

        let full = &db.matches(&[libssl], Some(&("debian".into(), "12".into())))[0];
        assert_eq!(full.id, "DSA-10");
        assert_eq!(full.aliases, ["CVE-2024-0001"]);
        assert_eq!(full.ecosystem, "Debian:12");
        assert_eq!(full.summary, "openssl: buffer overread in X.");
        assert_eq!(full.severity, None);
    }

    #[test]
    fn alpine_release_scoping_and_origin() {
        let db = db(json!([advisory(
            "ALPINE-11",
            "Alpine:v3.19",
            "openssl",
            ecosystem_range(json!([{"introduced": "0"}, {"fixed": "3.1.4-r3"}]))
        )]));
        let crypto = pkg(Ecosystem::Alpine, "libcrypto3", "3.1.4-r1", Some("openssl"));
        let on = |v: &str| hits(&db, std::slice::from_ref(&crypto), Some(("alpine", v)));
        assert_eq!(on("3.19.1")[0].2, fixed("3.1.4-r3"));
        assert!(on("3.20.0").is_empty());
        assert!(
            hits(
                &db,
                std::slice::from_ref(&crypto),
                Some(("wolfi", "20230201"))
            )
            .is_empty()
        );
    }

    #[test]
    fn severity_prefers_a_rating_over_a_vector() {
        let mut ghsa = advisory(
            "GHSA-12",
            "PyPI",
            "pkg",
            ecosystem_range(json!([{"introduced": "0"}])),
        );
        ghsa["database_specific"] = json!({"severity": "HIGH", "cwe_ids": ["CWE-79"]});
        ghsa["severity"] =
            json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
        let mut pysec = advisory(
            "PYSEC-13",
            "PyPI",
            "pkg",
            ecosystem_range(json!([{"introduced": "0"}])),
        );
        pysec["severity"] =
            json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
        let found = db(json!([ghsa, pysec])).matches(&[pypi("pkg", "1.0")], None);
        assert_eq!(found[0].severity.as_deref(), Some("HIGH"));
        assert_eq!(
            found[1].severity.as_deref(),
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
        );
        assert_eq!(found[0].summary, "GHSA-12 summary");
    }

    fn write_zip(path: &Path, entries: &[(&str, &str)]) {
        let mut zip = zip::ZipWriter::new(File::create(path).expect("create zip"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in entries {
            zip.start_file(*name, options).expect("start entry");
            zip.write_all(body.as_bytes()).expect("write entry");
        }
        zip.finish().expect("finish zip");
    }

    fn one(id: &str) -> String {
        advisory(
            id,
            "PyPI",
            "pkg",
            ecosystem_range(json!([{"introduced": "0"}, {"fixed": "2.0"}])),
        )
        .to_string()
    }

    #[test]
    fn loads_a_zip_a_file_an_array_and_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zip_path = dir.path().join("all.zip");
        write_zip(
            &zip_path,
            &[
                ("A-1.json", &one("A-1")),
                ("README", "not json"),
                ("B-2.json", &one("B-2")),
            ],
        );
        let from_zip = load(&zip_path).expect("zip loads");
        assert_eq!(from_zip.len(), 2);
        let ids: Vec<String> = from_zip
            .matches(&[pypi("pkg", "1.0")], None)
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["A-1", "B-2"]);

        let single = dir.path().join("one.json");
        std::fs::write(&single, one("C-3")).expect("write");
        assert_eq!(load(&single).expect("single loads").len(), 1);

        let array = dir.path().join("array.json");
        std::fs::write(&array, format!("\u{feff} [{}, {}]", one("D-4"), one("E-5")))
            .expect("write");
        assert_eq!(load(&array).expect("array loads").len(), 2);

        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("2024/05")).expect("mkdir");
        std::fs::create_dir_all(tree.join(".git")).expect("mkdir");
        std::fs::write(tree.join("2024/05/F-6.json"), one("F-6")).expect("write");
        std::fs::write(tree.join("G-7.json"), one("G-7")).expect("write");
        std::fs::write(tree.join("notes.txt"), "ignored").expect("write");
        std::fs::write(tree.join(".git/H.json"), "ignored, hidden").expect("write");
        assert_eq!(load(&tree).expect("directory loads").len(), 2);
    }

    #[test]
    fn malformed_advisories_name_their_file_or_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"summary": "no id"}"#).expect("write");
        let err = load(&bad).expect_err("missing id");
        assert!(matches!(err, OsvError::Malformed { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("malformed OSV advisory ") && msg.contains("bad.json"),
            "{msg}"
        );
        assert!(msg.contains("missing field `id`"), "{msg}");

        let zip_path = dir.path().join("all.zip");
        write_zip(
            &zip_path,
            &[("A-1.json", &one("A-1")), ("GHSA-bad.json", "{\"id\": 5}")],
        );
        let msg = load(&zip_path).expect_err("bad entry").to_string();
        assert!(
            msg.contains("GHSA-bad.json in ") && msg.contains("all.zip"),
            "{msg}"
        );
    }

    #[test]
    fn not_an_archive_not_found_and_empty_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("vulns.txt");
        std::fs::write(&text, "CVE-2024-1 openssl\n").expect("write");
        let err = load(&text).expect_err("not osv");
        assert!(matches!(err, OsvError::NotRecognised { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("neither a zip of OSV advisories nor OSV JSON")
        );

        // Starts like a zip but is cut short: the zip reader's own complaint is kept as cause.
        let broken = dir.path().join("broken.zip");
        std::fs::write(&broken, b"PK\x03\x04truncated").expect("write");
        assert!(matches!(load(&broken), Err(OsvError::Zip { .. })));

        let missing = dir.path().join("nope.zip");
        let err = load(&missing).expect_err("missing");
        assert!(matches!(err, OsvError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("nope.zip"));

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        assert!(matches!(load(&empty), Err(OsvError::Empty { .. })));
        let no_json = dir.path().join("no-json.zip");
        write_zip(&no_json, &[("README", "hello")]);
        assert!(matches!(load(&no_json), Err(OsvError::Empty { .. })));
    }

    #[test]
    fn duplicate_multiarch_packages_report_once() {
        let db = db(json!([openssl_advisory()]));
        let a = pkg(Ecosystem::Debian, "libssl3", "1.5-1", Some("openssl"));
        let found = db.matches(&[a.clone(), a], Some(&("debian".into(), "12".into())));
        assert_eq!(found.len(), 1);
    }
}
