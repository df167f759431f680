//! `@cluster` steps (built with `--features e2e` only): one deployment per test run, shared by
//! every scenario, and deleted when the run ends. A scenario the harness skipped (a remote
//! context, say) fails here: cucumber has no run-time skip, and a gate must never count a
//! skip as a pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use cucumber::{given, then};
use deploycheck::api::Verdict;
use deploycheck::check::{self, CheckReport, Keep};
use deploycheck::cluster::{self, Cluster as _, KubeCluster};
use deploycheck::forward::Forwarder;
use deploycheck::profile::Profile;
use deploycheck::scenario::{self, ScenarioOutcome, Target};
use tokio::sync::{Mutex, OnceCell};

use super::DeployWorld;

struct Session {
    target: Target<KubeCluster>,
    created: bool,
    deploy: ScenarioOutcome,
    app: Forwarder,
    database: Forwarder,
    outcomes: Mutex<Vec<ScenarioOutcome>>,
    /// Its namespace was cleaned up already (a variant removed after its scenario).
    finished: std::sync::atomic::AtomicBool,
}

/// The overlay every `@cluster` scenario uses unless it names a variant.
const DEV: &str = "dev";

/// One deployment per overlay, made by the first scenario that needs it.
type Sessions = BTreeMap<String, &'static OnceCell<Result<Session, String>>>;
static SESSIONS: std::sync::Mutex<Sessions> = std::sync::Mutex::new(BTreeMap::new());

async fn start(variant: &str) -> Result<Session, String> {
    let context = std::env::var("DEPLOYCHECK_CONTEXT").ok();
    let (client, context) = cluster::connect(context.as_deref())
        .await
        .map_err(|e| format!("`cargo test --features e2e` needs a cluster: {e}"))?;
    let cluster = Arc::new(KubeCluster::new(client, context));
    let overlay = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/overlays")
        .join(variant);
    // A variant's profile lies next to its overlay (the reference where there is none).
    let profile = Profile::resolve(None, &overlay).map_err(|e| e.to_string())?;
    // DEPLOYCHECK_NAMESPACE is a running dev stack; the variants always get their own.
    let existing = std::env::var("DEPLOYCHECK_NAMESPACE")
        .ok()
        .filter(|_| variant == DEV);
    let manifests = match &existing {
        Some(_) => None,
        None => {
            let mut manifests = check::load_manifests(&overlay).map_err(|e| e.to_string())?;
            if variant != DEV {
                // Every variant builds on dev's NodePort 30500, which dev's namespace may hold
                // in this same run: the API server picks free ones (`--node-ports auto`).
                deploycheck::preflight::clear_node_ports(&mut manifests);
            }
            Some(manifests)
        }
    };
    let namespace = existing
        .clone()
        .unwrap_or_else(cluster::throwaway_namespace_name);
    check::preflight(&*cluster, &namespace, &profile, manifests.is_some())
        .await
        .map_err(|e| format!("`cargo test --features e2e` needs a cluster: {e}"))?;
    if manifests.is_some() {
        cluster
            .create_namespace(&namespace)
            .await
            .map_err(|e| e.to_string())?;
    }
    let destructive = cluster::safety::decide(
        cluster.context(),
        std::env::var_os("DEPLOYCHECK_ALLOW_DESTRUCTIVE").is_some(),
    );
    let target = Target::new(cluster.clone(), namespace, profile, destructive);
    let mut deploy = scenario::deploy::roll_out(&target, manifests.as_deref()).await;
    if deploy.verdict == Verdict::Fail {
        deploy.diagnostics = Some(deploycheck::diagnose::collect(&target).await.to_string());
    } else {
        // As `check` does: the scenarios' windows tile the run from here.
        scenario::ledger::Tally::start(&target).await;
    }
    let p = &target.profile;
    let forward =
        |service, port| Forwarder::start(cluster.clone(), &target.namespace, service, port);
    let forwarders = async {
        let app = forward(p.app.service.as_str(), p.app.port).await?;
        let database = forward(p.database.service.as_str(), p.database.port).await?;
        Ok::<_, deploycheck::cluster::ClusterError>((app, database))
    };
    let (app, database) = match forwarders.await {
        Ok(both) => both,
        Err(error) => {
            // Nothing will run, so nothing will clean up later: do it now.
            if existing.is_none() {
                let cleanup = check::clean_up(
                    &*cluster,
                    &target.namespace,
                    true,
                    Keep::Never,
                    true,
                    p.cluster.namespace_delete,
                    std::future::pending(),
                )
                .await;
                return Err(format!("cannot port-forward: {error}; {cleanup}"));
            }
            return Err(format!("cannot port-forward: {error}"));
        }
    };
    Ok(Session {
        target,
        created: existing.is_none(),
        deploy,
        app,
        database,
        outcomes: Mutex::default(),
        finished: std::sync::atomic::AtomicBool::new(false),
    })
}

