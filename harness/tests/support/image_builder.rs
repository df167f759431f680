//! Builds container images in code, as `docker save` (classic and docker 25+ layouts),
//! `podman save --format oci-archive` and OCI layout directories write them, with gzip, zstd or
//! uncompressed layers, whiteouts and opaque directories, and multi-arch indexes.
//!
//! Shared by the library's unit tests (`crate::image::testing`) and the CLI tests
//! (`tests/image.rs`), so it uses only crates both can see.
#![allow(dead_code)] // each user needs a part of it

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Debug)]
enum Entry {
    File {
        path: String,
        content: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// One layer: entries in tar order, a compression and the history command that made it.
#[derive(Clone, Debug)]
pub struct Layer {
    entries: Vec<Entry>,
    compression: Compression,
    command: String,
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new("COPY . /")
    }
}

impl Layer {
    pub fn new(command: &str) -> Layer {
        Layer {
            entries: Vec::new(),
            compression: Compression::None,
            command: command.into(),
        }
    }

    pub fn file(self, path: &str, content: impl Into<Vec<u8>>) -> Layer {
        self.file_mode(path, content, 0o644)
    }

    pub fn file_mode(mut self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> Layer {
        self.entries.push(Entry::File {
            path: path.into(),
            content: content.into(),
            mode,
        });
        self
    }

    /// A file of `size` bytes, all `x`.
    pub fn sized(self, path: &str, size: usize) -> Layer {
        self.file(path, vec![b'x'; size])
    }

    pub fn dir(self, path: &str) -> Layer {
        self.dir_mode(path, 0o755)
    }

    pub fn dir_mode(mut self, path: &str, mode: u32) -> Layer {
        self.entries.push(Entry::Dir {
            path: path.into(),
            mode,
        });
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        self.entries.push(Entry::Symlink {
            path: path.into(),
            target: target.into(),
        });
        self
    }

    /// Deletes `path` of a lower layer (`dir/.wh.name`).
    pub fn whiteout(self, path: &str) -> Layer {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let marker = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&marker, Vec::new())
    }

    /// Hides everything lower layers put under `dir` (`dir/.wh..wh..opq`).
    pub fn opaque(self, dir: &str) -> Layer {
        self.file(&format!("{dir}/.wh..wh..opq"), Vec::new())
    }

    pub fn compressed(mut self, compression: Compression) -> Layer {
        self.compression = compression;
        self
    }

    /// The uncompressed tar stream.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            match entry {
                Entry::File {
                    path,
                    content,
                    mode,
                } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(content.len() as u64);
                    builder
                        .append_data(&mut header, path, content.as_slice())
                        .unwrap();
                }
                Entry::Dir { path, mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, format!("{path}/"), std::io::empty())
                        .unwrap();
                }
                Entry::Symlink { path, target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    /// The blob as stored.
    pub fn blob(&self) -> Vec<u8> {
        let tar = self.tar();
        match self.compression {
            Compression::None => tar,
            Compression::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(&tar).unwrap();
                encoder.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(tar.as_slice(), 1).unwrap(),
        }
    }

    fn media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// How the image is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Classic `docker save`: `<id>/layer.tar`, `<config-hex>.json`, manifest.json.
    DockerArchive,
    /// docker 25+ `docker save`: an OCI layout plus manifest.json, in one tarball.
    DockerOciArchive,
    /// `podman save --format oci-archive`: an OCI layout in one tarball.
    OciArchive,
    /// An OCI layout directory.
    OciDir,
}

/// An image: its layers and config.
#[derive(Clone, Debug)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub user: String,
    pub env: Vec<String>,
    pub exposed: Vec<String>,
    pub os: String,
    pub architecture: String,
    /// History steps without a layer (ENV, USER), appended after the layers' steps.
    pub empty_steps: Vec<String>,
    pub tag: String,
}

