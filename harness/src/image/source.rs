//! Where an image's blobs live and which of them make the image: a tar archive (`docker save`,
//! `podman save`, an OCI archive) indexed once, or an OCI image layout directory; the manifest,
//! the platform chosen from a multi-arch index, the config and the ordered layers.
//!
//! Nothing here reads a layer's content: an archive is read header by header (seeking over
//! entry data), and each blob is later opened as a [`Section`] of the file, so a 2 GiB
//! archive costs an index of a few dozen entries, not 2 GiB of memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::ImageError;
use super::config::ImageConfig;

/// The largest manifest, index or config read into memory; real ones are a few KiB.
const JSON_LIMIT: u64 = 16 << 20;

/// A window `[start, start + len)` of a file, read as if it were the whole file.
///
/// Each layer gets its own file handle, so a seek (tar skipping entry data) is arithmetic plus
/// at most one `lseek` before the next read.
#[derive(Debug)]
pub struct Section {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
    /// Where the OS file offset is, to skip redundant seeks.
    os_pos: Option<u64>,
}

impl Section {
    fn open(path: &Path, start: u64, len: u64) -> io::Result<Section> {
        Ok(Section {
            file: File::open(path)?,
            start,
            len,
            pos: 0,
            os_pos: None,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for Section {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let absolute = self.start + self.pos;
        if self.os_pos != Some(absolute) {
            self.file.seek(SeekFrom::Start(absolute))?;
        }
        let want = usize::try_from(self.len - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let got = self.file.read(&mut buf[..want])?;
        if got == 0 {
            // The index promised more bytes than the file now has (it shrank, or lied).
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file ends before the blob does",
            ));
        }
        self.pos += got as u64;
        self.os_pos = Some(absolute + got as u64);
        Ok(got)
    }
}

impl Seek for Section {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
            SeekFrom::End(d) => i128::from(self.len) + i128::from(d),
        };
        self.pos = u64::try_from(target).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the blob start")
        })?;
        Ok(self.pos)
    }
}

/// How the image was stored, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `docker save` / `podman save`: manifest.json, configs and layer tars in one tarball.
    DockerArchive,
    /// An OCI image layout in one tarball (`podman save --format oci-archive`, skopeo).
    OciArchive,
    /// An OCI image layout directory (oci-layout, index.json, blobs/).
    OciLayout,
    /// An unpacked `docker save` tarball.
    DockerDirectory,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::OciArchive => "oci-archive",
            Format::OciLayout => "oci-layout",
            Format::DockerDirectory => "docker-archive directory",
        }
    }
}

/// Where an archive member's data is, or what it links to.
#[derive(Clone, Debug)]
pub struct TarEntry {
    offset: u64,
    size: u64,
    /// Symbolic or hard link target, already made relative to the archive root.
    link: Option<String>,
}

/// Blobs by name: entries of an indexed tar archive, or files under a directory.
#[derive(Debug)]
pub enum Store {
    Tar {
        path: PathBuf,
        entries: HashMap<String, TarEntry>,
    },
    Dir {
        root: PathBuf,
    },
}

