//! `deploycheck demo`: the reference service on a real local database, for trying the API.

use std::hash::{BuildHasher as _, RandomState};
use std::io::Write as _;
use std::net::SocketAddr;

use devdb::{MongoServer, Role, User};

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

/// The reference service on a local database, both owned by this process.
pub struct Stack {
    /// The database; `stop` and `start_again` restart it on the same storage and port.
    pub server: MongoServer,
    pub url: String,
    pub backend: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), app::ServeError>>>,
}

impl Stack {
    /// Stops the service (draining in-flight requests), then the database.
    ///
    /// # Errors
    /// When the service failed while serving.
    pub async fn shutdown(mut self) -> Result<(), DemoError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Ok(result) = task.await
        {
            result?;
        }
        Ok(())
    }
}

/// Starts the database (with an app user and authentication on, as in Kubernetes, unless
/// `MONGODB_URI` names one) and the reference service on `addr`.
///
/// # Errors
/// When the database cannot be provisioned or started, or the address cannot be bound.
pub async fn start(addr: SocketAddr) -> Result<Stack, DemoError> {
    let password = format!(
        "demo-{:016x}",
        RandomState::new().hash_one(std::process::id())
    );
    let external = std::env::var("MONGODB_URI").is_ok_and(|u| !u.is_empty());
    eprintln!(
        "deploycheck: starting a MongoDB-wire server (the first run installs SecantusDB, ~1 min)"
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
    config.listen = addr;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| DemoError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| DemoError::Bind { addr, source })?;
    let backend = match server.backend() {
        devdb::Backend::External => "the server named by MONGODB_URI".to_string(),
        devdb::Backend::Mongod(_) => format!("mongod on 127.0.0.1:{} (auth on)", server.port()),
        devdb::Backend::Secantus(_) => {
            format!("SecantusDB on 127.0.0.1:{} (auth on)", server.port())
        }
    };
    let store = app::Store::new(&config)
        .await
        .map_err(app::ServeError::from)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app::serve(listener, app::AppState::new(store), &config, async {
            let _ = stopped.await;
        })
        .await
    });
    Ok(Stack {
        server,
        url: format!("http://{bound}"),
        backend,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Starts the stack, prints how to reach it, and serves until Ctrl-C or SIGTERM.
///
/// # Errors
/// When the database cannot be provisioned or started, or the port cannot be bound.
pub async fn run(listen: SocketAddr) -> Result<(), DemoError> {
    let stack = start(listen).await?;
    app::telemetry::init(app::config::LogFormat::Text);
    let url = &stack.url;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "database: {}, database {APP_DB}", stack.backend);
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
    app::shutdown_signal().await;
    stack.shutdown().await
}