impl Default for Image {
    fn default() -> Self {
        Image {
            layers: Vec::new(),
            user: String::new(),
            env: Vec::new(),
            exposed: Vec::new(),
            os: "linux".into(),
            architecture: "amd64".into(),
            empty_steps: Vec::new(),
            tag: "example/app:1.0".into(),
        }
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A blob to write: its name in the layout and its bytes.
struct Blob {
    hex: String,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            hex: sha256(&bytes),
            bytes,
        }
    }

    fn descriptor(&self, media_type: &str) -> Value {
        json!({
            "mediaType": media_type,
            "digest": format!("sha256:{}", self.hex),
            "size": self.bytes.len(),
        })
    }

    fn name(&self) -> String {
        format!("blobs/sha256/{}", self.hex)
    }
}

/// Files of a layout: name → bytes.
type Files = Vec<(String, Vec<u8>)>;

/// `text` followed by newlines up to `size` bytes: round sizes make dive's figures exact.
pub fn padded(text: &str, size: usize) -> Vec<u8> {
    assert!(text.len() <= size);
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(size, b'\n');
    bytes
}

/// An OSV advisory on the PyPI package `package`, affecting it from `introduced` until `fixed`.
pub fn pypi_advisory(
    id: &str,
    alias: &str,
    summary: &str,
    package: &str,
    introduced: &str,
    fixed: &str,
) -> Value {
    json!({
        "id": id,
        "aliases": [alias],
        "summary": summary,
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]}],
        }],
    })
}

impl Image {
    pub fn new() -> Image {
        Image::default()
    }

    /// A distroless-style app: one executable, a sticky `/tmp`, a non-root user, nothing to
    /// find.
    pub fn minimal() -> Image {
        Image::new()
            .layer(
                Layer::new("COPY /out/app /app")
                    .file_mode("app", vec![0x7f, b'E', b'L', b'F'], 0o755)
                    .dir_mode("tmp", 0o1777),
            )
            .user("65532:65532")
            .expose("5000/tcp")
    }

    pub fn layer(mut self, layer: Layer) -> Image {
        self.layers.push(layer);
        self
    }

    pub fn user(mut self, user: &str) -> Image {
        self.user = user.into();
        self
    }

    pub fn env(mut self, entry: &str) -> Image {
        self.env.push(entry.into());
        self
    }

    pub fn expose(mut self, port: &str) -> Image {
        self.exposed.push(port.into());
        self
    }

    pub fn platform(mut self, os: &str, architecture: &str) -> Image {
        self.os = os.into();
        self.architecture = architecture.into();
        self
    }

    pub fn step(mut self, created_by: &str) -> Image {
        self.empty_steps.push(created_by.into());
        self
    }

