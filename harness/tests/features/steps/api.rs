//! Steps for `api.feature`: start the reference app, check its contract, read the verdicts.

use std::time::Duration;

use cucumber::{given, then, when};
use deploycheck::api::{Target, Verdict};
use deploycheck::profile::Profile;

use super::DeployWorld;

#[given("the reference app running on a real MongoDB-wire server")]
async fn reference_app(world: &mut DeployWorld) {
    let server = devdb::MongoServer::process_wide().expect("a MongoDB-wire server");
    let db = format!("features_{}_{}", std::process::id(), rand_suffix());
    let uri = server.uri();
    let config = app::Config::from_lookup(|name| match name {
        "MONGODB_URI" => Some(uri.clone()),
        "MONGODB_DATABASE" => Some(db.clone()),
        _ => None,
    })
    .expect("config");
    let store = app::Store::new(&config).await.expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    world.base_url = Some(format!("http://{}", listener.local_addr().expect("addr")));
    let router = app::app(app::AppState::new(store), config.request_timeout);
    world.server = Some(tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    }));
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

#[when(expr = "its API contract is checked with the {string} profile")]
async fn checked(world: &mut DeployWorld, profile: String) {
    let target = Target {
        base_url: world.base_url.clone().expect("an app first"),
        timeout: Duration::from_secs(10),
    };
    let profile = Profile::built_in(&profile).expect("built-in profile");
    world.outcomes = deploycheck::local::contract(&target, &profile)
        .await
        .expect("the app is reachable")
        .into_iter()
        .map(|o| (o.check, o))
        .collect();
}

#[then("every check passes")]
fn every_check_passes(world: &mut DeployWorld) {
    let not_passed: Vec<_> = world
        .outcomes
        .values()
        .filter(|o| o.verdict != Verdict::Pass)
        .collect();
    assert!(!world.outcomes.is_empty(), "no checks ran");
    assert!(not_passed.is_empty(), "{not_passed:#?}");
}

#[then(expr = "the check {string} passes")]
fn check_passes(world: &mut DeployWorld, check: String) {
    let outcome = world
        .outcomes
        .get(check.as_str())
        .unwrap_or_else(|| panic!("no check named {check:?}"));
    assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
}

#[then(expr = "the check {string} is skipped because {string}")]
fn check_skipped(world: &mut DeployWorld, check: String, reason: String) {
    let outcome = world
        .outcomes
        .get(check.as_str())
        .unwrap_or_else(|| panic!("no check named {check:?}"));
    assert_eq!(outcome.verdict, Verdict::Skip, "{outcome:#?}");
    assert!(outcome.detail.contains(&reason), "{outcome:#?}");
}
