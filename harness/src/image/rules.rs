//! The image rule catalogue (ids DI0xx, listed by `deploycheck image --rules`) and the checks
//! of the merged image: its user, what it ships (shells, package managers, compilers, caches,
//! setuid and world-writable files), what it exposes, its size, and the credentials found in
//! its layers, environment and history.

use std::collections::BTreeMap;

use super::ci::{CiOutcome, CiStatus};
use super::config::{History, ImageConfig};
use super::layer::Kind;
use super::osv::Advisory;
use super::secrets::{self, Secret};
use super::tree::{Efficiency, Node, Tree};
use crate::findings::{Finding, Rule, Severity};

/// Default bound on an image's size (dive's "image size": Σ layer contents), for `--max-size`.
pub const DEFAULT_MAX_SIZE: u64 = 300_000_000;

const MULTI_STAGE: &str =
    "build in a first stage and COPY only the artefact onto distroless/static or scratch";
const DIVE_HINT: &str = "delete what a step creates in that same RUN, do not COPY files a later step replaces, and order steps so that changed files land in one layer";

pub static RULES: &[Rule] = &[
    Rule {
        id: "DI001",
        severity: Severity::Error,
        why: "the image runs as root: a container breakout or a writable mount is then root's",
        hint: "add a user and `USER 10001:10001` (numeric) in the final stage; distroless images have `nonroot` (65532)",
    },
    Rule {
        id: "DI002",
        severity: Severity::Warning,
        why: "the image's user is a name, not a UID: Kubernetes cannot verify runAsNonRoot and refuses to start the pod",
        hint: "write the numeric UID: `USER 10001:10001` (or set securityContext.runAsUser)",
    },
    Rule {
        id: "DI003",
        severity: Severity::Warning,
        why: "a shell is in the final image: an intruder's first tool, and nothing a service needs at run time",
        hint: MULTI_STAGE,
    },
    Rule {
        id: "DI004",
        severity: Severity::Warning,
        why: "a package manager is in the final image: software can be installed into a running container",
        hint: MULTI_STAGE,
    },
    Rule {
        id: "DI010",
        severity: Severity::Error,
        why: "a private key is baked into a layer: anyone who can pull the image has it, even when a later layer deletes it",
        hint: "rotate the key; mount keys at run time (a Kubernetes Secret) and at build time with `RUN --mount=type=secret`",
    },
    Rule {
        id: "DI011",
        severity: Severity::Error,
        why: "a .env file is in a layer: it usually holds credentials, and the layer keeps it even after deletion",
        hint: "add `.env*` to .dockerignore; pass settings as environment from a Secret or ConfigMap",
    },
    Rule {
        id: "DI012",
        severity: Severity::Error,
        why: "a cloud key or API token is in a file of a layer",
        hint: "rotate it, keep it out of the build context (.dockerignore), and pass it at run time",
    },
    Rule {
        id: "DI013",
        severity: Severity::Error,
        why: "a credential is set with ENV: `docker inspect` shows it to anyone who has the image",
        hint: "set it at run time from a Secret (`env.valueFrom.secretKeyRef`), not with ENV in the Dockerfile",
    },
    Rule {
        id: "DI014",
        severity: Severity::Error,
        why: "a credential is in the build history: `docker history` shows build arguments and RUN lines",
        hint: "pass build secrets with `RUN --mount=type=secret` (BuildKit), never ARG or ENV; rotate the one that leaked",
    },
    Rule {
        id: "DI020",
        severity: Severity::Warning,
        why: "a compiler or build toolchain is in the final image: size and attack surface with no use at run time",
        hint: MULTI_STAGE,
    },
    Rule {
        id: "DI021",
        severity: Severity::Warning,
        why: "package manager caches are left in the image: bytes every pull pays for",
        hint: "clean in the same RUN: `apt-get install ... && rm -rf /var/lib/apt/lists/*`, `apk add --no-cache`, `pip install --no-cache-dir`, `npm ci && npm cache clean --force`",
    },
    Rule {
        id: "DI022",
        severity: Severity::Info,
        why: "Python bytecode caches (`__pycache__`) are in the image",
        hint: "set PYTHONDONTWRITEBYTECODE=1 while building, or keep them on purpose for a faster start",
    },
    Rule {
        id: "DI030",
        severity: Severity::Warning,
        why: "the image does not EXPOSE the profile's app port: readers and tools cannot tell which port the app serves",
        hint: "`EXPOSE <port>` in the final stage: the port the app listens on, that the Service and probes use",
    },
    Rule {
        id: "DI040",
        severity: Severity::Warning,
        why: "the image is larger than the bound: slower pulls, slower scale-up, more to patch",
        hint: "a slim or distroless base, a multi-stage build, and no build tools or caches in the final stage (bound: --max-size)",
    },
    Rule {
        id: "DI050",
        severity: Severity::Warning,
        why: "files with the setuid/setgid bit: with them a non-root user can become root",
        hint: "`RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +` in the final stage, and allowPrivilegeEscalation: false",
    },
    Rule {
        id: "DI051",
        severity: Severity::Warning,
        why: "world-writable files or directories outside /tmp: any process in the container may change them",
        hint: "`chmod o-w` them while building; keep writable state in /tmp or a mounted volume",
    },
    Rule {
        id: "DI070",
        severity: Severity::Error,
        why: "an installed package has a known vulnerability (from the --vuln-db advisories)",
        hint: "upgrade the package to the fixed version, or rebuild on a patched base image",
    },
    Rule {
        id: "DI090",
        severity: Severity::Error,
        why: "dive-ci lowestEfficiency: the image's efficiency is below the threshold",
        hint: DIVE_HINT,
    },
    Rule {
        id: "DI091",
        severity: Severity::Error,
        why: "dive-ci highestWastedBytes: more bytes are wasted than the threshold allows",
        hint: DIVE_HINT,
    },
    Rule {
        id: "DI092",
        severity: Severity::Error,
        why: "dive-ci highestUserWastedPercent: wasted bytes are too large a share of the image's own layers",
        hint: DIVE_HINT,
    },
];

fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .expect("every id used is in the catalogue")
}

/// A credential found in a layer while streaming it.
#[derive(Clone, Debug)]
pub struct SecretHit {
    /// 0-based layer index.
    pub layer: usize,
    pub path: String,
    pub what: SecretWhat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretWhat {
    Content(Secret),
    EnvFile,
}

/// What the checks read besides the merged tree.
pub struct Inputs<'a> {
    /// The image file, as every finding's origin.
    pub origin: &'a str,
    pub config: &'a ImageConfig,
    pub tree: &'a Tree,
    pub efficiency: &'a Efficiency,
    pub secrets: &'a [SecretHit],
    pub ci: &'a [CiOutcome],
    pub advisories: &'a [Advisory],
    pub app_port: u16,
    pub max_size: u64,
}

/// Every rule over one image. Findings come in catalogue order.
pub fn check(inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |id: &str, object: String, message: String| {
        out.push(crate::findings::finding(
            rule(id),
            inputs.origin,
            0,
            object,
            message,
        ));
    };
    user(inputs, &mut add);
    binaries(inputs.tree, &mut add);
    secrets(inputs, &mut add);
    leftovers(inputs.tree, &mut add);
    ports(inputs, &mut add);
    if inputs.efficiency.size_bytes > inputs.max_size {
        add(
            "DI040",
            "image".into(),
            format!(
                "its layers hold {}, over the bound of {}",
                human_bytes(inputs.efficiency.size_bytes),
                human_bytes(inputs.max_size)
            ),
        );
    }
    permissions(inputs.tree, &mut add);
    for advisory in inputs.advisories {
        let aliases = if advisory.aliases.is_empty() {
            String::new()
        } else {
            format!(" ({})", advisory.aliases.join(", "))
        };
        add(
            "DI070",
            format!("package {}", advisory.package),
            format!(
                "{}{aliases}: {} {} is affected{}{}: {}",
                advisory.id,
                advisory.package,
                advisory.installed,
                advisory
                    .fixed
                    .as_deref()
                    .map(|f| format!(", fixed in {f}"))
                    .unwrap_or_else(|| ", no fix released".into()),
                advisory
                    .severity
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default(),
                advisory.summary
            ),
        );
    }
    for outcome in inputs.ci {
        if outcome.status == CiStatus::Fail {
            add(
                outcome.id,
                format!("dive-ci {}", outcome.rule),
                outcome.message.clone(),
            );
        }
    }
    out
}

/// `1.5 MB`: decimal units, as dive and `docker images` print sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn user(inputs: &Inputs<'_>, add: &mut impl FnMut(&str, String, String)) {
    let user = inputs.config.user.trim();
    let name = user.split(':').next().unwrap_or("");
    let object = || format!("config User `{user}`");
    if name.is_empty() {
        add(
            "DI001",
            "config User".into(),
            "no USER is set, so the container runs as root (UID 0)".into(),
        );
        return;
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        if name.parse::<u64>() == Ok(0) {
            add("DI001", object(), "UID 0 is root".into());
        }
        return;
    }
    let uid = inputs
        .tree
        .kept
        .get("etc/passwd")
        .and_then(|passwd| uid_of(&String::from_utf8_lossy(passwd), name));
    match uid {
        Some(0) => add(
            "DI001",
            object(),
            format!("`{name}` is UID 0 in /etc/passwd: root"),
        ),
        Some(uid) => add(
            "DI002",
            object(),
            format!(
                "`{name}` is UID {uid} in /etc/passwd; write `USER {uid}` so it can be verified"
            ),
        ),
        None => add(
            "DI002",
            object(),
            format!("`{name}` is a name, and /etc/passwd in the image does not say its UID"),
        ),
    }
}