    pub fn config(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|l| format!("sha256:{}", sha256(&l.tar())))
            .collect();
        let mut history: Vec<Value> = self
            .layers
            .iter()
            .map(|l| json!({"created_by": l.command}))
            .collect();
        for step in &self.empty_steps {
            history.push(json!({"created_by": step, "empty_layer": true}));
        }
        let exposed: serde_json::Map<String, Value> = self
            .exposed
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect();
        serde_json::to_vec(&json!({
            "architecture": self.architecture,
            "os": self.os,
            "config": {
                "User": self.user,
                "Env": self.env,
                "ExposedPorts": exposed,
                "Cmd": ["/app"],
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
        .unwrap()
    }

    /// Blobs and the image manifest for an OCI layout.
    fn oci_blobs(&self) -> (Blob, Vec<Blob>) {
        let config = Blob::new(self.config());
        let layers: Vec<(Blob, &'static str)> = self
            .layers
            .iter()
            .map(|l| (Blob::new(l.blob()), l.media_type()))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
            "layers": layers.iter().map(|(b, t)| b.descriptor(t)).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(serde_json::to_vec(&manifest).unwrap());
        let mut blobs = vec![config];
        blobs.extend(layers.into_iter().map(|(b, _)| b));
        (manifest, blobs)
    }

    fn files(&self, layout: Layout) -> Files {
        let mut files: Files = Vec::new();
        match layout {
            Layout::DockerArchive => {
                let config = self.config();
                let config_name = format!("{}.json", sha256(&config));
                let mut layer_names = Vec::new();
                for layer in &self.layers {
                    let blob = layer.blob();
                    let name = format!("{}/layer.tar", sha256(&blob));
                    files.push((name.clone(), blob));
                    layer_names.push(name);
                }
                files.push((config_name.clone(), config));
                let manifest = json!([{
                    "Config": config_name,
                    "RepoTags": [self.tag],
                    "Layers": layer_names,
                }]);
                files.push((
                    "manifest.json".into(),
                    serde_json::to_vec(&manifest).unwrap(),
                ));
            }
            Layout::DockerOciArchive | Layout::OciArchive | Layout::OciDir => {
                let (manifest, blobs) = self.oci_blobs();
                let mut descriptor =
                    manifest.descriptor("application/vnd.oci.image.manifest.v1+json");
                descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": self.tag});
                let index = json!({"schemaVersion": 2, "manifests": [descriptor]});
                files.push((
                    "oci-layout".into(),
                    br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
                ));
                files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
                if layout == Layout::DockerOciArchive {
                    let docker = json!([{
                        "Config": blobs[0].name(),
                        "RepoTags": [self.tag],
                        "Layers": blobs[1..].iter().map(Blob::name).collect::<Vec<_>>(),
                    }]);
                    files.push(("manifest.json".into(), serde_json::to_vec(&docker).unwrap()));
                }
                files.push((manifest.name(), manifest.bytes));
                for blob in blobs {
                    files.push((blob.name(), blob.bytes));
                }
            }
        }
        files
    }

    /// Writes the image to `dest` (a tarball, or a directory for [`Layout::OciDir`]) and
    /// returns `dest`.
    pub fn write(&self, layout: Layout, dest: &Path) -> PathBuf {
        write_files(&self.files(layout), layout == Layout::OciDir, dest)
    }
}

fn write_files(files: &Files, as_dir: bool, dest: &Path) -> PathBuf {
    if as_dir {
        for (name, bytes) in files {
            let path = dest.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    } else {
        let mut builder = tar::Builder::new(std::fs::File::create(dest).unwrap());
        for (name, bytes) in files {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            header.set_size(bytes.len() as u64);
            header.set_mtime(0);
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
        builder.into_inner().unwrap().flush().unwrap();
    }
    dest.to_path_buf()
}

/// A multi-arch OCI layout, index → nested index → one manifest per image (with its
/// platform), as docker 25+ and buildx write them. Platforms in `absent` are listed but their
/// blobs are left out, as in a single-platform save.
pub fn write_multi_arch(images: &[&Image], absent: &[&str], as_dir: bool, dest: &Path) -> PathBuf {
    let mut files: Files = vec![(
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    let mut descriptors = Vec::new();
    for image in images {
        let (manifest, blobs) = image.oci_blobs();
        let mut descriptor = manifest.descriptor("application/vnd.oci.image.manifest.v1+json");
        let platform = format!("{}/{}", image.os, image.architecture);
        descriptor["platform"] = json!({"os": image.os, "architecture": image.architecture});
        descriptors.push(descriptor);
        if absent.contains(&platform.as_str()) {
            continue;
        }
        files.push((manifest.name(), manifest.bytes));
        for blob in blobs {
            files.push((blob.name(), blob.bytes));
        }
    }
    // A buildx attestation manifest: skipped by platform selection.
    descriptors.push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "0".repeat(64)),
        "size": 10,
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
    }));
    let nested = Blob::new(
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descriptors,
        }))
        .unwrap(),
    );
    let mut top = nested.descriptor("application/vnd.oci.image.index.v1+json");
    top["annotations"] = json!({"io.containerd.image.name": "example/multi:1.0"});
    files.push((
        "index.json".into(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    ));
    files.push((nested.name(), nested.bytes));
    write_files(&files, as_dir, dest)
}
