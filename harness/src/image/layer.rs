//! One layer blob streamed as tar entries: the compression told by magic bytes (gzip, zstd or
//! none, whatever the media type claims), compressed blobs hashed as they are read and checked
//! against their digest, uncompressed ones read header by header with seeks over file data.

use std::io::{self, Read, Seek, SeekFrom};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::error::ImageError;
use super::resolve::{LayerRef, check_size};
use super::source::{self, Section, Store};
use crate::inputs::compression_magic;

/// How a layer blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// What a tar entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Devices, FIFOs.
    Other,
}

/// A tar entry's header, with its path normalised (no leading `/` or `./`).
#[derive(Clone, Debug)]
pub struct EntryMeta {
    pub path: String,
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: Option<String>,
}

/// What reading a layer found out about the blob itself.
#[derive(Clone, Copy, Debug)]
pub struct BlobInfo {
    pub compression: Compression,
    /// Size of the blob as stored.
    pub blob_bytes: u64,
    /// The blob was hashed whole and matched its digest.
    pub verified: bool,
}

/// Reads the bytes beneath a decompressor and hashes them on the way.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

pub type Visitor<'a> = dyn FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()> + 'a;

/// Streams every entry of layer `index` to `visit`, which may read the entry's content (what
/// it leaves unread is skipped). Memory stays at a few buffers whatever the layer's size.
///
/// # Errors
/// A missing or short blob, an unsupported compression, a corrupt stream or tar, a digest
/// mismatch, or an error returned by `visit`.
pub fn walk(
    store: &Store,
    layer: &LayerRef,
    index: usize,
    visit: &mut Visitor<'_>,
) -> Result<BlobInfo, ImageError> {
    let broken = |message: String| ImageError::Layer {
        path: store.path().into(),
        index: index + 1,
        name: layer.name.clone(),
        message,
    };
    let mut section = store.open_blob(&layer.name)?;
    let blob_bytes = section.len();
    check_size(store, &layer.name, layer.size, blob_bytes)?;
    let mut head = [0u8; 8];
    let got = read_head(&mut section, &mut head).map_err(|e| broken(e.to_string()))?;
    section
        .rewind()
        .map_err(|e| broken(format!("cannot rewind it: {e}")))?;
    let compression = match compression_magic(&head[..got]) {
        Some("gzip") => Compression::Gzip,
        Some("zstd") => Compression::Zstd,
        Some(other) => {
            return Err(broken(format!(
                "it is {other}-compressed, which image layers may not be (gzip, zstd or none)"
            )));
        }
        None => Compression::None,
    };
    let mut info = BlobInfo {
        compression,
        blob_bytes,
        verified: false,
    };
    if blob_bytes == 0 {
        return Ok(info);
    }
    let hashing = Hashing {
        inner: section,
        hasher: Sha256::new(),
    };
    let hashing = match compression {
        Compression::None => {
            // Seeking over file data is what makes a big layer cheap to read; its digest would
            // need every byte, so an uncompressed layer is checked by structure and size only.
            let mut archive = tar::Archive::new(SeekBuf::new(hashing.inner, 64 << 10));
            let entries = archive
                .entries_with_seek()
                .map_err(|e| broken(e.to_string()))?;
            for entry in entries {
                let entry = entry.map_err(|e| broken(describe(&e)))?;
                visit_entry(entry, Some(blob_bytes), visit).map_err(broken)?;
            }
            return Ok(info);
        }
        Compression::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(hashing);
            let decoder = stream_entries(decoder, visit).map_err(broken)?;
            decoder.into_inner()
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(hashing)
                .map_err(|e| broken(format!("cannot start zstd: {e}")))?;
            let decoder = stream_entries(decoder, visit).map_err(broken)?;
            decoder.finish().into_inner()
        }
    };
    let mut hashing = hashing;
    // Whatever follows the end of the tar stream (padding, a last gzip member) belongs to the
    // blob's digest too.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| broken(e.to_string()))?;
    if let Some(expected) = layer
        .digest
        .as_deref()
        .and_then(|d| d.strip_prefix("sha256:"))
    {
        let actual = source::hex(&hashing.hasher.finalize());
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(ImageError::Digest {
                path: store.path().into(),
                name: layer.name.clone(),
                expected: format!("sha256:{expected}"),
                actual: format!("sha256:{actual}"),
            });
        }
        info.verified = true;
    }
    Ok(info)
}

