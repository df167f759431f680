//! Rules over Dockerfiles: pinned bases, a non-root user, multi-stage builds, no baked-in secrets.

use std::path::Path;

use crate::findings::rule;
use crate::findings::{Finding, Rule, finding};
use crate::manifest::Dockerfile;

rule!(
    PINNED_BASE,
    "DF001",
    Error,
    "a base image without a tag or with `latest` makes the same Dockerfile build different images on different days",
    "pin the base image to a version tag (or a digest), e.g. `python:3.12-slim`"
);
rule!(
    NON_ROOT_USER,
    "DF002",
    Error,
    "an image that runs as root gives root in the container to anything that exploits the app",
    "add `USER <numeric uid>` (e.g. `USER 10001`) in the final stage"
);
rule!(
    MULTI_STAGE,
    "DF003",
    Warning,
    "compilers and build caches left in the runtime image make it large and widen its attack surface",
    "build in one stage and COPY --from it only the artefact into a slim final stage"
);
rule!(
    NO_SECRETS,
    "DF004",
    Error,
    "ENV and ARG values are stored in the image's history, readable by anyone who can pull it",
    "pass secrets at run time (Kubernetes Secret -> env) or with `RUN --mount=type=secret`"
);
rule!(
    DOCKERIGNORE,
    "DF005",
    Warning,
    "without .dockerignore the build context carries .git, local data and build output into the daemon (and maybe the image)",
    "add a .dockerignore next to the build context listing .git, target/ or node_modules/, local data and .env files"
);

pub const RULES: [Rule; 5] = [
    PINNED_BASE,
    NON_ROOT_USER,
    MULTI_STAGE,
    NO_SECRETS,
    DOCKERIGNORE,
];

