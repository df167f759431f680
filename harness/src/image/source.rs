//! Where an image's blobs live: a tar archive (`docker save`, `podman save`, an OCI archive)
//! indexed once, or an OCI image layout directory. Which of them make the image is decided
//! one level up, in `resolve`.
//!
//! Nothing here reads a layer's content: an archive is read header by header (seeking over
//! entry data), and each blob is later opened as a [`Section`] of the file, so a 2 GiB
//! archive costs an index of a few dozen entries, not 2 GiB of memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::ImageError;
use crate::inputs::{compression_magic, is_tar_header};

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
    pub(super) fn read_json(&self, name: &str, what: &str) -> Result<(Vec<u8>, Value), ImageError> {
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

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
