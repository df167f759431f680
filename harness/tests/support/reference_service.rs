//! The reference service in-process on loopback, on the tests' real database (one database per
//! test binary, named with `prefix`). Shared by the tests that load or check it.

/// Starts it and returns its base URL; it runs until the test's runtime ends.
pub async fn reference_service(prefix: &str) -> String {
    let server = devdb::MongoServer::process_wide().unwrap();
    let db = format!("{prefix}_{}", std::process::id());
    let config = app::Config::from_lookup(|name| match name {
        "MONGODB_URI" => Some(server.uri()),
        "MONGODB_DATABASE" => Some(db.clone()),
        _ => None,
    })
    .unwrap();
    let store = app::Store::new(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = app::app(app::AppState::new(store), config.request_timeout);
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