/// Normalises an archive member name: no leading `./` or `/`, no `.` parts, `..` applied.
pub fn normalize(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

fn io_error(path: &Path, source: io::Error) -> ImageError {
    if source.kind() == io::ErrorKind::NotFound {
        ImageError::Missing { path: path.into() }
    } else {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// What the first bytes of a file say it is, when it is not a plain tar archive.
pub fn compression_magic(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some("xz")
    } else {
        None
    }
}

/// A tar header block's checksum holds (what tar itself checks first).
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block[..512].iter().all(|&b| b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .skip_while(|&&b| b == b' ')
        .map(|&b| b as char)
        .collect();
    let Ok(expected) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == expected
}

impl Store {
    /// Opens a tarball or a directory.
    ///
    /// # Errors
    /// Missing or unreadable input, a compressed tarball, a file that is no tar archive, or an
    /// archive whose entries run past its end (truncated).
    pub fn open(path: &Path) -> Result<Store, ImageError> {
        let metadata = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if metadata.is_dir() {
            return Ok(Store::Dir { root: path.into() });
        }
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        let file_len = metadata.len();
        let mut head = [0u8; 512];
        let mut filled = 0;
        while filled < head.len() {
            match file.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(path, e)),
            }
        }
        if let Some(kind) = compression_magic(&head[..filled]) {
            return Err(ImageError::NotAnImage {
                path: path.into(),
                reason: format!(
                    "it is {kind}-compressed; decompress it first (an image archive is read by seeking, which a compressed stream cannot do)"
                ),
            });
        }
        if !is_tar_header(&head[..filled]) {
            return Err(ImageError::NotAnImage {
                path: path.into(),
                reason: "it is neither a tar archive (`docker save` / `podman save` output) nor an OCI image layout directory".into(),
            });
        }
        let section = Section::open(path, 0, file_len).map_err(|e| io_error(path, e))?;
        let mut archive = tar::Archive::new(BufReader::with_capacity(64 << 10, section));
        let mut entries = HashMap::new();
        let corrupt = |e: io::Error| ImageError::Truncated {
            path: path.into(),
            what: "the archive".into(),
            detail: format!("its entries cannot be read ({e})"),
        };
        for entry in archive.entries_with_seek().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            let name = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            let size = entry.size();
            let offset = entry.raw_file_position();
            let end = offset.saturating_add(size);
            if end > file_len {
                return Err(ImageError::Truncated {
                    path: path.into(),
                    what: format!("the archive member {name}"),
                    detail: format!("it should end at byte {end} but the file has {file_len}"),
                });
            }
            let link = if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                Some(if kind.is_symlink() && !target.starts_with('/') {
                    // A symbolic link is relative to its own directory; a hard link to the root.
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    normalize(&format!("{dir}/{target}"))
                } else {
                    normalize(&target)
                })
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                None
            } else {
                continue;
            };
            entries.insert(name, TarEntry { offset, size, link });
        }
        Ok(Store::Tar {
            path: path.into(),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            Store::Tar { path, .. } => path,
            Store::Dir { root } => root,
        }
    }

    fn tar_entry(&self, name: &str) -> Option<&TarEntry> {
        let Store::Tar { entries, .. } = self else {
            return None;
        };
        let mut name = normalize(name);
        // Older `docker save` links repeated layers to their first copy.
        for _ in 0..8 {
            let entry = entries.get(&name)?;
            match &entry.link {
                Some(target) => name = target.clone(),
                None => return Some(entry),
            }
        }
        None
    }

    pub fn contains(&self, name: &str) -> bool {
        match self {
            Store::Tar { .. } => self.tar_entry(name).is_some(),
            Store::Dir { root } => safe_join(root, name).is_some_and(|p| p.is_file()),
        }
    }

    /// Opens a blob for streaming.
    ///
    /// # Errors
    /// [`ImageError::MissingBlob`] when it is not there; I/O errors.
    pub fn open_blob(&self, name: &str) -> Result<Section, ImageError> {
        let missing = || ImageError::MissingBlob {
            path: self.path().into(),
            name: name.into(),
        };
        match self {
            Store::Tar { path, .. } => {
                let entry = self.tar_entry(name).ok_or_else(missing)?;
                Section::open(path, entry.offset, entry.size).map_err(|e| io_error(path, e))
            }
            Store::Dir { root } => {
                let file = safe_join(root, name).ok_or_else(missing)?;
                let len = match std::fs::metadata(&file) {
                    Ok(m) if m.is_file() => m.len(),
                    Ok(_) => return Err(missing()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                    Err(e) => return Err(io_error(&file, e)),
                };
                Section::open(&file, 0, len).map_err(|e| io_error(&file, e))
            }
        }
    }

    /// Reads a small blob (manifest, index, config) whole.
    fn read_json(&self, name: &str, what: &str) -> Result<(Vec<u8>, Value), ImageError> {
        let mut section = self.open_blob(name)?;
        if section.len() > JSON_LIMIT {
            return Err(ImageError::Invalid {
                path: self.path().into(),
                what: what.into(),
                message: format!(
                    "{name} is {} bytes, far more than any real one",
                    section.len()
                ),
            });
        }
        let mut bytes = Vec::with_capacity(section.len() as usize);
        section
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(self.path(), e))?;
        let value = serde_json::from_slice(&bytes).map_err(|e| ImageError::Json {
            path: self.path().into(),
            what: format!("{what} ({name})"),
            message: e.to_string(),
        })?;
        Ok((bytes, value))
    }
}

