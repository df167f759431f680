//! Rules over what pods read from Secrets and ConfigMaps: the object a reference names must be
//! there, and define every key read from it, or the pod never starts.

use std::collections::BTreeSet;

use super::k8s::{all_containers, container_name, pod_template};
use crate::findings::{Finding, Rule, Severity, finding};
use crate::manifest::Object;
use crate::yaml::Node;

pub const MISSING_KEY: Rule = Rule {
    id: "DC080",
    severity: Severity::Error,
    why: "a pod that reads a key its Secret or ConfigMap does not define never starts: it waits in CreateContainerConfigError (env) or ContainerCreating (volume items)",
    hint: "fix the key name in the reference, or add the key to the Secret or ConfigMap (`optional: true` on the reference if the app copes without it)",
};
pub const MISSING_OBJECT: Rule = Rule {
    id: "DC081",
    severity: Severity::Warning,
    why: "a pod that reads a Secret or ConfigMap that does not exist never starts; one the manifests do not contain may still be created out of band, so this is a warning",
    hint: "fix the name or add the object to the manifests; one created out of band (`kubectl create secret generic NAME --from-literal=KEY=...`, a secret store) must exist before the pods start; `optional: true` on the reference if the app copes without it",
};

pub const RULES: [Rule; 2] = [MISSING_KEY, MISSING_OBJECT];

/// Present in every namespace: the control plane publishes it (Kubernetes 1.21+).
const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Secret,
    ConfigMap,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Secret => "Secret",
            Source::ConfigMap => "ConfigMap",
        }
    }
}

/// A Secret or ConfigMap these manifests create, themselves or through a controller.
struct Provided<'a> {
    source: Source,
    name: &'a str,
    object: &'a Object,
    /// `None` when only the cluster knows them (a controller fills the object in).
    keys: Option<BTreeSet<&'a str>>,
}

/// One place where a pod reads a Secret or ConfigMap.
struct Reference<'a> {
    source: Source,
    name: &'a Node,
    /// The keys read; empty when the object is read whole (envFrom, a volume without items).
    keys: Vec<&'a Node>,
    optional: bool,
    /// Where, for messages: "container `web` env MONGODB_PASSWORD", "volume `creds`".
    site: String,
    /// The field that names the object: "secretKeyRef", "secretRef", "projected secret".
    field: &'static str,
    /// The field that names a key: "secretKeyRef", "secret item".
    key_field: &'static str,
}

/// Runs both rules. A reference is resolved against the objects of its own stack (one kustomize
/// render, or all plain files together) in a compatible namespace.
pub fn check(objects: &[Object]) -> Vec<Finding> {
    let provided = provided(objects);
    let mut out = Vec::new();
    for workload in objects {
        let Some((pod_spec, _)) = pod_template(workload) else {
            continue;
        };
        for reference in references(pod_spec) {
            check_reference(workload, &reference, &provided, &mut out);
        }
    }
    out
}

fn check_reference(
    workload: &Object,
    reference: &Reference,
    provided: &[Provided],
    out: &mut Vec<Finding>,
) {
    let Some(name) = reference.name.as_str().filter(|n| !n.is_empty()) else {
        return;
    };
    if reference.optional {
        return;
    }
    let kind = reference.source.as_str();
    let visible: Vec<&Provided> = provided
        .iter()
        .filter(|p| p.source == reference.source && visible_from(p.object, workload))
        .collect();
    let named: Vec<&Provided> = visible.iter().copied().filter(|p| p.name == name).collect();
    if named.is_empty() {
        let built_in = reference.source == Source::ConfigMap && name == ROOT_CA_CONFIG_MAP;
        // With no object of that kind in the manifests, they are all created out of band:
        // nothing to compare with.
        if built_in || visible.is_empty() {
            return;
        }
        let mut defined: Vec<&str> = visible.iter().map(|p| p.name).collect();
        defined.sort_unstable();
        defined.dedup();
        out.push(finding(
            &MISSING_OBJECT,
            &workload.origin,
            reference.name.line,
            workload.id(),
            format!(
                "{} reads {kind} {name} ({}), which is not in these manifests; they define {kind} {}",
                reference.site,
                reference.field,
                defined.join(", ")
            ),
        ));
        return;
    }
    let mut defined = BTreeSet::new();
    for p in &named {
        let Some(keys) = &p.keys else { return };
        defined.extend(keys.iter().copied());
    }
    for key_node in &reference.keys {
        let Some(key) = key_node.scalar_text() else {
            continue;
        };
        if defined.contains(key.as_str()) {
            continue;
        }
        let keys = if defined.is_empty() {
            "no keys".to_string()
        } else {
            defined.iter().copied().collect::<Vec<_>>().join(", ")
        };
        out.push(finding(
            &MISSING_KEY,
            &workload.origin,
            key_node.line,
            workload.id(),
            format!(
                "{} reads {} {key}: {kind} {name} defines {keys}",
                reference.site, reference.key_field
            ),
        ));
    }
}