fn uid_of(passwd: &str, name: &str) -> Option<u64> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name)
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

const BIN_DIRS: [&str; 5] = ["bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin"];
const SHELLS: [&str; 7] = ["sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"];
const PACKAGE_MANAGERS: [&str; 10] = [
    "apt", "apt-get", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "pacman",
];

fn present(tree: &Tree, names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for dir in BIN_DIRS {
        for name in names {
            let path = format!("{dir}/{name}");
            if tree.files.get(&path).is_some_and(|n| n.kind != Kind::Dir) {
                found.push(format!("/{path}"));
            }
        }
    }
    found
}

fn list(paths: &[String], limit: usize) -> String {
    let mut text = paths
        .iter()
        .take(limit)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > limit {
        text.push_str(&format!(" and {} more", paths.len() - limit));
    }
    text
}

fn is_compiler(path: &str, node: &Node) -> bool {
    if node.kind == Kind::Dir {
        return false;
    }
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if !(dir == "bin" || dir.ends_with("/bin")) {
        return false;
    }
    matches!(
        name,
        "gcc"
            | "cc"
            | "g++"
            | "c++"
            | "clang"
            | "clang++"
            | "rustc"
            | "cargo"
            | "go"
            | "gccgo"
            | "javac"
    ) || name.starts_with("gcc-")
        || name.ends_with("-gcc")
}

fn binaries(tree: &Tree, add: &mut impl FnMut(&str, String, String)) {
    let shells = present(tree, &SHELLS);
    if !shells.is_empty() {
        add(
            "DI003",
            shells[0].clone(),
            format!("the final image has a shell: {}", list(&shells, 5)),
        );
    }
    let managers = present(tree, &PACKAGE_MANAGERS);
    if !managers.is_empty() {
        add(
            "DI004",
            managers[0].clone(),
            format!(
                "the final image has a package manager: {}",
                list(&managers, 5)
            ),
        );
    }
    let compilers: Vec<String> = tree
        .files
        .iter()
        .filter(|(path, node)| is_compiler(path, node))
        .map(|(path, _)| format!("/{path}"))
        .collect();
    if !compilers.is_empty() {
        add(
            "DI020",
            compilers[0].clone(),
            format!("build tools in the final image: {}", list(&compilers, 5)),
        );
    }
}

fn secrets(inputs: &Inputs<'_>, add: &mut impl FnMut(&str, String, String)) {
    for hit in inputs.secrets {
        let still = inputs
            .tree
            .files
            .get(&hit.path)
            .is_some_and(|n| n.layer == hit.layer);
        let where_ = if still {
            format!("layer {}, still in the final image", hit.layer + 1)
        } else {
            format!(
                "layer {}; a later layer hides it, but layer {}'s blob still carries it",
                hit.layer + 1,
                hit.layer + 1
            )
        };
        let (id, what) = match hit.what {
            SecretWhat::Content(Secret::PrivateKey) => ("DI010", "a private key".to_string()),
            SecretWhat::Content(secret) => ("DI012", secret.describe().to_string()),
            SecretWhat::EnvFile => ("DI011", "a .env file".to_string()),
        };
        add(id, format!("/{}", hit.path), format!("{what} ({where_})"));
    }
    for entry in &inputs.config.env {
        if let Some(reason) = secrets::env_secret(entry) {
            let name = entry.split('=').next().unwrap_or(entry);
            add("DI013", format!("config Env {name}"), reason);
        }
    }
    history(&inputs.config.history, &inputs.config.env, add);
}

fn history(history: &[History], env: &[String], add: &mut impl FnMut(&str, String, String)) {
    for (index, step) in history.iter().enumerate() {
        let command = super::config::clean_command(&step.created_by);
        // An ENV line still in the config is DI013's already.
        if let Some(assignment) = command.strip_prefix("ENV ")
            && env
                .iter()
                .any(|e| assignment.trim().starts_with(e.as_str()))
        {
            continue;
        }
        let found = secrets::history_secrets(&step.created_by);
        if !found.is_empty() {
            let instruction = command.split_whitespace().next().unwrap_or("step");
            add(
                "DI014",
                format!("history step {} ({instruction})", index + 1),
                format!("the step records {}", found.join(", ")),
            );
        }
    }
}