/// `root/name` for a relative name that stays under `root` (a manifest cannot point elsewhere).
fn safe_join(root: &Path, name: &str) -> Option<PathBuf> {
    let normal = normalize(name);
    let escapes = name.split('/').any(|p| p == "..") || normal.is_empty();
    (!escapes).then(|| root.join(normal))
}

/// The digest a blob name carries (`blobs/sha256/<hex>`, or `<hex>.json` in old archives).
fn digest_from_name(name: &str) -> Option<String> {
    let name = normalize(name);
    let hex = if let Some(rest) = name.strip_prefix("blobs/sha256/") {
        rest
    } else {
        name.strip_suffix(".json")?
    };
    is_sha256_hex(hex).then(|| format!("sha256:{hex}"))
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An `os/arch[/variant]` platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The default when `--platform` is not given.
    pub fn default_target() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// Parses `linux/amd64`, `linux/arm64/v8`.
    ///
    /// # Errors
    /// A text that is not `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{text}` is not a platform; expected os/arch[/variant], e.g. linux/amd64"
            ));
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    fn from_json(value: &Value) -> Option<Platform> {
        Some(Platform {
            os: value.get("os")?.as_str()?.into(),
            architecture: value.get("architecture")?.as_str()?.into(),
            variant: value
                .get("variant")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `wanted` matches when os and architecture agree and, if it names a variant, that too.
    fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// One layer blob of the image, in order from the base.
#[derive(Clone, Debug)]
pub struct LayerRef {
    /// Name in the store (archive member or path under the layout).
    pub name: String,
    /// `sha256:<hex>` of the blob as stored, when the manifest or its name says.
    pub digest: Option<String>,
    /// Size the manifest promises, when it does.
    pub size: Option<u64>,
}

/// The image an input holds, resolved down to its config and layers.
#[derive(Debug)]
pub struct Resolved {
    pub format: Format,
    pub tags: Vec<String>,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    /// Why a platform other than the requested default was read, if one was.
    pub platform_note: Option<String>,
}

/// Finds the image in `store`: manifest.json (docker-archive) or index.json (OCI), then the
/// platform's manifest, its config (digest checked) and its layers.
///
/// `platform` is `Some` when the user asked for one: then nothing else is accepted. Without
/// it, linux/amd64 is preferred and an index with a single other platform is read as that.
///
/// # Errors
/// Not an image, missing blobs, malformed JSON, digest or size mismatches, no such platform.
pub fn resolve(store: &Store, platform: Option<&Platform>) -> Result<Resolved, ImageError> {
    let has_manifest = store.contains("manifest.json");
    let has_index = store.contains("index.json");
    let resolved = if has_manifest && (platform.is_none() || !has_index) {
        resolve_docker(store)?
    } else if has_index {
        resolve_oci(store, platform)?
    } else {
        return Err(ImageError::NotAnImage {
            path: store.path().into(),
            reason: match store {
                Store::Tar { .. } => "the archive holds neither manifest.json (docker-archive) nor index.json (OCI)".into(),
                Store::Dir { .. } => "the directory holds neither index.json (OCI image layout) nor manifest.json (an unpacked `docker save`)".into(),
            },
        });
    };
    if let Some(wanted) = platform {
        let actual = resolved.config.platform();
        if !actual.satisfies(wanted) {
            return Err(ImageError::Platform {
                path: store.path().into(),
                message: format!("the image is {actual}, not {wanted}"),
            });
        }
    }
    Ok(resolved)
}

fn invalid(store: &Store, what: &str, message: impl Into<String>) -> ImageError {
    ImageError::Invalid {
        path: store.path().into(),
        what: what.into(),
        message: message.into(),
    }
}

fn resolve_docker(store: &Store) -> Result<Resolved, ImageError> {
    let (_, manifest) = store.read_json("manifest.json", "the manifest")?;
    let images = manifest
        .as_array()
        .ok_or_else(|| invalid(store, "manifest.json", "it is not a list of images"))?;
    let image = match images.as_slice() {
        [one] => one,
        [] => return Err(invalid(store, "manifest.json", "it lists no image")),
        many => {
            let tags: Vec<String> = many
                .iter()
                .flat_map(|i| tags_of(i.get("RepoTags")))
                .collect();
            return Err(invalid(
                store,
                "manifest.json",
                format!(
                    "it holds {} images ({}); save one image per tarball",
                    many.len(),
                    if tags.is_empty() {
                        "untagged".into()
                    } else {
                        tags.join(", ")
                    }
                ),
            ));
        }
    };
    let config_name = image
        .get("Config")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(store, "manifest.json", "its image has no Config"))?;
    let layer_names = image
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(store, "manifest.json", "its image has no Layers list"))?;
    let config = read_config(store, config_name, digest_from_name(config_name), None)?;
    let mut layers = Vec::new();
    for name in layer_names {
        let name = name
            .as_str()
            .ok_or_else(|| invalid(store, "manifest.json", "a layer name is not a string"))?;
        layers.push(LayerRef {
            name: name.into(),
            digest: digest_from_name(name),
            size: None,
        });
    }
    let format = match store {
        Store::Tar { .. } => Format::DockerArchive,
        Store::Dir { .. } => Format::DockerDirectory,
    };
    Ok(Resolved {
        format,
        tags: tags_of(image.get("RepoTags")),
        config,
        layers,
        platform_note: None,
    })
}

fn tags_of(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A descriptor: what a manifest or index says about a blob.
#[derive(Clone, Debug)]
struct Descriptor {
    digest: String,
    size: Option<u64>,
    platform: Option<Platform>,
    tag: Option<String>,
    attestation: bool,
}

impl Descriptor {
    fn parse(store: &Store, value: &Value, what: &str) -> Result<Descriptor, ImageError> {
        let digest = value
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(store, what, "a descriptor has no digest"))?;
        let annotations = value.get("annotations");
        let annotation = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let platform = value.get("platform").and_then(Platform::from_json);
        Ok(Descriptor {
            digest: digest.into(),
            size: value.get("size").and_then(Value::as_u64),
            attestation: annotation("vnd.docker.reference.type").as_deref()
                == Some("attestation-manifest")
                || platform
                    .as_ref()
                    .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown"),
            tag: annotation("io.containerd.image.name")
                .or_else(|| annotation("org.opencontainers.image.ref.name")),
            platform,
        })
    }

    fn blob_name(&self) -> Option<String> {
        let (algorithm, hex) = self.digest.split_once(':')?;
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        (safe(algorithm) && safe(hex)).then(|| format!("blobs/{algorithm}/{hex}"))
    }
}

/// Reads a small blob by descriptor, checking its size and (sha256) digest.
fn read_descriptor(
    store: &Store,
    descriptor: &Descriptor,
    what: &str,
) -> Result<(Vec<u8>, Value), ImageError> {
    let name = descriptor.blob_name().ok_or_else(|| {
        invalid(
            store,
            what,
            format!("`{}` is not a digest", descriptor.digest),
        )
    })?;
    let (bytes, value) = store.read_json(&name, what)?;
    check_size(store, &name, descriptor.size, bytes.len() as u64)?;
    check_digest(store, &name, Some(&descriptor.digest), &bytes)?;
    Ok((bytes, value))
}

pub fn check_size(
    store: &Store,
    name: &str,
    expected: Option<u64>,
    actual: u64,
) -> Result<(), ImageError> {
    match expected {
        Some(expected) if expected != actual => Err(ImageError::Truncated {
            path: store.path().into(),
            what: name.into(),
            detail: format!("the manifest says {expected} bytes but it has {actual}"),
        }),
        _ => Ok(()),
    }
}

fn check_digest(
    store: &Store,
    name: &str,
    expected: Option<&str>,
    bytes: &[u8],
) -> Result<(), ImageError> {
    let Some(expected_hex) = expected.and_then(|d| d.strip_prefix("sha256:")) else {
        return Ok(());
    };
    let actual = hex(&Sha256::digest(bytes));
    if !actual.eq_ignore_ascii_case(expected_hex) {
        return Err(ImageError::Digest {
            path: store.path().into(),
            name: name.into(),
            expected: format!("sha256:{expected_hex}"),
            actual: format!("sha256:{actual}"),
        });
    }
    Ok(())
}

fn read_config(
    store: &Store,
    name: &str,
    digest: Option<String>,
    size: Option<u64>,
) -> Result<ImageConfig, ImageError> {
    let (bytes, value) = store.read_json(name, "the image config")?;
    check_size(store, name, size, bytes.len() as u64)?;
    check_digest(store, name, digest.as_deref(), &bytes)?;
    ImageConfig::from_json(&value)
        .map_err(|message| invalid(store, &format!("the image config ({name})"), message))
}

fn resolve_oci(store: &Store, platform: Option<&Platform>) -> Result<Resolved, ImageError> {
    let (_, index) = store.read_json("index.json", "the index")?;
    let mut candidates = Vec::new();
    collect_manifests(store, &index, None, &mut candidates, 0)?;
    let chosen = choose(store, &candidates, platform)?;
    let (descriptor, note) = chosen;
    let (_, manifest) = read_descriptor(store, &descriptor, "the image manifest")?;
    let config = manifest
        .get("config")
        .ok_or_else(|| invalid(store, "the image manifest", "it has no config"))
        .and_then(|c| Descriptor::parse(store, c, "the image manifest"))?;
    let config_name = config.blob_name().ok_or_else(|| {
        invalid(
            store,
            "the image manifest",
            "its config digest is malformed",
        )
    })?;
    let image_config = read_config(store, &config_name, Some(config.digest), config.size)?;
    let mut layers = Vec::new();
    for layer in manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(store, "the image manifest", "it has no layers list"))?
    {
        let layer = Descriptor::parse(store, layer, "the image manifest")?;
        layers.push(LayerRef {
            name: layer.blob_name().ok_or_else(|| {
                invalid(store, "the image manifest", "a layer digest is malformed")
            })?,
            digest: Some(layer.digest),
            size: layer.size,
        });
    }
    let format = match store {
        Store::Tar { .. } => Format::OciArchive,
        Store::Dir { .. } => Format::OciLayout,
    };
    Ok(Resolved {
        format,
        tags: descriptor.tag.into_iter().collect(),
        config: image_config,
        layers,
        platform_note: note,
    })
}