/// An instruction with its (first) line number, continuation lines joined.
struct Instruction {
    line: u64,
    keyword: String,
    arguments: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending: Option<Instruction> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(current) = pending.as_mut() {
            let (body, continues) = continuation(line);
            current.arguments.push(' ');
            current.arguments.push_str(body);
            if !continues {
                out.extend(pending.take());
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let (body, continues) = continuation(rest.trim());
        let instruction = Instruction {
            line: index as u64 + 1,
            keyword: keyword.to_ascii_uppercase(),
            arguments: body.to_string(),
        };
        if continues {
            pending = Some(instruction);
        } else {
            out.push(instruction);
        }
    }
    out.extend(pending);
    out
}

fn continuation(line: &str) -> (&str, bool) {
    match line.strip_suffix('\\') {
        Some(body) => (body.trim_end(), true),
        None => (line, false),
    }
}

const BUILD_COMMANDS: [&str; 10] = [
    "cargo build",
    "go build",
    "mvn ",
    "gradle",
    "npm run build",
    "yarn build",
    "javac",
    "dotnet publish",
    "gcc ",
    "make",
];

/// Runs every Dockerfile rule.
pub fn check(dockerfile: &Dockerfile) -> Vec<Finding> {
    let origin = dockerfile.path.display().to_string();
    let object = origin.clone();
    let mut out = Vec::new();
    let push = |out: &mut Vec<Finding>, rule: &'static Rule, line: u64, message: String| {
        out.push(finding(rule, &origin, line, object.clone(), message));
    };
    let all = instructions(&dockerfile.text);
    let mut stage_names: Vec<String> = Vec::new();
    let mut stages = 0;
    let mut final_user: Option<(u64, String)> = None;
    let mut last_from_line = 1;
    for instruction in &all {
        match instruction.keyword.as_str() {
            "FROM" => {
                stages += 1;
                final_user = None;
                last_from_line = instruction.line;
                let words: Vec<&str> = instruction
                    .arguments
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let image = words.first().copied().unwrap_or_default();
                // `FROM build` may name an earlier stage rather than an image.
                let is_stage = stage_names.contains(&image.to_ascii_lowercase());
                if let Some(position) = words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
                    stage_names.extend(words.get(position + 1).map(|n| n.to_ascii_lowercase()));
                }
                if image == "scratch" || is_stage || image.starts_with('$') {
                    continue;
                }
                let last = image.rsplit('/').next().unwrap_or(image);
                let tag = last.split_once(':').map(|(_, t)| t);
                if !image.contains('@') && matches!(tag, None | Some("latest")) {
                    push(
                        &mut out,
                        &PINNED_BASE,
                        instruction.line,
                        format!(
                            "base image `{image}` {}",
                            if tag.is_none() {
                                "has no tag"
                            } else {
                                "uses `latest`"
                            }
                        ),
                    );
                }
            }
            "USER" => final_user = Some((instruction.line, instruction.arguments.clone())),
            "ENV" | "ARG" => {
                for (key, value) in assignments(&instruction.arguments, &instruction.keyword) {
                    let upper = key.to_ascii_uppercase();
                    let secret_name = [
                        "PASSWORD",
                        "PASSWD",
                        "SECRET",
                        "TOKEN",
                        "API_KEY",
                        "PRIVATE_KEY",
                    ]
                    .iter()
                    .any(|w| upper.contains(w));
                    let uri_with_password = value.contains("://")
                        && value
                            .split("://")
                            .nth(1)
                            .and_then(|r| r.split('/').next())
                            .and_then(|a| a.rsplit_once('@'))
                            .is_some_and(|(userinfo, _)| userinfo.contains(':'));
                    if (secret_name && !value.is_empty()) || uri_with_password {
                        push(
                            &mut out,
                            &NO_SECRETS,
                            instruction.line,
                            format!(
                                "{} {key} bakes a secret into the image",
                                instruction.keyword
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    match &final_user {
        None => push(
            &mut out,
            &NON_ROOT_USER,
            last_from_line,
            "the final stage has no USER, so the container runs as root".into(),
        ),
        Some((line, user)) => {
            let name = user.split(':').next().unwrap_or_default().trim();
            if name == "root" || name == "0" {
                push(
                    &mut out,
                    &NON_ROOT_USER,
                    *line,
                    format!("USER {user} is root"),
                );
            }
        }
    }
    if stages == 1
        && let Some(build) = all
            .iter()
            .find(|i| i.keyword == "RUN" && BUILD_COMMANDS.iter().any(|c| i.arguments.contains(c)))
    {
        push(
            &mut out,
            &MULTI_STAGE,
            build.line,
            "a single stage compiles the app, so the toolchain ships in the image".into(),
        );
    }
    if !has_dockerignore(&dockerfile.path) {
        push(
            &mut out,
            &DOCKERIGNORE,
            1,
            "no .dockerignore next to the Dockerfile or in the two folders above it".into(),
        );
    }
    out
}

/// `KEY=value` pairs of ENV/ARG, including the legacy `ENV KEY value` form.
fn assignments(arguments: &str, keyword: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = arguments.split_whitespace().collect();
    if keyword == "ENV" && words.len() >= 2 && !words[0].contains('=') {
        return vec![(words[0].to_string(), words[1..].join(" "))];
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.trim_matches('"').to_string()),
            None => (w.to_string(), String::new()),
        })
        .collect()
}

fn has_dockerignore(dockerfile: &Path) -> bool {
    let mut dir = dockerfile.parent();
    for _ in 0..3 {
        let Some(current) = dir else { return false };
        let current = if current.as_os_str().is_empty() {
            Path::new(".")
        } else {
            current
        };
        if current.join(".dockerignore").is_file()
            || dockerfile.file_name().is_some_and(|name| {
                current
                    .join(format!("{}.dockerignore", name.to_string_lossy()))
                    .is_file()
            })
        {
            return true;
        }
        dir = current.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<&'static str> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Dockerfile");
        std::fs::write(dir.path().join(".dockerignore"), "target\n").unwrap();
        check(&Dockerfile {
            path,
            text: text.into(),
        })
        .into_iter()
        .map(|f| f.rule)
        .collect()
    }

    #[test]
    fn a_good_multi_stage_file_is_clean() {
        let text = "FROM rust:1.95 AS build\nRUN cargo build --release\n\
                    FROM build AS test\nRUN cargo test\n\
                    FROM gcr.io/distroless/static:nonroot\nCOPY --from=build /a /a\nUSER 65532:65532\n";
        assert_eq!(ids(text), Vec::<&str>::new());
    }

    #[test]
    fn each_rule_fires() {
        assert_eq!(ids("FROM python\nUSER 1000\n"), ["DF001"]);
        assert_eq!(ids("FROM python:latest\nUSER 1000\n"), ["DF001"]);
        assert_eq!(ids("FROM python:3.12\n"), ["DF002"]);
        assert_eq!(ids("FROM python:3.12\nUSER root\n"), ["DF002"]);
        assert_eq!(
            ids("FROM golang:1.23\nRUN go build \\\n  -o app .\nUSER 1\n"),
            ["DF003"]
        );
        assert_eq!(
            ids("FROM python:3.12\nENV DB_PASSWORD=hunter2\nUSER 1\n"),
            ["DF004"]
        );
        assert_eq!(
            ids("FROM python:3.12\nENV MONGO_URI mongodb://u:p@db/\nUSER 1\n"),
            ["DF004"]
        );
        assert_eq!(
            ids("FROM python:3.12\nARG API_TOKEN\nUSER 1\n"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_missing_dockerignore_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        std::fs::create_dir_all(&nested).unwrap();
        let path = nested.join("Dockerfile");
        let found = check(&Dockerfile {
            path,
            text: "FROM a:1\nUSER 1\n".into(),
        });
        assert_eq!(found.iter().map(|f| f.rule).collect::<Vec<_>>(), ["DF005"]);
    }
}
