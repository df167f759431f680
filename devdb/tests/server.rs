//! The provisioned server really speaks the wire protocol, enforces auth, and keeps data
//! across a stop and restart on the same storage.

use devdb::{MongoServer, Role, User};
use mongodb::bson::{Document, doc};

/// The first document of the test's collection that `filter` matches, as `client` may read it.
async fn find_one(
    client: &mongodb::Client,
    filter: Document,
) -> mongodb::error::Result<Option<Document>> {
    client
        .database("appdb")
        .collection::<Document>("c")
        .find_one(filter)
        .await
}

#[tokio::test]
async fn data_survives_a_restart_and_auth_is_enforced() -> anyhow::Result<()> {
    let users = [User {
        name: "app".into(),
        password: "s3cret:/@x".into(),
        db: "appdb".into(),
        role: Role::ReadWrite,
    }];
    let mut server = MongoServer::managed(&users).await?;
    let good = server.uri_with_credentials("app", "s3cret:/@x", "appdb");
    let client = mongodb::Client::with_uri_str(&good).await?;
    let coll = client.database("appdb").collection::<Document>("c");
    coll.insert_one(doc! { "marker": 1 }).await?;

    let anonymous = mongodb::Client::with_uri_str(server.uri()).await?;
    let denied = find_one(&anonymous, doc! {}).await;
    assert!(denied.is_err(), "unauthenticated read must be refused");

    let wrong =
        mongodb::Client::with_uri_str(server.uri_with_credentials("app", "nope", "appdb")).await?;
    let refused = find_one(&wrong, doc! {}).await;
    assert!(refused.is_err(), "a wrong password must be refused");

    server.stop().await?;
    assert!(!server.is_running());
    server.start_again().await?;
    let after = mongodb::Client::with_uri_str(&good).await?;
    let found = find_one(&after, doc! { "marker": 1 }).await?;
    assert!(
        found.is_some(),
        "the document written before the restart is gone"
    );
    Ok(())
}

/// Not a test of its own: the body of the child process below, which starts the process-wide
/// server, prints where it keeps its data and exits without ever dropping it.
#[test]
#[ignore = "run only as the child of the_process_wide_server_leaves_no_storage_behind"]
fn child_starts_the_process_wide_server_and_exits() {
    let server = MongoServer::process_wide().expect("the process-wide server starts");
    let path = server.storage_path().expect("a managed server has storage");
    println!("STORAGE={}", path.display());
}

/// Every test binary's process-wide server lives in a `static` that is never dropped; its
/// storage must still go when the process does, or each test run leaves a directory in /tmp.
#[test]
fn the_process_wide_server_leaves_no_storage_behind() -> anyhow::Result<()> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "child_starts_the_process_wide_server_and_exits",
            "--ignored",
            "--nocapture",
        ])
        .env_remove("MONGODB_URI")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let storage = stdout
        .lines()
        .find_map(|line| line.strip_prefix("STORAGE="))
        .map(std::path::PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("the child printed no storage path: {stdout}"))?;
    // The watchdog notices the closed pipe at once but gives the server up to 10 s to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while storage.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !storage.exists(),
        "{} outlived the process that owned it",
        storage.display()
    );
    Ok(())
}
