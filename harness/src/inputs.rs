//! What kind of input a path is: a container image (a tar archive or an OCI layout), a
//! kustomize directory, a Dockerfile or a YAML manifest, told by name and first bytes.
//!
//! It sits below `manifest` (which loads manifests and Dockerfiles), `image` (which reads
//! images) and `lint`, so that loading can route an input without asking a checker.

use std::io::Read as _;
use std::path::Path;

/// Whether `path` looks like an image `lint` should hand to `image::check`: a tar archive (by
/// its first header, whatever its name) or an OCI layout directory.
pub fn looks_like_image(path: &Path) -> bool {
    if path.is_dir() {
        return path.join("oci-layout").is_file();
    }
    let mut head = [0u8; 512];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| is_tar_header(&head))
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

/// A YAML manifest file, by extension.
pub fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// A Dockerfile, by name: `Dockerfile`, `Dockerfile.*` or `*.Dockerfile`.
pub fn is_dockerfile(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n == "Dockerfile" || n.starts_with("Dockerfile.") || n.ends_with(".Dockerfile")
    })
}

/// A kustomize entry file, which is no manifest of its own.
pub fn is_kustomization_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        matches!(
            n,
            "kustomization.yaml" | "kustomization.yml" | "Kustomization"
        )
    })
}

/// A directory kustomize renders (it holds a kustomization file).
pub fn is_kustomization(dir: &Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|name| dir.join(name).is_file())
}
