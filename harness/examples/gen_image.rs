//! Writes a large `docker save`-style image for `bench/image.sh`: a base layer (passwd,
//! os-release, a dpkg status) and layers of generated files (many small text files and a few
//! large incompressible ones), each later layer overwriting a large file and deleting a few
//! small ones of the layer before it, so dive has waste to count.
//!
//! Layers are written one at a time to a scratch file next to the output and appended, so the
//! generator needs memory for buffers only and disk for the image plus one layer.
//!
//! Usage: `cargo run --release -p deploycheck --example gen_image -- OUT.tar [MiB] [LAYERS] [--gzip]`

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

const MIB: u64 = 1 << 20;
/// Small files per layer and their size range.
const SMALL_FILES: u64 = 1500;
const SMALL_MIN: u64 = 512;
const SMALL_MAX: u64 = 8192;
/// Size of each large file.
const BIG: u64 = 8 * MIB;

/// xorshift64*: fast, deterministic filler, incompressible enough to keep sizes honest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Generates `len` bytes: random, or lowercase text (which compresses like source code).
struct Filler {
    rng: Rng,
    left: u64,
    text: bool,
}

impl io::Read for Filler {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for chunk in buf[..n].chunks_mut(8) {
            let word = self.rng.next().to_le_bytes();
            for (b, w) in chunk.iter_mut().zip(word) {
                *b = if self.text {
                    b"abcdefgh ijklmnop\n"[(w % 18) as usize]
                } else {
                    w
                };
            }
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Hashes what passes through, for the layer's diff_id.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    text: bool,
    rng: &mut Rng,
) -> io::Result<()> {
    let filler = Filler {
        rng: Rng(rng.next() | 1),
        left: size,
        text,
    };
    tar.append_data(&mut header(size, 0o644), path, filler)
}

fn write_layer<W: Write>(
    tar: &mut tar::Builder<W>,
    index: u64,
    bytes: u64,
    rng: &mut Rng,
) -> io::Result<()> {
    let mut written = 0;
    if index == 0 {
        let passwd =
            b"root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001::/app:/sbin/nologin\n";
        tar.append_data(
            &mut header(passwd.len() as u64, 0o644),
            "etc/passwd",
            &passwd[..],
        )?;
        let release = b"ID=debian\nVERSION_ID=\"12\"\n";
        tar.append_data(
            &mut header(release.len() as u64, 0o644),
            "etc/os-release",
            &release[..],
        )?;
        let status: String = (0..200)
            .map(|i| format!("Package: lib{i}\nStatus: install ok installed\nVersion: 1.{i}-1\n\n"))
            .collect();
        tar.append_data(
            &mut header(status.len() as u64, 0o644),
            "var/lib/dpkg/status",
            status.as_bytes(),
        )?;
    } else {
        // Waste for dive: the previous layer's first large file again, and a few deletions.
        append(
            tar,
            &format!("app/layer{}/blob-0.bin", index - 1),
            BIG,
            false,
            rng,
        )?;
        written += BIG;
        for n in 0..5 {
            let name = format!("app/layer{}/small/.wh.{n:04}.txt", index - 1);
            tar.append_data(&mut header(0, 0o644), name, io::empty())?;
        }
    }
    for n in 0..SMALL_FILES {
        let size = SMALL_MIN + rng.below(SMALL_MAX - SMALL_MIN);
        append(
            tar,
            &format!("app/layer{index}/small/{n:04}.txt"),
            size,
            true,
            rng,
        )?;
        written += size;
    }
    let mut blob = 0;
    while written < bytes {
        let size = BIG.min(bytes - written).max(1);
        append(
            tar,
            &format!("app/layer{index}/blob-{blob}.bin"),
            size,
            false,
            rng,
        )?;
        written += size;
        blob += 1;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let gzip = args.iter().any(|a| a == "--gzip");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(out) = positional.first() else {
        bail!("usage: gen_image OUT.tar [MiB] [LAYERS] [--gzip]");
    };
    let mib: u64 = positional
        .get(1)
        .map_or(Ok(520), |s| s.parse())
        .context("MiB")?;
    let layers: u64 = positional
        .get(2)
        .map_or(Ok(12), |s| s.parse())
        .context("LAYERS")?;
    let out = Path::new(out.as_str());
    let scratch = out.with_extension("layer.tmp");
    let mut outer = tar::Builder::new(BufWriter::with_capacity(1 << 20, File::create(out)?));
    let per_layer = mib * MIB / layers;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut names, mut diff_ids, mut history) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..layers {
        let file = BufWriter::with_capacity(1 << 20, File::create(&scratch)?);
        let diff_id = if gzip {
            let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            let mut tar = tar::Builder::new(Hashing {
                inner: encoder,
                hasher: Sha256::new(),
            });
            write_layer(&mut tar, index, per_layer, &mut rng)?;
            let hashing = tar.into_inner()?;
            hashing.inner.finish()?.flush()?;
            hashing.hasher.finalize()
        } else {
            let mut tar = tar::Builder::new(Hashing {
                inner: file,
                hasher: Sha256::new(),
            });
            write_layer(&mut tar, index, per_layer, &mut rng)?;
            let mut hashing = tar.into_inner()?;
            hashing.flush()?;
            hashing.hasher.finalize()
        };
        let hex: String = diff_id.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("layer{index}/layer.tar");
        let len = std::fs::metadata(&scratch)?.len();
        outer.append_data(&mut header(len, 0o644), &name, File::open(&scratch)?)?;
        names.push(name);
        diff_ids.push(format!("sha256:{hex}"));
        history.push(serde_json::json!({"created_by": format!("COPY layer{index} /app/layer{index} # buildkit")}));
    }
    std::fs::remove_file(&scratch)?;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "10001:10001", "ExposedPorts": {"5000/tcp": {}}, "Entrypoint": ["/app/run"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))?;
    let config_name = format!(
        "{}.json",
        Sha256::digest(&config)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    outer.append_data(
        &mut header(config.len() as u64, 0o644),
        &config_name,
        config.as_slice(),
    )?;
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["bench/image:1.0"],
        "Layers": names,
    }]))?;
    outer.append_data(
        &mut header(manifest.len() as u64, 0o644),
        "manifest.json",
        manifest.as_slice(),
    )?;
    outer.into_inner()?.flush()?;
    Ok(())
}
