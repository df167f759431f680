//! The image's file tree merged layer by layer as a container runtime merges it (whiteouts and
//! opaque directories applied), the per-layer counts, and dive's efficiency figures, computed
//! on the way so that no layer is read twice.
//!
//! dive's definitions (`filetree/efficiency.go`, `image/image.go`), reproduced exactly:
//! - every *leaf* node of each layer's own tree counts once for its path: a file, a symlink,
//!   an empty directory, a whiteout (`.wh.name` counts for `name`); opaque markers are skipped;
//! - a node's size is its tar header size, and a whiteout's is 0, or, when it deletes a
//!   directory, the sum of everything under that directory in the layers below;
//! - per path: `cumulative` = sum of its nodes' sizes, `minimum` = the smallest;
//!   efficiency = Σ minimum / Σ cumulative (1 when nothing has a size);
//! - wasted bytes = Σ cumulative over paths with two or more nodes, *every* copy included,
//!   the one still in the image too;
//! - a layer's size = Σ header sizes of its entries; user size = all layers but the first;
//!   user wasted percent = wasted bytes / user size.
//!
//! Next to them, each layer's own `wasted` is what a runtime really hides: bytes the layer
//! adds that a later layer overwrites or deletes (whiteouts, opaque directories too).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::layer::{EntryMeta, Kind};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// One path of the merged image.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// 0-based index of the layer that wrote it last.
    pub layer: usize,
    pub link: Option<String>,
}

/// What one layer did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LayerStats {
    /// Σ tar header sizes of its entries (dive's layer size).
    pub size_bytes: u64,
    pub entries: u64,
    /// Files (not directories) new to the image.
    pub added: u64,
    /// Files that replace one from a lower layer.
    pub modified: u64,
    /// Files of lower layers it deletes (whiteouts, opaque directories).
    pub removed: u64,
    /// Bytes it adds that later layers overwrite or delete.
    pub wasted_bytes: u64,
}

/// A path dive counts as inefficient: written (or deleted) in more than one layer.
#[derive(Clone, Debug, Serialize)]
pub struct Inefficiency {
    pub path: String,
    /// Nodes for this path across layers.
    pub count: u32,
    /// Σ sizes of those nodes: what dive lists as "wasted space".
    pub bytes: u64,
}

/// dive's figures, plus what a runtime really hides.
#[derive(Clone, Debug, Serialize)]
pub struct Efficiency {
    /// Σ minimum / Σ cumulative, in [0, 1].
    pub score: f64,
    pub wasted_bytes: u64,
    /// wasted bytes / user size, a ratio (0.2 = 20 %).
    pub user_wasted_percent: f64,
    pub size_bytes: u64,
    pub user_size_bytes: u64,
    /// Σ of the layers' own wasted bytes.
    pub hidden_bytes: u64,
    /// Inefficient paths, largest first (at most [`INEFFICIENT_KEPT`]).
    pub inefficient: Vec<Inefficiency>,
    pub inefficient_total: usize,
}

/// How many inefficient paths a report keeps.
pub const INEFFICIENT_KEPT: usize = 100;

#[derive(Clone, Copy, Debug)]
struct PathStat {
    cumulative: u64,
    minimum: u64,
    count: u32,
}

/// The merged tree and everything counted while building it.
#[derive(Debug, Default)]
pub struct Tree {
    pub files: BTreeMap<String, Node>,
    /// Content kept for some files of the merged tree (package databases, /etc/passwd).
    pub kept: BTreeMap<String, Vec<u8>>,
    pub layers: Vec<LayerStats>,
    dive: HashMap<String, PathStat>,
    pending: Vec<(EntryMeta, Option<Vec<u8>>)>,
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

impl Tree {
    pub fn begin_layer(&mut self) {
        self.layers.push(LayerStats::default());
    }