/// Flattens nested indexes (an index of indexes, as docker 25+ writes) into image manifests.
fn collect_manifests(
    store: &Store,
    index: &Value,
    inherited_tag: Option<&str>,
    out: &mut Vec<Descriptor>,
    depth: usize,
) -> Result<(), ImageError> {
    if depth > 4 {
        return Err(invalid(store, "index.json", "indexes nest too deeply"));
    }
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(store, "the index", "it has no manifests list"))?;
    for value in manifests {
        let mut descriptor = Descriptor::parse(store, value, "the index")?;
        if descriptor.tag.is_none() {
            descriptor.tag = inherited_tag.map(str::to_string);
        }
        if descriptor.attestation {
            continue;
        }
        let media_type = value.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let nested_index = media_type.ends_with("image.index.v1+json")
            || media_type.ends_with("manifest.list.v2+json");
        if nested_index {
            // Other platforms' blobs are often absent (a single-platform save of a
            // multi-arch image): only an index that is present can be followed.
            if descriptor
                .blob_name()
                .is_some_and(|name| store.contains(&name))
            {
                let (_, nested) = read_descriptor(store, &descriptor, "an image index")?;
                collect_manifests(store, &nested, descriptor.tag.as_deref(), out, depth + 1)?;
            }
        } else {
            out.push(descriptor);
        }
    }
    Ok(())
}