/// Whether a path of the merged image belongs to a cache.
type PathTest = fn(&str) -> bool;

/// Caches by where they live: (label, path test).
const CACHES: [(&str, PathTest); 9] = [
    ("apt package lists", |p| {
        p.starts_with("var/lib/apt/lists/")
            && p != "var/lib/apt/lists/lock"
            && !p.starts_with("var/lib/apt/lists/partial")
    }),
    ("apt archives", |p| {
        p.starts_with("var/cache/apt/") && (p.ends_with(".deb") || p.ends_with(".bin"))
    }),
    ("apk cache", |p| p.starts_with("var/cache/apk/")),
    ("yum/dnf cache", |p| {
        p.starts_with("var/cache/yum/") || p.starts_with("var/cache/dnf/")
    }),
    ("pip cache", |p| p.contains(".cache/pip/")),
    ("npm cache", |p| p.contains(".npm/_cacache/")),
    ("yarn cache", |p| p.contains(".cache/yarn/")),
    ("cargo registry", |p| p.contains(".cargo/registry/")),
    ("Go build and module caches", |p| {
        p.contains(".cache/go-build/") || p.contains("go/pkg/mod/cache/")
    }),
];

fn leftovers(tree: &Tree, add: &mut impl FnMut(&str, String, String)) {
    let mut caches: BTreeMap<usize, (u64, u64, String)> = BTreeMap::new();
    let mut pycache = (0u64, 0u64);
    for (path, node) in &tree.files {
        if node.kind != Kind::File {
            continue;
        }
        if let Some(index) = CACHES.iter().position(|(_, test)| test(path)) {
            let entry = caches.entry(index).or_insert((0, 0, path.clone()));
            entry.0 += 1;
            entry.1 += node.size;
        } else if path.contains("__pycache__/") {
            pycache.0 += 1;
            pycache.1 += node.size;
        }
    }
    for (index, (files, bytes, first)) in caches {
        add(
            "DI021",
            format!("/{first}"),
            format!(
                "{}: {files} file(s), {}",
                CACHES[index].0,
                human_bytes(bytes)
            ),
        );
    }
    if pycache.0 > 0 {
        add(
            "DI022",
            "__pycache__".into(),
            format!("{} .pyc file(s), {}", pycache.0, human_bytes(pycache.1)),
        );
    }
}

fn ports(inputs: &Inputs<'_>, add: &mut impl FnMut(&str, String, String)) {
    let port = inputs.app_port.to_string();
    let exposed = &inputs.config.exposed_ports;
    let serves = exposed
        .iter()
        .any(|p| p == &port || p == &format!("{port}/tcp"));
    if serves {
        return;
    }
    let message = if exposed.is_empty() {
        format!("it EXPOSEs no port; the profile's app serves {port}")
    } else {
        format!(
            "it EXPOSEs {}, not the profile's app port {port}",
            exposed.join(", ")
        )
    };
    add("DI030", "config ExposedPorts".into(), message);
}

fn world_writable_allowed(path: &str) -> bool {
    ["tmp", "var/tmp", "dev", "run/lock", "var/lock"]
        .iter()
        .any(|dir| path == *dir || path.starts_with(&format!("{dir}/")))
}

