//! The Secret and ConfigMap reference rules (DC080, DC081) on whole stacks: each broken fixture
//! gives exactly its finding, at the line to fix, and the reference manifests in `k8s/` give
//! none, overlay by overlay or linted together as the README's `deploycheck lint k8s/` does.

#[path = "support/lint_cases.rs"]
mod lint_cases;

use std::path::{Path, PathBuf};

use deploycheck::findings::{Finding, Severity};
use deploycheck::profile::Profile;
use deploycheck::{lint, manifest};

fn lint(paths: &[PathBuf], profile: &str) -> Vec<Finding> {
    let inputs = manifest::load(paths).expect("manifests load");
    lint::run(&inputs, &Profile::built_in(profile).unwrap())
}

/// (rule, severity, line, message) of the DC08x findings of the broken fixture `what`.
fn reference_findings(what: &str) -> Vec<(&'static str, Severity, u64, String)> {
    let dir = lint_cases::correct_stack();
    lint_cases::case(what).apply(dir.path());
    lint(&[dir.path().to_path_buf()], "flask-mongo")
        .into_iter()
        .filter(|f| f.rule.starts_with("DC08"))
        .map(|f| {
            assert_eq!(
                f.origin,
                dir.path().join("stack.yaml").display().to_string()
            );
            (f.rule, f.severity, f.line, f.message)
        })
        .collect()
}

/// The real-cluster run `missing-secret-key`: pods waited in CreateContainerConfigError on
/// "couldn't find key mongodb-password in Secret mongodb-secret".
#[test]
fn a_key_the_secret_does_not_define_is_an_error_at_the_reference() {
    assert_eq!(
        reference_findings("app reads a key its Secret does not define"),
        [(
            "DC080",
            Severity::Error,
            29,
            "container `web` env MONGODB_PASSWORD reads secretKeyRef password: Secret mongodb \
             defines root-password, root-username, username"
                .to_string()
        )]
    );
}

#[test]
fn an_env_from_secret_the_manifests_lack_is_a_warning() {
    assert_eq!(
        reference_findings("envFrom names a Secret the manifests do not define"),
        [(
            "DC081",
            Severity::Warning,
            24,
            "container `web` envFrom reads Secret web-env (secretRef), which is not in these \
             manifests; they define Secret mongodb"
                .to_string()
        )]
    );
}

#[test]
fn a_volume_config_map_the_manifests_lack_is_a_warning() {
    assert_eq!(
        reference_findings("a volume names a ConfigMap the manifests do not define"),
        [(
            "DC081",
            Severity::Warning,
            // good/stack.yaml line 127, below the 7-line ConfigMap the case adds above it.
            134,
            "volume `init` reads ConfigMap mongodb-init-scripts (configMap), which is not in \
             these manifests; they define ConfigMap mongodb-init"
                .to_string()
        )]
    );
}

#[test]
fn the_hint_says_the_secret_must_exist_before_the_pods_start() {
    let rule = lint::catalogue()
        .into_iter()
        .find(|r| r.id == "DC081")
        .expect("DC081 is in the catalogue");
    assert!(
        rule.hint.contains("must exist before the pods start"),
        "{}",
        rule.hint
    );
}

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s")
}

/// dev generates its Secret and base its ConfigMap (hash-suffixed names, references rewritten);
/// preprod and prod leave the Secret to a secret store. Linting all of `k8s/` at once must not
/// hold one overlay's references against another's objects.
#[test]
fn the_reference_manifests_raise_no_reference_finding() {
    let mut inputs: Vec<Vec<PathBuf>> =
        ["base", "overlays/dev", "overlays/preprod", "overlays/prod"]
            .iter()
            .map(|overlay| vec![k8s_dir().join(overlay)])
            .collect();
    inputs.push(vec![k8s_dir()]);
    for paths in inputs {
        let findings: Vec<String> = lint(&paths, "reference")
            .into_iter()
            .filter(|f| f.rule.starts_with("DC08"))
            .map(|f| format!("{} {}:{} {}", f.rule, f.origin, f.line, f.message))
            .collect();
        assert!(findings.is_empty(), "{paths:?}: {findings:#?}");
    }
}
