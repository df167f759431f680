//! `deploycheck demo`: the reference service on a real local database, for trying the API.

use std::hash::{BuildHasher as _, RandomState};
use std::io::Write as _;
use std::net::SocketAddr;

use devdb::{MongoServer, Role, User};

use crate::cli::DemoArgs;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Database(#[from] devdb::Error),
    #[error("cannot listen on {addr}: {source} (pass --port 0 to take any free port)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the reference service failed: {0}")]
    Serve(#[from] app::ServeError),
    #[error("invalid demo configuration: {0}")]
    Config(#[from] app::config::ConfigError),
}

const APP_DB: &str = "appdb";
const APP_USER: &str = "app";

/// Starts the database (with authentication, as in Kubernetes) and the service, prints how to
/// reach them, and serves until Ctrl-C or SIGTERM.
///
/// # Errors
/// When the database cannot be provisioned or started, or the port cannot be bound.
pub async fn run(args: &DemoArgs) -> Result<(), DemoError> {
    let password = format!(
        "demo-{:016x}",
        RandomState::new().hash_one(std::process::id())
    );
    let external = std::env::var("MONGODB_URI").is_ok_and(|u| !u.is_empty());
    eprintln!(
        "deploycheck demo: starting a MongoDB-wire server (first run installs SecantusDB, ~1 min)"
    );
    let (server, vars) = if external {
        let server = MongoServer::shared().await?;
        let vars = vec![("MONGODB_URI".to_string(), server.uri())];
        (server, vars)
    } else {
        let server = MongoServer::managed(&[User {
            name: APP_USER.into(),
            password: password.clone(),
            db: APP_DB.into(),
            role: Role::ReadWrite,
        }])
        .await?;
        let vars = vec![
            ("MONGODB_HOST".to_string(), "127.0.0.1".to_string()),
            ("MONGODB_PORT".to_string(), server.port().to_string()),
            ("MONGODB_USERNAME".to_string(), APP_USER.to_string()),
            ("MONGODB_PASSWORD".to_string(), password),
            ("MONGODB_DATABASE".to_string(), APP_DB.to_string()),
        ];
        (server, vars)
    };
    let mut config = app::Config::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok().filter(|_| name == "LOG_FORMAT"))
    })?;
    config.listen = SocketAddr::new(args.bind, args.port);
    app::telemetry::init(config.log_format);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| DemoError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| DemoError::Bind {
        addr: config.listen,
        source,
    })?;
    let backend = match server.backend() {
        devdb::Backend::External => "the server named by MONGODB_URI".to_string(),
        devdb::Backend::Mongod(_) => format!("mongod on 127.0.0.1:{} (auth on)", server.port()),
        devdb::Backend::Secantus(_) => {
            format!("SecantusDB on 127.0.0.1:{} (auth on)", server.port())
        }
    };
    let url = format!("http://{addr}");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "database: {backend}, database {APP_DB}");
    let _ = writeln!(out, "service:  {url}");
    let _ = writeln!(out, "try:      curl {url}/");
    let _ = writeln!(
        out,
        "          curl -X POST -H 'Content-Type: application/json' -d '{{\"name\":\"demo\"}}' {url}/data"
    );
    let _ = writeln!(out, "          curl {url}/data");
    let _ = writeln!(out, "stop:     Ctrl-C");
    let _ = out.flush();
    drop(out);

    let store = app::Store::new(&config)
        .await
        .map_err(app::ServeError::from)?;
    app::serve(
        listener,
        app::AppState::new(store),
        &config,
        app::shutdown_signal(),
    )
    .await?;
    drop(server);
    Ok(())
}