fn permissions(tree: &Tree, add: &mut impl FnMut(&str, String, String)) {
    let mut special = Vec::new();
    let mut writable = Vec::new();
    for (path, node) in &tree.files {
        if node.kind == Kind::File && node.mode & 0o6000 != 0 {
            let bits = match node.mode & 0o6000 {
                0o6000 => "setuid+setgid",
                0o4000 => "setuid",
                _ => "setgid",
            };
            special.push(format!("/{path} ({bits})"));
        }
        // A symlink's mode is always 0777 and means nothing.
        if matches!(node.kind, Kind::File | Kind::Dir)
            && node.mode & 0o002 != 0
            && !world_writable_allowed(path)
        {
            writable.push(format!("/{path}"));
        }
    }
    if !special.is_empty() {
        add(
            "DI050",
            special[0].split(' ').next().unwrap_or("").to_string(),
            format!("{} file(s): {}", special.len(), list(&special, 8)),
        );
    }
    if !writable.is_empty() {
        add(
            "DI051",
            writable[0].clone(),
            format!("{} path(s): {}", writable.len(), list(&writable, 8)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::EntryMeta;

    fn tree(entries: &[(&str, Kind, u32)], kept: &[(&str, &str)]) -> Tree {
        let mut tree = Tree::default();
        tree.begin_layer();
        for (path, kind, mode) in entries {
            let meta = EntryMeta {
                path: path.to_string(),
                kind: *kind,
                size: 10,
                mode: *mode,
                uid: 0,
                gid: 0,
                link: None,
            };
            let content = kept
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, c)| c.as_bytes().to_vec());
            tree.add(meta, content);
        }
        tree.end_layer();
        tree
    }

    /// The rules over `config` and `tree` alone: no secrets, dive-ci results or advisories.
    fn check_plain(config: &ImageConfig, tree: &Tree) -> Vec<Finding> {
        let efficiency = tree.efficiency();
        check(&Inputs {
            origin: "img.tar",
            config,
            tree,
            efficiency: &efficiency,
            secrets: &[],
            ci: &[],
            advisories: &[],
            app_port: 5000,
            max_size: DEFAULT_MAX_SIZE,
        })
    }

    fn ids(config: &ImageConfig, tree: &Tree) -> Vec<&'static str> {
        check_plain(config, tree).iter().map(|f| f.rule).collect()
    }

    fn config(user: &str) -> ImageConfig {
        ImageConfig {
            user: user.into(),
            exposed_ports: vec!["5000/tcp".into()],
            ..ImageConfig::default()
        }
    }

    #[test]
    fn catalogue_ids_are_unique_in_their_own_range() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        assert!(ids.iter().all(|id| id.starts_with("DI")));
        // `findings` reserves `DI` for images; lint's own test keeps lint to its ranges.
        assert_eq!(crate::findings::ids::IMAGE, "DI");
    }

    #[test]
    fn users_root_by_default_by_zero_by_name_and_numeric_ones_pass() {
        let passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/sbin/nologin\ntoor:x:0:0::/:/bin/sh\n";
        let t = tree(
            &[("etc/passwd", Kind::File, 0o644)],
            &[("etc/passwd", passwd)],
        );
        assert_eq!(ids(&config(""), &t), ["DI001"]);
        assert_eq!(ids(&config("0:0"), &t), ["DI001"]);
        assert_eq!(ids(&config("toor"), &t), ["DI001"]);
        assert_eq!(ids(&config("app"), &t), ["DI002"]);
        assert_eq!(ids(&config("ghost"), &t), ["DI002"]);
        assert!(ids(&config("1000:1000"), &t).is_empty());
    }

    #[test]
    fn shells_package_managers_compilers_caches_and_modes() {
        let t = tree(
            &[
                ("usr/bin/sh", Kind::Symlink, 0o777),
                ("usr/bin/apt-get", Kind::File, 0o755),
                ("usr/local/cargo/bin/rustc", Kind::File, 0o755),
                ("var/lib/apt/lists/deb.debian.org_dists", Kind::File, 0o644),
                ("var/lib/apt/lists/lock", Kind::File, 0o640),
                ("app/__pycache__/m.cpython-312.pyc", Kind::File, 0o644),
                ("usr/bin/passwd", Kind::File, 0o4755),
                ("app/data", Kind::Dir, 0o777),
                ("tmp", Kind::Dir, 0o1777),
            ],
            &[],
        );
        assert_eq!(
            ids(&config("1000"), &t),
            [
                "DI003", "DI004", "DI020", "DI021", "DI022", "DI050", "DI051"
            ]
        );
    }

    #[test]
    fn expose_and_size_are_measured_against_the_profile_and_the_bound() {
        let t = tree(&[("app", Kind::File, 0o755)], &[]);
        let mut c = config("1000");
        c.exposed_ports = vec!["8080/tcp".into()];
        assert_eq!(ids(&c, &t), ["DI030"]);
        c.exposed_ports.clear();
        assert_eq!(ids(&c, &t), ["DI030"]);
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn credentials_in_env_and_history_fire_without_their_values() {
        let mut c = config("1000");
        c.env = vec!["MONGO_PASSWORD=hunter22".into(), "PATH=/bin".into()];
        c.history = vec![
            History {
                created_by: "ENV MONGO_PASSWORD=hunter22".into(),
                empty_layer: true,
            },
            History {
                created_by: "RUN |1 GITHUB_TOKEN=abc123 /bin/sh -c make".into(),
                empty_layer: false,
            },
        ];
        let findings = check_plain(&c, &tree(&[], &[]));
        let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["DI013", "DI014"]);
        assert_eq!(findings[1].object, "history step 2 (RUN)");
        for finding in &findings {
            assert!(!finding.message.contains("hunter22"));
            assert!(!finding.message.contains("abc123"));
        }
    }
}