async fn session(variant: &str) -> &'static Session {
    let cell = *SESSIONS
        .lock()
        .unwrap()
        .entry(variant.to_string())
        .or_insert_with(|| Box::leak(Box::new(OnceCell::new())));
    match cell.get_or_init(|| start(variant)).await {
        Ok(session) => session,
        Err(error) => panic!("{error}"),
    }
}

#[given("the stack is deployed in the cluster")]
async fn deployed(_world: &mut DeployWorld) {
    session(DEV).await;
}

#[given(expr = "the {string} variant is deployed in the cluster")]
async fn variant_deployed(world: &mut DeployWorld, variant: String) {
    session(&variant).await;
    world.variant = Some(variant);
}

#[then(expr = "the {string} scenario passes")]
async fn passes(world: &mut DeployWorld, id: String) {
    let session = session(world.variant.as_deref().unwrap_or(DEV)).await;
    let outcome = if id == "deploy" {
        session.deploy.clone()
    } else {
        check::run_judged(
            &session.target,
            &id,
            &session.app.base_url(),
            session.database.address,
        )
        .await
    };
    let text = deploycheck::report::cluster::line(&outcome);
    println!("{text}");
    let verdict = outcome.verdict;
    session.outcomes.lock().await.push(outcome);
    match verdict {
        // The requirement held; the advice is in the printed line, as `check` treats it.
        Verdict::Pass | Verdict::Warn => {}
        Verdict::Skip => panic!("skipped, which a gate counts as not passed:\n{text}"),
        Verdict::Fail => panic!("{text}"),
    }
}

/// A variant's stack goes as soon as its scenario is done: with the dev stack beside it, a
/// third stack would not fit a small node's CPU requests.
#[then(expr = "the {string} variant is removed from the cluster")]
async fn variant_removed(_world: &mut DeployWorld, variant: String) {
    finish_one(&variant, session(&variant).await).await;
}

/// After the run: reports under target/deploycheck-reports (or DEPLOYCHECK_REPORTS) and the
/// namespace deleted unless DEPLOYCHECK_KEEP says otherwise.
pub async fn finish() {
    let sessions: Vec<(String, &'static OnceCell<Result<Session, String>>)> = SESSIONS
        .lock()
        .unwrap()
        .iter()
        .map(|(variant, cell)| (variant.clone(), *cell))
        .collect();
    for (variant, cell) in sessions {
        if let Some(Ok(session)) = cell.get() {
            finish_one(&variant, session).await;
        }
    }
}

async fn finish_one(variant: &str, session: &Session) {
    if session
        .finished
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    let scenarios = session.outcomes.lock().await.clone();
    let failed = scenarios
        .iter()
        .any(|s| !matches!(s.verdict, Verdict::Pass | Verdict::Warn));
    let keep = match std::env::var("DEPLOYCHECK_KEEP").as_deref() {
        Ok("always") => Keep::Always,
        Ok("on-failure") => Keep::OnFailure,
        _ => Keep::Never,
    };
    let cluster = &*session.target.cluster;
    // Faults an interrupted scenario left in force (a namespace of ours goes as a whole).
    let undone = if session.created {
        Vec::new()
    } else {
        session.target.undo_pending().await
    };
    let cleanup = check::clean_up(
        cluster,
        &session.target.namespace,
        session.created,
        keep,
        failed,
        session.target.profile.cluster.namespace_delete,
        std::future::pending(),
    )
    .await;
    let cleanup = undone
        .into_iter()
        .chain([cleanup])
        .collect::<Vec<_>>()
        .join("; ");
    println!("cleanup ({variant}): {cleanup}");
    let report = CheckReport {
        context: cluster.context().to_string(),
        namespace: session.target.namespace.clone(),
        deployed: session.created,
        scenarios,
        cleanup,
        interrupted: false,
        seconds: 0.0,
        restarts: session.target.restarts.all(),
    };
    let dir = std::env::var_os("DEPLOYCHECK_REPORTS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/deploycheck-reports"),
        std::path::PathBuf::from,
    );
    let _ = std::fs::create_dir_all(&dir);
    let name = match variant {
        DEV => "cluster".to_string(),
        other => format!("cluster-{other}"),
    };
    let _ = std::fs::write(
        dir.join(format!("{name}.json")),
        deploycheck::report::cluster::json(&report),
    );
    let _ = std::fs::write(
        dir.join(format!("{name}.xml")),
        deploycheck::report::cluster::junit(&report),
    );
}
