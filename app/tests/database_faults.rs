//! Authentication and outages against a server this test owns: wrong credentials make the app
//! not-ready (never crash), a stopped database gives 503s, and a restarted one is picked up
//! by itself with every acknowledged write still there.

mod support;

use std::time::Duration;

use devdb::{MongoServer, Role, User};
use serde_json::{Value, json};
use support::{TestApp, config, unique_db};

const PASSWORD: &str = "app-pa$$:w/rd@1";

async fn server_with_app_user(db: &str) -> MongoServer {
    MongoServer::managed(&[User {
        name: "app".into(),
        password: PASSWORD.into(),
        db: db.into(),
        role: Role::ReadWrite,
    }])
    .await
    .expect("an authenticated MongoDB-wire server")
}

fn app_config(server: &MongoServer, db: &str, password: &str) -> app::Config {
    config(&[
        ("MONGODB_HOST", "127.0.0.1"),
        ("MONGODB_PORT", &server.port().to_string()),
        ("MONGODB_USERNAME", "app"),
        ("MONGODB_PASSWORD", password),
        ("MONGODB_DATABASE", db),
        ("DB_TIMEOUT_MS", "1500"),
        ("READY_TIMEOUT_MS", "1500"),
    ])
}

#[tokio::test]
async fn right_credentials_work_and_wrong_ones_make_the_app_not_ready() {
    let db = unique_db("auth");
    let server = server_with_app_user(&db).await;

    let good = TestApp::start_with(app_config(&server, &db, PASSWORD)).await;
    good.wait_ready(Duration::from_secs(10)).await;
    assert_eq!(good.post_json(&json!({"who": "app"})).await.status(), 201);
    assert_eq!(good.all_documents().await, vec![json!({"who": "app"})]);

    let bad = TestApp::start_with(app_config(&server, &db, "wrong-password")).await;
    let health = bad.http.get(bad.url("/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness never depends on the database"
    );
    let ready = bad.http.get(bad.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap().contains("credentials"),
        "the reason names the cause: {body}"
    );
    let post = bad.post_json(&json!({"who": "intruder"})).await;
    assert_eq!(post.status(), 503);
    assert_eq!(post.headers()["retry-after"], "5");
    let text = post.text().await.unwrap();
    assert!(!text.contains("wrong-password"), "{text}");
    assert_eq!(good.all_documents().await, vec![json!({"who": "app"})]);
}

#[tokio::test]
async fn the_app_rides_out_a_database_restart_and_loses_nothing_acknowledged() {
    let db = unique_db("restart");
    let mut server = server_with_app_user(&db).await;
    let app = TestApp::start_with(app_config(&server, &db, PASSWORD)).await;
    app.wait_ready(Duration::from_secs(10)).await;

    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let response = app.post_json(&json!({ "n": n })).await;
        assert_eq!(response.status(), 201);
        acknowledged.push(json!({ "n": n }));
    }

    server.stop().await.unwrap();
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/ready").await.status(), 503);
    let post = app.post_json(&json!({"during": "outage"})).await;
    assert_eq!(
        post.status(),
        503,
        "a write the DB cannot take is refused, not faked"
    );
    assert_eq!(post.headers()["retry-after"], "5");
    let list = app.http.get(app.url("/data")).send().await.unwrap();
    assert_eq!(list.status(), 503);
    let body: Value = list.json().await.unwrap();
    assert_eq!(
        body["error"],
        "the database is unavailable, try again shortly"
    );

    server.start_again().await.unwrap();
    app.wait_ready(Duration::from_secs(30)).await;
    let response = app.post_json(&json!({"after": "restart"})).await;
    assert_eq!(response.status(), 201);
    acknowledged.push(json!({"after": "restart"}));
    assert_eq!(app.all_documents().await, acknowledged);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("db_errors_total{operation=\"insert\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/data\",status=\"503\""),
        "{metrics}"
    );
}
