//! The house stays layered: every module of the harness uses only modules below it
//! (docs/architecture.md lists the layers), and no two files inside one module, nor inside the
//! reference app, import each other in a circle. Read from the sources' `crate::` and
//! `super::` paths, test code left out (tests may reach for fakes and fixtures anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The harness's top-level modules, bottom layer first. A module may use modules of lower
/// layers only; a new module is added to the layer its imports put it in.
const LAYERS: &[&[&str]] = &[
    // Leaves: no other module of ours.
    &[
        "exit",
        "unique_marker",
        "quantity",
        "imageref",
        "timestamp",
        "yaml",
        "rawhttp",
        "http",
        "strategy",
        "exposition",
        "promql",
        "spelling",
    ],
    // What every checker shares: findings, the profile, what an input on disk is.
    &["findings", "profile", "inputs"],
    // What is read: manifests from disk, the cluster through kube.
    &["manifest", "cluster"],
    // Checkers and drivers over one input each.
    &[
        "lint",
        "image",
        "api",
        "load",
        "forward",
        "blockers",
        "preflight",
        "hpa_cpu",
        "metrics",
    ],
    &["probe", "local"],
    &["incluster"],
    &["scenario"],
    &["diagnose"],
    &["check"],
    &["report", "demo"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The source without comments and without `#[cfg(test)]` items (a test module is the rest of
/// its file by the house's convention; a single test item is skipped to its closing brace).
fn production_code(source: &str) -> String {
    let mut code = String::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the item that follows: count braces until it closes.
            let mut depth = 0i32;
            let mut opened = false;
            for next in lines.by_ref() {
                let next = strip_comment(next);
                depth += next.matches('{').count() as i32 - next.matches('}').count() as i32;
                opened |= next.contains('{');
                if (opened && depth <= 0) || (!opened && next.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        code.push_str(strip_comment(line));
        code.push('\n');
    }
    code
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(at) if !line[..at].contains('"') => &line[..at],
        _ => line,
    }
}

/// The identifiers that follow `prefix` (`crate::`, `super::`), including those in a braced
/// list right after it (`crate::{a, b::c}`).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices(prefix) {
        // `super::super::x` is handled by the caller as the parent's parent; skip it here.
        let before = &code[..at];
        if prefix == "super::" && before.ends_with("super::") {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            for item in list[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() && name != "super" {
                names.insert(name);
            }
        }
    }
    names
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `cluster` for `src/cluster/kube/pods.rs`, `lib` for `src/lib.rs`.
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

/// The files of modules declared `#[cfg(test)] mod x;` (the scripted cluster, the test
/// helpers): test code, built only for tests, like a `#[cfg(test)]` item inside a file.
fn test_only_files(src: &Path) -> BTreeSet<PathBuf> {
    let mut roots = Vec::new();
    for file in rust_files(src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line != "#[cfg(test)]" {
                continue;
            }
            let Some(declared) = lines.next() else { break };
            let Some(name) = declared
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ")
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            // `x.rs` and `x/` sit beside `mod.rs` and `lib.rs`, and under `y/` for `y.rs`.
            let stem = file.file_stem().unwrap();
            let dir = if stem == "mod" || stem == "lib" {
                file.parent().unwrap().to_path_buf()
            } else {
                file.with_extension("")
            };
            roots.push(dir.join(format!("{name}.rs")));
            roots.push(dir.join(name));
        }
    }
    rust_files(src)
        .into_iter()
        .filter(|file| roots.iter().any(|root| file.starts_with(root)))
        .collect()
}

fn harness_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let src = harness_src();
    let mut upward = Vec::new();
    let mut unknown = BTreeSet::new();
    let test_only = test_only_files(&src);
    assert!(
        test_only.contains(&src.join("cluster/fake/mod.rs"))
            && test_only.contains(&src.join("testing.rs")),
        "the scripted cluster and the test helpers are test code: {test_only:?}"
    );
    for file in rust_files(&src) {
        let module = top_module(&src, &file);
        if matches!(module.as_str(), "lib" | "main") || test_only.contains(&file) {
            continue;
        }
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        let Some(own) = layer_of(&module) else {
            unknown.insert(module);
            continue;
        };
        for used in names_after(&code, "crate::") {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => upward.push(format!(
                    "{} ({module}) uses {used}",
                    file.strip_prefix(&src).unwrap().display()
                )),
                None => {
                    unknown.insert(used);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (add each to the layer its imports put it in): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that go sideways or up:\n{}",
        upward.join("\n")
    );
}

/// The files of one module directory and which of them each one uses, through `super::x`,
/// `crate::module::x`, or `crate::x` for a crate root.
fn file_graph(dir: &Path, crate_path: Option<&str>) -> BTreeMap<String, BTreeSet<String>> {
    let files: BTreeMap<String, PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().to_string(), p))
        .filter(|(name, _)| !matches!(name.as_str(), "mod" | "lib" | "main"))
        .collect();
    let mut graph = BTreeMap::new();
    for (name, path) in &files {
        let code = production_code(&std::fs::read_to_string(path).unwrap());
        let mut used = names_after(&code, "super::");
        match crate_path {
            Some(prefix) => used.extend(names_after(&code, &format!("crate::{prefix}::"))),
            None => used.extend(names_after(&code, "crate::")),
        }
        let used: BTreeSet<String> = used
            .into_iter()
            .filter(|u| u != name && files.contains_key(u))
            .collect();
        graph.insert(name.clone(), used);
    }
    graph
}

/// A circle in `graph`, as the files along it, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_files_of_a_module_import_each_other_in_a_circle() {
    let src = harness_src();
    let mut dirs = vec![(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src"),
        None,
    )];
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            dirs.push((path, Some(name)));
        }
    }
    let mut circles = Vec::new();
    for (dir, module) in &dirs {
        if let Some(found) = circle(&file_graph(dir, module.as_deref())) {
            circles.push(format!("{}: {}", dir.display(), found.join(" -> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

/// The checker itself: an upward import and a circle are found where they are.
#[test]
fn the_checks_see_imports_and_circles() {
    let code = production_code(
        "use crate::{cluster, profile::Profile};\n// crate::cli\nfn f() { crate::scenario::run(); }\n#[cfg(test)]\nmod tests {\n    use crate::cli;\n}\n",
    );
    assert_eq!(
        names_after(&code, "crate::"),
        ["cluster", "profile", "scenario"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        circle(&graph),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
    let mut acyclic = graph.clone();
    acyclic.insert("c".into(), BTreeSet::new());
    assert_eq!(circle(&acyclic), None);
    assert!(layer_of("diagnose") > layer_of("scenario"));
}
