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