fn choose(
    store: &Store,
    candidates: &[Descriptor],
    platform: Option<&Platform>,
) -> Result<(Descriptor, Option<String>), ImageError> {
    let present: Vec<&Descriptor> = candidates
        .iter()
        .filter(|d| d.blob_name().is_some_and(|name| store.contains(&name)))
        .collect();
    let listing = |list: &[&Descriptor]| -> String {
        let mut names: Vec<String> = list
            .iter()
            .map(|d| {
                d.platform
                    .as_ref()
                    .map_or("an image without platform".into(), ToString::to_string)
            })
            .collect();
        names.dedup();
        names.join(", ")
    };
    let wanted = platform.cloned().unwrap_or_else(Platform::default_target);
    let matching: Vec<&Descriptor> = candidates
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| p.satisfies(&wanted)))
        .collect();
    if let Some(first) = matching
        .iter()
        .find(|d| present.iter().any(|p| std::ptr::eq(*p, **d)))
    {
        return Ok(((*first).clone(), None));
    }
    if platform.is_some()
        && let Some(first) = matching.first()
    {
        // Asked for by name: reading it reports its blob as missing, which is the truth.
        return Ok(((*first).clone(), None));
    }
    if platform.is_none() {
        // No linux/amd64 entry: an index of one image (with or without a platform) is that
        // image, which is what a user saving a single-arch arm64 image means.
        if let [only] = present.as_slice() {
            let note = only
                .platform
                .as_ref()
                .map(|p| format!("the archive has no {wanted} image; read its only one, {p}"));
            return Ok(((*only).clone(), note));
        }
        if candidates.len() == 1 && candidates[0].platform.is_none() {
            return Ok((candidates[0].clone(), None));
        }
    } else if candidates.len() == 1 && candidates[0].platform.is_none() {
        // An index entry without a platform: the config says (checked by the caller).
        return Ok((candidates[0].clone(), None));
    }
    if candidates.is_empty() {
        return Err(invalid(store, "the index", "it lists no image manifest"));
    }
    Err(ImageError::Platform {
        path: store.path().into(),
        message: format!(
            "it has no {wanted} image (it has {}); choose one with --platform",
            listing(&candidates.iter().collect::<Vec<_>>())
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_like_paths_in_an_archive() {
        assert_eq!(normalize("./a//b/./c/"), "a/b/c");
        assert_eq!(normalize("/etc/../usr/bin"), "usr/bin");
        assert_eq!(normalize("."), "");
    }

    #[test]
    fn platforms_parse_and_match_with_an_optional_variant() {
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert!(arm.satisfies(&Platform::parse("linux/arm64").unwrap()));
        assert!(!Platform::parse("linux/arm64").unwrap().satisfies(&arm));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }

    #[test]
    fn digests_come_from_blob_names() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_from_name(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            digest_from_name(&format!("{hex}.json")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_from_name("abc/layer.tar"), None);
    }

    #[test]
    fn a_section_reads_and_seeks_only_inside_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut section = Section::open(&path, 2, 5).unwrap();
        let mut text = String::new();
        section.read_to_string(&mut text).unwrap();
        assert_eq!(text, "23456");
        section.seek(SeekFrom::Start(3)).unwrap();
        let mut rest = Vec::new();
        section.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"56");
        assert!(section.seek(SeekFrom::Current(-10)).is_err());
        // A window past the end of the file is an error, not an endless stream of nothing.
        let mut beyond = Section::open(&path, 8, 5).unwrap();
        assert!(beyond.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn directory_blobs_cannot_escape_the_layout() {
        assert!(safe_join(Path::new("/x"), "../etc/passwd").is_none());
        assert!(safe_join(Path::new("/x"), "blobs/sha256/ab").is_some());
    }
}