    /// Records one entry of the current layer, with the content to keep if any.
    pub fn add(&mut self, meta: EntryMeta, content: Option<Vec<u8>>) {
        if let Some(layer) = self.layers.last_mut() {
            layer.size_bytes += meta.size;
            layer.entries += 1;
        }
        self.pending.push((meta, content));
    }

    /// Applies the current layer: dive's counts against the layers below, then its deletions
    /// (which only ever hide lower layers), then its additions.
    pub fn end_layer(&mut self) {
        let layer = self.layers.len().saturating_sub(1);
        let pending = std::mem::take(&mut self.pending);
        self.count_for_dive(&pending);
        for (meta, _) in &pending {
            let (dir, name) = split(&meta.path);
            if name == OPAQUE {
                let prefix = if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/")
                };
                self.remove_under(&prefix, layer);
            } else if let Some(target) = name.strip_prefix(WHITEOUT) {
                let target = join(dir, target);
                if let Some(node) = self.files.remove(&target) {
                    self.account_removed(&target, &node, layer);
                }
                self.remove_under(&format!("{target}/"), layer);
            }
        }
        for (meta, content) in pending {
            if split(&meta.path).1.starts_with(WHITEOUT) {
                continue;
            }
            let new = Node {
                kind: meta.kind,
                size: meta.size,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                layer,
                link: meta.link,
            };
            match self.files.get(&meta.path).cloned() {
                Some(old) => {
                    if old.kind != Kind::Dir {
                        self.layers[old.layer].wasted_bytes += old.size;
                        self.kept.remove(&meta.path);
                    } else if new.kind != Kind::Dir {
                        // A file where a directory was: the directory's content goes.
                        self.remove_under(&format!("{}/", meta.path), layer);
                    }
                    if new.kind != Kind::Dir {
                        self.layers[layer].modified += 1;
                    }
                }
                None if new.kind != Kind::Dir => self.layers[layer].added += 1,
                None => {}
            }
            if let Some(content) = content {
                self.kept.insert(meta.path.clone(), content);
            }
            self.files.insert(meta.path, new);
        }
    }

    fn account_removed(&mut self, path: &str, node: &Node, by_layer: usize) {
        if node.kind != Kind::Dir {
            self.layers[node.layer].wasted_bytes += node.size;
            self.layers[by_layer].removed += 1;
        }
        self.kept.remove(path);
    }

    /// Removes every path starting with `prefix` (`""` is everything).
    fn remove_under(&mut self, prefix: &str, by_layer: usize) {
        let doomed: Vec<String> = self
            .files
            .range(prefix.to_string()..)
            .take_while(|(path, _)| path.starts_with(prefix))
            .map(|(path, _)| path.clone())
            .collect();
        for path in doomed {
            if let Some(node) = self.files.remove(&path) {
                self.account_removed(&path, &node, by_layer);
            }
        }
    }

    /// Σ sizes of a directory and everything under it, in the tree as it stands.
    fn subtree_bytes(&self, dir: &str) -> u64 {
        let prefix = format!("{dir}/");
        self.files.get(dir).map_or(0, |n| n.size)
            + self
                .files
                .range(prefix.clone()..)
                .take_while(|(path, _)| path.starts_with(&prefix))
                .map(|(_, node)| node.size)
                .sum::<u64>()
    }

    fn is_dir(&self, path: &str) -> bool {
        match self.files.get(path) {
            Some(node) => node.kind == Kind::Dir,
            None => {
                let prefix = format!("{path}/");
                self.files
                    .range(prefix.clone()..)
                    .next()
                    .is_some_and(|(p, _)| p.starts_with(&prefix))
            }
        }
    }