/// A read buffer that survives seeks landing inside it. tar skips each entry's padding with a
/// seek; `BufReader` would drop its buffer there and read 64 KiB again for every small file.
pub struct SeekBuf<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Next byte to hand out, and end of the valid bytes, in `buf`.
    pos: usize,
    filled: usize,
    /// Position of `inner`: the stream offset just past `buf[..filled]`.
    inner_pos: u64,
}

impl<R: Read + Seek> SeekBuf<R> {
    pub fn new(inner: R, capacity: usize) -> SeekBuf<R> {
        SeekBuf {
            inner,
            buf: vec![0; capacity].into_boxed_slice(),
            pos: 0,
            filled: 0,
            inner_pos: 0,
        }
    }
}

impl<R: Read + Seek> Read for SeekBuf<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled {
            if out.len() >= self.buf.len() {
                // Large reads bypass the buffer.
                let n = self.inner.read(out)?;
                self.inner_pos += n as u64;
                self.pos = 0;
                self.filled = 0;
                return Ok(n);
            }
            self.filled = self.inner.read(&mut self.buf)?;
            self.inner_pos += self.filled as u64;
            self.pos = 0;
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekBuf<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let buffered_start = self.inner_pos - self.filled as u64;
        let current = buffered_start + self.pos as u64;
        let target = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::Current(d) => i128::from(current) + i128::from(d),
            SeekFrom::End(_) => {
                self.pos = 0;
                self.filled = 0;
                self.inner_pos = self.inner.seek(to)?;
                return Ok(self.inner_pos);
            }
        };
        let target = u64::try_from(target)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if (buffered_start..=self.inner_pos).contains(&target) {
            self.pos = (target - buffered_start) as usize;
        } else {
            self.pos = 0;
            self.filled = 0;
            self.inner_pos = self.inner.seek(SeekFrom::Start(target))?;
        }
        Ok(target)
    }
}

fn read_head(section: &mut Section, head: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < head.len() {
        match section.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads a decompressed tar stream to its end and hands the decompressor back.
fn stream_entries<R: Read>(reader: R, visit: &mut Visitor<'_>) -> Result<R, String> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| describe(&e))? {
        let entry = entry.map_err(|e| describe(&e))?;
        visit_entry(entry, None, visit)?;
    }
    let mut reader = archive.into_inner();
    io::copy(&mut reader, &mut io::sink()).map_err(|e| describe(&e))?;
    Ok(reader)
}

fn describe(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        format!("it ends in the middle of an entry, so it is truncated ({error})")
    } else {
        error.to_string()
    }
}

fn visit_entry<R: Read>(
    mut entry: tar::Entry<'_, R>,
    blob_len: Option<u64>,
    visit: &mut Visitor<'_>,
) -> Result<(), String> {
    let path = source::normalize(&String::from_utf8_lossy(&entry.path_bytes()));
    let size = entry.size();
    if let Some(len) = blob_len {
        // With seeks, tar would happily skip past the end of a short blob.
        let end = entry.raw_file_position().saturating_add(size);
        if end > len {
            return Err(format!(
                "{path} should end at byte {end} of the layer, which has only {len}: it is truncated"
            ));
        }
    }
    if path.is_empty() {
        return Ok(());
    }
    let header = entry.header();
    let kind = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            Kind::File
        }
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink,
        tar::EntryType::Link => Kind::HardLink,
        _ => Kind::Other,
    };
    let meta = EntryMeta {
        kind,
        size: if kind == Kind::File { size } else { 0 },
        mode: header.mode().unwrap_or(0),
        uid: header.uid().unwrap_or(0),
        gid: header.gid().unwrap_or(0),
        link: entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        path,
    };
    visit(&meta, &mut entry).map_err(|e| format!("{}: {}", meta.path, describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn seekbuf_reads_like_the_stream_and_keeps_its_buffer_for_near_seeks() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut reader = SeekBuf::new(Cursor::new(data.clone()), 64);
        let mut two = [0u8; 2];
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [0, 1]);
        assert_eq!(reader.seek(SeekFrom::Current(10)).unwrap(), 12);
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [12, 13]);
        // Within the buffer: the inner reader was neither sought nor read again.
        assert_eq!(reader.inner.position(), 64);
        assert_eq!(reader.seek(SeekFrom::Current(5000)).unwrap(), 5014);
        reader.read_exact(&mut two).unwrap();
        assert_eq!(two, [data[5014], data[5015]]);
        assert_eq!(reader.seek(SeekFrom::Start(3)).unwrap(), 3);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[3..]);
        assert!(reader.seek(SeekFrom::Current(-20_000)).is_err());
    }
}