/// Whether a pod of `workload` can read `object`: same stack, and the same namespace unless
/// one of them leaves it to `kubectl apply -n`.
fn visible_from(object: &Object, workload: &Object) -> bool {
    let same_namespace = match (&object.namespace, &workload.namespace) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    same_namespace && kustomize_render(&object.origin) == kustomize_render(&workload.origin)
}

/// The kustomize directory an object was rendered from (`manifest::load` names the origin
/// `DIR (kustomize)`); `None` for plain files and stdin, which are applied together.
fn kustomize_render(origin: &str) -> Option<&str> {
    origin.strip_suffix(" (kustomize)")
}

fn keys_of<'a>(node: &'a Node, maps: &[&[&str]]) -> BTreeSet<&'a str> {
    maps.iter()
        .filter_map(|path| node.path(path))
        .flat_map(Node::entries)
        .map(|(key, _)| key.as_str())
        .collect()
}

fn provided(objects: &[Object]) -> Vec<Provided<'_>> {
    objects
        .iter()
        .filter_map(|object| {
            let node = &object.node;
            let text = |path: &[&str]| node.path(path).and_then(Node::as_str);
            let (source, name, keys) = match object.kind.as_str() {
                "Secret" => {
                    // The token controller fills these in.
                    let keys = (text(&["type"]) != Some("kubernetes.io/service-account-token"))
                        .then(|| keys_of(node, &[&["data"], &["stringData"]]));
                    (Source::Secret, object.name.as_str(), keys)
                }
                "ConfigMap" => (
                    Source::ConfigMap,
                    object.name.as_str(),
                    Some(keys_of(node, &[&["data"], &["binaryData"]])),
                ),
                // Bitnami sealed-secrets: the controller writes a Secret of the same name.
                "SealedSecret" => (
                    Source::Secret,
                    object.name.as_str(),
                    Some(keys_of(
                        node,
                        &[&["spec", "encryptedData"], &["spec", "template", "data"]],
                    )),
                ),
                // External Secrets Operator: keys are known unless fetched whole or templated.
                "ExternalSecret" => {
                    let opaque = node.path(&["spec", "dataFrom"]).is_some()
                        || node.path(&["spec", "target", "template"]).is_some();
                    let keys = (!opaque).then(|| {
                        node.path(&["spec", "data"])
                            .map(Node::items)
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|d| d.get("secretKey").and_then(Node::as_str))
                            .collect()
                    });
                    let name = text(&["spec", "target", "name"]).unwrap_or(&object.name);
                    (Source::Secret, name, keys)
                }
                // cert-manager writes the certificate into spec.secretName.
                "Certificate" => (Source::Secret, text(&["spec", "secretName"])?, None),
                _ => return None,
            };
            Some(Provided {
                source,
                name,
                object,
                keys,
            })
        })
        .collect()
}

fn is_optional(reference: &Node) -> bool {
    reference.get("optional").and_then(Node::as_bool) == Some(true)
}

fn items<'a>(node: &'a Node, key: &str) -> impl Iterator<Item = &'a Node> {
    node.get(key).map(Node::items).unwrap_or_default().iter()
}

/// An env (`keyed`: it reads one key) or envFrom (the whole object) reference, where it names
/// its Secret or ConfigMap.
fn container_reference<'a>(
    reference: Option<&'a Node>,
    field: &'static str,
    source: Source,
    keyed: bool,
    site: String,
) -> Option<Reference<'a>> {
    let reference = reference?;
    let name = reference.get("name")?;
    let keys = if keyed {
        reference.get("key").into_iter().collect()
    } else {
        Vec::new()
    };
    Some(Reference {
        source,
        name,
        keys,
        optional: is_optional(reference),
        site,
        field,
        key_field: field,
    })
}