    /// dive's visit of one layer's tree: its leaves, by path, against the layers below.
    fn count_for_dive(&mut self, pending: &[(EntryMeta, Option<Vec<u8>>)]) {
        // Node name in the layer's own tree → size. Later entries for the same name replace
        // earlier ones, as dive's AddPath does; parents are created as size-0 nodes.
        let mut nodes: HashMap<String, u64> = HashMap::new();
        let mut parents: HashSet<String> = HashSet::new();
        for (meta, _) in pending {
            let (dir, name) = split(&meta.path);
            // dive never adds an opaque marker, but does create the directory holding it.
            let node = if name == OPAQUE {
                dir
            } else {
                meta.path.as_str()
            };
            if node.is_empty() {
                continue;
            }
            for ancestor in ancestors(node) {
                parents.insert(ancestor.to_string());
                nodes.entry(ancestor.to_string()).or_insert(0);
            }
            let size = if name == OPAQUE { 0 } else { meta.size };
            if name == OPAQUE {
                nodes.entry(node.to_string()).or_insert(0);
            } else {
                nodes.insert(node.to_string(), size);
            }
        }
        for (node, size) in nodes {
            if parents.contains(&node) {
                continue;
            }
            let (dir, name) = split(&node);
            let (path, size) = match name.strip_prefix(WHITEOUT) {
                Some(target) => {
                    let target = join(dir, target);
                    let size = if self.is_dir(&target) {
                        self.subtree_bytes(&target)
                    } else {
                        0
                    };
                    (target, size)
                }
                None => (node, size),
            };
            let stat = self.dive.entry(path).or_insert(PathStat {
                cumulative: 0,
                minimum: size,
                count: 0,
            });
            stat.cumulative += size;
            stat.minimum = stat.minimum.min(size);
            stat.count += 1;
        }
    }

    /// dive's figures for the layers read so far.
    pub fn efficiency(&self) -> Efficiency {
        let (mut minimum, mut cumulative, mut wasted) = (0u64, 0u64, 0u64);
        let mut inefficient = Vec::new();
        for (path, stat) in &self.dive {
            minimum += stat.minimum;
            cumulative += stat.cumulative;
            if stat.count >= 2 {
                wasted += stat.cumulative;
                inefficient.push(Inefficiency {
                    path: format!("/{path}"),
                    count: stat.count,
                    bytes: stat.cumulative,
                });
            }
        }
        inefficient.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
        let inefficient_total = inefficient.len();
        inefficient.truncate(INEFFICIENT_KEPT);
        let size_bytes: u64 = self.layers.iter().map(|l| l.size_bytes).sum();
        let user_size_bytes: u64 = self.layers.iter().skip(1).map(|l| l.size_bytes).sum();
        Efficiency {
            score: if cumulative == 0 {
                1.0
            } else {
                minimum as f64 / cumulative as f64
            },
            wasted_bytes: wasted,
            // dive divides by zero here (NaN, which passes every threshold); 0 says the same.
            user_wasted_percent: if user_size_bytes == 0 {
                0.0
            } else {
                wasted as f64 / user_size_bytes as f64
            },
            size_bytes,
            user_size_bytes,
            hidden_bytes: self.layers.iter().map(|l| l.wasted_bytes).sum(),
            inefficient,
            inefficient_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Kind, size: u64) -> EntryMeta {
        EntryMeta {
            path: path.into(),
            kind,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            link: None,
        }
    }

    fn file(path: &str, size: u64) -> EntryMeta {
        entry(path, Kind::File, size)
    }

    fn dir(path: &str) -> EntryMeta {
        entry(path, Kind::Dir, 0)
    }

    fn build(layers: Vec<Vec<EntryMeta>>) -> Tree {
        let mut tree = Tree::default();
        for layer in layers {
            tree.begin_layer();
            for meta in layer {
                tree.add(meta, None);
            }
            tree.end_layer();
        }
        tree
    }

    #[test]
    fn overwrite_and_file_whiteout_follow_dives_formulas() {
        let tree = build(vec![
            vec![
                dir("etc"),
                file("etc/passwd", 20),
                file("a", 100),
                file("b", 50),
            ],
            vec![file("a", 120), file(".wh.b", 0)],
        ]);
        let e = tree.efficiency();
        // /a: 100 + 120 (min 100); /b: 50 + 0 (min 0); /etc/passwd: 20.
        assert_eq!(e.wasted_bytes, 270);
        assert!((e.score - 120.0 / 290.0).abs() < 1e-12, "{}", e.score);
        assert_eq!(e.size_bytes, 290);
        assert_eq!(e.user_size_bytes, 120);
        assert!((e.user_wasted_percent - 2.25).abs() < 1e-12);
        assert_eq!(e.inefficient[0].path, "/a");
        assert_eq!(e.inefficient[0].count, 2);
        assert_eq!(e.inefficient[1].bytes, 50);
        // What a runtime hides: the first /a and /b, both from layer 1.
        assert_eq!(tree.layers[0].wasted_bytes, 150);
        assert_eq!(e.hidden_bytes, 150);
        assert_eq!(
            (
                tree.layers[1].added,
                tree.layers[1].modified,
                tree.layers[1].removed
            ),
            (0, 1, 1)
        );
        assert!(!tree.files.contains_key("b"));
        assert_eq!(tree.files["a"].size, 120);
    }

    #[test]
    fn a_deleted_directory_counts_once_with_its_whole_size_as_in_dive() {
        let tree = build(vec![
            vec![dir("cache"), file("cache/x", 30), file("cache/y", 70)],
            vec![file(".wh.cache", 0)],
        ]);
        let e = tree.efficiency();
        // dive: /cache was no leaf in layer 1, so the whiteout is its only node: not wasted.
        assert_eq!(e.wasted_bytes, 0);
        assert!((e.score - 1.0).abs() < 1e-12);
        // A runtime hides all 100 bytes, and the files are gone from the merged tree.
        assert_eq!(tree.layers[0].wasted_bytes, 100);
        assert_eq!(tree.layers[1].removed, 2);
        assert!(tree.files.keys().all(|p| !p.starts_with("cache")));
    }

    #[test]
    fn an_opaque_directory_hides_lower_content_but_not_its_own_layers() {
        let tree = build(vec![
            vec![dir("app"), file("app/old", 40), file("keep", 1)],
            vec![dir("app"), file("app/.wh..wh..opq", 0), file("app/new", 10)],
        ]);
        assert!(tree.files.contains_key("app/new"));
        assert!(!tree.files.contains_key("app/old"));
        assert_eq!(tree.layers[0].wasted_bytes, 40);
        assert_eq!(tree.layers[1].removed, 1);
        assert_eq!(tree.layers[1].added, 1);
        // dive ignores opaque markers: nothing here is counted twice.
        assert_eq!(tree.efficiency().wasted_bytes, 0);
    }

    #[test]
    fn kept_content_follows_overwrites_and_deletions() {
        let mut tree = Tree::default();
        tree.begin_layer();
        tree.add(file("etc/passwd", 3), Some(b"one".to_vec()));
        tree.add(file("var/lib/dpkg/status", 3), Some(b"pkg".to_vec()));
        tree.end_layer();
        tree.begin_layer();
        tree.add(file("etc/passwd", 3), Some(b"two".to_vec()));
        tree.add(file("var/lib/.wh.dpkg", 0), None);
        tree.end_layer();
        assert_eq!(tree.kept["etc/passwd"], b"two");
        assert!(!tree.kept.contains_key("var/lib/dpkg/status"));
    }

    #[test]
    fn an_image_with_nothing_repeated_is_fully_efficient() {
        let tree = build(vec![vec![file("a", 5)], vec![file("b", 5)]]);
        let e = tree.efficiency();
        assert_eq!(
            (e.score, e.wasted_bytes, e.user_wasted_percent),
            (1.0, 0, 0.0)
        );
        assert_eq!(build(vec![]).efficiency().score, 1.0);
    }
}