/// Every Secret and ConfigMap the pod reads: env, envFrom (containers and initContainers) and
/// volumes, projected ones included.
fn references(pod_spec: &Node) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    for container in all_containers(pod_spec) {
        let container_name = container_name(container);
        for env in items(container, "env") {
            let var = env.get("name").and_then(Node::as_str).unwrap_or("?");
            for (field, source) in [
                ("secretKeyRef", Source::Secret),
                ("configMapKeyRef", Source::ConfigMap),
            ] {
                let site = format!("container `{container_name}` env {var}");
                let reference = env.path(&["valueFrom", field]);
                out.extend(container_reference(reference, field, source, true, site));
            }
        }
        for from in items(container, "envFrom") {
            for (field, source) in [
                ("secretRef", Source::Secret),
                ("configMapRef", Source::ConfigMap),
            ] {
                let site = format!("container `{container_name}` envFrom");
                out.extend(container_reference(
                    from.get(field),
                    field,
                    source,
                    false,
                    site,
                ));
            }
        }
    }
    for volume in items(pod_spec, "volumes") {
        let site = format!(
            "volume `{}`",
            volume.get("name").and_then(Node::as_str).unwrap_or("?")
        );
        let mut sources = vec![
            (volume.get("secret"), Source::Secret, "secretName", "secret"),
            (
                volume.get("configMap"),
                Source::ConfigMap,
                "name",
                "configMap",
            ),
        ];
        for projected in volume
            .path(&["projected", "sources"])
            .map(Node::items)
            .unwrap_or_default()
        {
            sources.push((
                projected.get("secret"),
                Source::Secret,
                "name",
                "projected secret",
            ));
            sources.push((
                projected.get("configMap"),
                Source::ConfigMap,
                "name",
                "projected configMap",
            ));
        }
        for (reference, source, name_key, field) in sources {
            let Some(reference) = reference else { continue };
            let Some(name) = reference.get(name_key) else {
                continue;
            };
            out.push(Reference {
                source,
                name,
                keys: items(reference, "items")
                    .filter_map(|item| item.get("key"))
                    .collect(),
                optional: is_optional(reference),
                site: site.clone(),
                field,
                key_field: match field {
                    "secret" => "secret item",
                    "configMap" => "configMap item",
                    "projected secret" => "projected secret item",
                    _ => "projected configMap item",
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::k8s::tests::objects;

    /// (rule, line, message) of every finding on `text`.
    fn findings(text: &str) -> Vec<(&'static str, u64, String)> {
        check(&objects(text))
            .into_iter()
            .map(|f| (f.rule, f.line, f.message))
            .collect()
    }

    /// The stack of the real-cluster run (`missing-secret-key`): the app reads `mongodb-password`
    /// from a Secret that only has the root password and the user name.
    const FLASK_APP: &str = "\
kind: Deployment
metadata: {name: flask-app}
spec:
  template:
    spec:
      containers:
        - name: flask-app
          env:
            - name: MONGODB_USERNAME
              valueFrom:
                secretKeyRef: {name: mongodb-secret, key: mongodb-username}
            - name: MONGODB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: mongodb-secret
                  key: mongodb-password
";
    const MONGODB_SECRET: &str = "\
kind: Secret
metadata: {name: mongodb-secret}
data:
  mongodb-username: YXBw
stringData:
  mongodb-root-password: not-a-secret
";

    #[test]
    fn a_key_the_secret_does_not_define_is_an_error_at_the_key() {
        assert_eq!(
            findings(&format!("{FLASK_APP}---\n{MONGODB_SECRET}")),
            [(
                "DC080",
                16,
                "container `flask-app` env MONGODB_PASSWORD reads secretKeyRef mongodb-password: \
                 Secret mongodb-secret defines mongodb-root-password, mongodb-username"
                    .to_string()
            )]
        );
    }

    #[test]
    fn an_optional_key_reference_is_never_a_finding() {
        let app = FLASK_APP.replace(
            "                  key: mongodb-password\n",
            "                  key: mongodb-password\n                  optional: true\n",
        );
        assert_eq!(findings(&format!("{app}---\n{MONGODB_SECRET}")), []);
    }

    #[test]
    fn config_map_keys_come_from_data_and_binary_data() {
        let stack = "\
kind: CronJob
metadata: {name: backup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - name: wait
              env:
                - {name: A, valueFrom: {configMapKeyRef: {name: settings, key: a}}}
                - {name: B, valueFrom: {configMapKeyRef: {name: settings, key: b}}}
                - {name: C, valueFrom: {configMapKeyRef: {name: settings, key: c}}}
---
kind: ConfigMap
metadata: {name: settings}
data: {a: '1'}
binaryData: {b: AQ==}
";
        assert_eq!(
            findings(stack),
            [(
                "DC080",
                13,
                "container `wait` env C reads configMapKeyRef c: ConfigMap settings defines a, b"
                    .to_string()
            )]
        );
    }

    #[test]
    fn volume_items_name_keys_too() {
        let stack = "\
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c}]
  volumes:
    - name: creds
      secret:
        secretName: s
        items: [{key: tls.crt, path: cert}, {key: tls.pem, path: key}]
    - name: all
      projected:
        sources:
          - configMap: {name: m, items: [{key: x, path: x}]}
          - configMap: {name: m, items: [{key: y, path: y}], optional: true}
---
kind: Secret
metadata: {name: s}
data: {tls.crt: '', tls.key: ''}
---
kind: ConfigMap
metadata: {name: m}
";
        assert_eq!(
            findings(stack),
            [
                (
                    "DC080",
                    9,
                    "volume `creds` reads secret item tls.pem: Secret s defines tls.crt, tls.key"
                        .to_string()
                ),
                (
                    "DC080",
                    13,
                    "volume `all` reads projected configMap item x: ConfigMap m defines no keys"
                        .to_string()
                ),
            ]
        );
    }

    const WEB: &str = "\
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: web
          envFrom:
            - secretRef: {name: web-env}
            - configMapRef: {name: web-config, optional: true}
      volumes:
        - {name: ca, configMap: {name: kube-root-ca.crt}}
        - {name: tls, secret: {secretName: web-tls}}
";

    #[test]
    fn an_object_that_is_not_in_the_manifests_is_a_warning_at_its_name() {
        let stack = format!(
            "{WEB}---\nkind: Secret\nmetadata: {{name: web-tls}}\n---\nkind: ConfigMap\nmetadata: {{name: other}}\n"
        );
        assert_eq!(
            findings(&stack),
            [(
                "DC081",
                9,
                "container `web` envFrom reads Secret web-env (secretRef), which is not in these \
                 manifests; they define Secret web-tls"
                    .to_string()
            )]
        );
    }

    #[test]
    fn without_any_secret_in_the_manifests_they_are_all_created_out_of_band() {
        assert_eq!(findings(WEB), []);
    }

    #[test]
    fn objects_of_another_namespace_or_stack_do_not_count() {
        // A Secret in another namespace is no candidate, and an optional reference is never
        // a finding: one warning, for web-env.
        let other_namespace = format!(
            "{WEB}---\nkind: Secret\nmetadata: {{name: web-env, namespace: dev}}\n---\nkind: Secret\nmetadata: {{name: web-tls}}\n"
        );
        assert_eq!(
            findings(&other_namespace)
                .iter()
                .map(|(rule, line, _)| (*rule, *line))
                .collect::<Vec<_>>(),
            [("DC081", 9)]
        );
        // Another kustomize render's Secrets say nothing about this one's.
        let mut objects = objects(&format!(
            "{WEB}---\nkind: Secret\nmetadata: {{name: mongodb-credentials-k4b7k9mtmm}}\n"
        ));
        objects[0].origin = "k8s/overlays/prod (kustomize)".into();
        objects[1].origin = "k8s/overlays/dev (kustomize)".into();
        assert!(check(&objects).is_empty());
    }

    #[test]
    fn secrets_made_by_controllers_resolve() {
        let stack = format!(
            "{WEB}---
kind: SealedSecret
metadata: {{name: web-env}}
spec: {{encryptedData: {{TOKEN: AgB}}}}
---
kind: Certificate
metadata: {{name: web}}
spec: {{secretName: web-tls}}
---
kind: ExternalSecret
metadata: {{name: db}}
spec:
  target: {{name: db-credentials}}
  data: [{{secretKey: password, remoteRef: {{key: db}}}}]
---
kind: Deployment
metadata: {{name: api}}
spec:
  template:
    spec:
      containers:
        - name: api
          env:
            - {{name: P, valueFrom: {{secretKeyRef: {{name: db-credentials, key: password}}}}}}
            - {{name: U, valueFrom: {{secretKeyRef: {{name: db-credentials, key: username}}}}}}
            - {{name: T, valueFrom: {{secretKeyRef: {{name: sa-token, key: token}}}}}}
---
kind: Secret
metadata: {{name: sa-token}}
type: kubernetes.io/service-account-token
"
        );
        assert_eq!(
            findings(&stack),
            [(
                "DC080",
                38,
                "container `api` env U reads secretKeyRef username: Secret db-credentials defines password"
                    .to_string()
            )]
        );
    }
}
