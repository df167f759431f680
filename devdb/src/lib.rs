//! A real MongoDB-wire server for tests and demos.
//!
//! Resolution order (DESIGN.md §6): `MONGODB_URI` if set, else `mongod` on `PATH`, else
//! SecantusDB installed with pip into a venv under the workspace's `target/` directory.
//! Servers this crate starts listen on a free loopback port, keep their data in a storage
//! directory that survives [`MongoServer::stop`] / [`MongoServer::start_again`], and die with
//! the process that started them even when it is killed (see [`WATCHDOG`]).

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use tokio::io::AsyncWriteExt as _;
use tokio::process::{Child, ChildStdin, Command};

/// SecantusDB version the venv is pinned to, so every machine tests against the same server.
pub const SECANTUS_VERSION: &str = "0.7.0b3";

/// How long a freshly started server may take to answer its first command.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// Errors from finding, provisioning, starting or administering a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no MongoDB-wire server available: MONGODB_URI is unset, `mongod` is not on PATH, and \
         SecantusDB could not be provisioned because `{python}` failed to run ({source}); \
         install Python 3 with venv support or set PYTHON"
    )]
    NoPython {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("provisioning SecantusDB into {venv}: `{step}` failed: {output}")]
    Provision {
        venv: PathBuf,
        step: String,
        output: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{server} on port {port} did not answer within {deadline:?}; last error: {last_error}; \
         server log ({log}):\n{log_tail}"
    )]
    Startup {
        server: &'static str,
        port: u16,
        deadline: Duration,
        last_error: String,
        log: PathBuf,
        log_tail: String,
    },
    #[error("{what} on the server at {endpoint}: {source}")]
    Driver {
        what: String,
        endpoint: String,
        #[source]
        source: Box<mongodb::error::Error>,
    },
    #[error("{0} is not possible on a server given by MONGODB_URI; use MongoServer::managed")]
    NotManaged(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A user to create before the server is (re)started with authentication on.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub password: String,
    /// The database the user is created in (its authentication source).
    pub db: String,
    pub role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `root` on `admin`.
    Root,
    /// `readWrite` on the user's own database only.
    ReadWrite,
}

/// Which program serves the wire protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A server somebody else runs, named by `MONGODB_URI`.
    External,
    Mongod(PathBuf),
    Secantus(PathBuf),
}

impl Backend {
    fn label(&self) -> &'static str {
        match self {
            Backend::External => "MONGODB_URI server",
            Backend::Mongod(_) => "mongod",
            Backend::Secantus(_) => "SecantusDB",
        }
    }
}

/// A running (or stopped, restartable) MongoDB-wire server.
pub struct MongoServer {
    backend: Backend,
    /// For managed servers: `mongodb://127.0.0.1:PORT`; for external ones the given URI.
    base_uri: String,
    port: u16,
    auth: bool,
    storage: Option<tempfile::TempDir>,
    process: Option<Running>,
}

struct Running {
    child: Child,
    /// Closing this pipe tells the watchdog to terminate the server.
    lifeline: Option<ChildStdin>,
}

/// Keeps a server from outliving the process that started it: the server runs as a child of
/// this small Python program, which terminates it when its stdin reaches EOF. The kernel
/// closes that pipe however our process ends (panic, SIGKILL, a test binary finishing while a
/// `static` still holds the server), so no test run leaks database servers. Unless `keep` was
/// written before the EOF (a deliberate [`MongoServer::stop`]), the storage directory goes
/// with the server: the process-wide server is never dropped, so nobody else would remove it.
const WATCHDOG: &str = r#"
import shutil, subprocess, sys, threading
storage, command = sys.argv[1], sys.argv[2:]
server = subprocess.Popen(command, stdin=subprocess.DEVNULL)
stopping, stopped = threading.Event(), threading.Event()
def stop_on_eof():
    keep = b"keep" in sys.stdin.buffer.read()
    stopping.set()
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if not keep:
        shutil.rmtree(storage, ignore_errors=True)
    stopped.set()
threading.Thread(target=stop_on_eof, daemon=True).start()
code = server.wait()
if stopping.is_set():
    stopped.wait(30)
sys.exit(code)
"#;

impl MongoServer {
    /// A server for tests that only need a database: honours `MONGODB_URI`, else starts one.
    ///
    /// # Errors
    /// When no server can be found, provisioned or started.
    pub async fn shared() -> Result<Self> {
        if let Some(uri) = std::env::var("MONGODB_URI").ok().filter(|u| !u.is_empty()) {
            return Ok(Self {
                backend: Backend::External,
                port: 0,
                base_uri: uri,
                auth: false,
                storage: None,
                process: None,
            });
        }
        Self::managed(&[]).await
    }

    /// One server for the whole process, started on first use: test binaries share it (each
    /// test uses its own database name) instead of paying a server start per test. It runs on a
    /// runtime of its own that lives as long as the process, because every `#[tokio::test]` has
    /// a runtime that ends with the test; the watchdog ends the server when the process exits.
    ///
    /// # Errors
    /// The start-up error, as text, on every call once the first start has failed.
    pub fn process_wide() -> Result<&'static MongoServer, String> {
        static SERVER: std::sync::OnceLock<Result<MongoServer, String>> =
            std::sync::OnceLock::new();
        SERVER
            .get_or_init(|| {
                std::thread::spawn(|| {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .map_err(|e| format!("building a runtime for the database: {e}"))?;
                    let server = runtime
                        .block_on(MongoServer::shared())
                        .map_err(|e| e.to_string());
                    // Dropping the runtime would orphan the child's pipes and reaper.
                    std::mem::forget(runtime);
                    server
                })
                .join()
                .unwrap_or_else(|_| Err("starting the database panicked".into()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A server this process owns (so it can be stopped and restarted on the same storage),
    /// never the one named by `MONGODB_URI`. With `users`, they are created first and the
    /// server is then restarted with authentication required.
    ///
    /// # Errors
    /// When no server binary can be found or provisioned, or it does not come up.
    pub async fn managed(users: &[User]) -> Result<Self> {
        let backend = find_backend().await?;
        let storage = tempfile::Builder::new()
            .prefix("devdb-")
            .tempdir()
            .map_err(io_err("creating a storage directory"))?;
        let port = free_port()?;
        let mut server = Self {
            backend,
            base_uri: format!("mongodb://127.0.0.1:{port}"),
            port,
            auth: false,
            storage: Some(storage),
            process: None,
        };
        server.start_again().await?;
        if !users.is_empty() {
            server.create_users(users).await?;
            server.stop().await?;
            server.auth = true;
            server.start_again().await?;
        }
        Ok(server)
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Loopback port of a managed server (0 for an external one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where a managed server keeps its data and `server.log`; `None` for an external one.
    pub fn storage_path(&self) -> Option<&Path> {
        self.storage.as_ref().map(tempfile::TempDir::path)
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some() || self.backend == Backend::External
    }

    /// Connection string without credentials.
    pub fn uri(&self) -> String {
        with_query(&self.base_uri, "directConnection=true")
    }

    /// Connection string that authenticates as `user` against `auth_source`.
    pub fn uri_with_credentials(&self, user: &str, password: &str, auth_source: &str) -> String {
        let without_scheme = self
            .base_uri
            .strip_prefix("mongodb://")
            .unwrap_or(&self.base_uri);
        let base = format!(
            "mongodb://{}:{}@{without_scheme}",
            urlencoding::encode(user),
            urlencoding::encode(password)
        );
        with_query(
            &base,
            &format!(
                "directConnection=true&authSource={}",
                urlencoding::encode(auth_source)
            ),
        )
    }

    /// Stops the server gracefully; its data stays on disk for [`Self::start_again`].
    ///
    /// # Errors
    /// On an external server, or when the process cannot be waited for.
    pub async fn stop(&mut self) -> Result<()> {
        if self.backend == Backend::External {
            return Err(Error::NotManaged("stopping the server"));
        }
        if let Some(mut running) = self.process.take() {
            if let Some(mut lifeline) = running.lifeline.take() {
                // Without it the watchdog would remove the data start_again needs.
                let _ = lifeline.write_all(b"keep").await;
            }
            // The watchdog waits 10 s for a graceful stop, then kills the server itself.
            let _ = tokio::time::timeout(Duration::from_secs(20), running.child.wait()).await;
        }
        wait_port_free(self.port).await;
        Ok(())
    }

    /// Starts a stopped managed server on the same port and storage.
    ///
    /// # Errors
    /// When the process cannot be spawned or does not answer before the deadline.
    pub async fn start_again(&mut self) -> Result<()> {
        let program = match &self.backend {
            Backend::External => return Err(Error::NotManaged("starting the server")),
            Backend::Mongod(p) | Backend::Secantus(p) => p.clone(),
        };
        if self.process.is_some() {
            return Ok(());
        }
        let storage = self
            .storage_path()
            .expect("managed servers have storage")
            .to_path_buf();
        let data_dir = storage.join("data");
        std::fs::create_dir_all(&data_dir).map_err(io_err("creating the data directory"))?;
        let port = self.port.to_string();
        let mut args: Vec<String> = match &self.backend {
            Backend::Mongod(_) => vec![
                "--bind_ip".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port,
                "--dbpath".into(),
                data_dir.display().to_string(),
            ],
            _ => vec![
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port,
                "--storage-path".into(),
                data_dir.display().to_string(),
                "--standalone".into(),
                "--log-level".into(),
                "WARNING".into(),
                "--cache-size".into(),
                "128M".into(),
            ],
        };
        if self.auth {
            args.push("--auth".into());
        }
        let log_path = storage.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(format!("opening {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("duplicating the log file"))?;
        let mut child = Command::new(python())
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&storage)
            .arg(&program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| Error::NoPython {
                python: python(),
                source,
            })?;
        let lifeline = child.stdin.take();
        self.process = Some(Running { child, lifeline });
        self.wait_until_answering(&log_path).await
    }

    async fn wait_until_answering(&mut self, log_path: &Path) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STARTUP_DEADLINE;
        let last_error = loop {
            if let Some(running) = self.process.as_mut()
                && let Ok(Some(status)) = running.child.try_wait()
            {
                self.process = None;
                break format!("the server exited with {status}");
            }
            let error = match ping(&self.uri()).await {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                break error;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Err(Error::Startup {
            server: self.backend.label(),
            port: self.port,
            deadline: STARTUP_DEADLINE,
            last_error,
            log: log_path.to_path_buf(),
            log_tail: tail(log_path, 30),
        })
    }

    async fn create_users(&self, users: &[User]) -> Result<()> {
        let client = client(&self.uri()).await?;
        for user in users {
            let role = match user.role {
                Role::Root => doc! { "role": "root", "db": "admin" },
                Role::ReadWrite => doc! { "role": "readWrite", "db": &user.db },
            };
            let command: Document = doc! {
                "createUser": &user.name,
                "pwd": &user.password,
                "roles": [role],
            };
            client
                .database(&user.db)
                .run_command(command)
                .await
                .map_err(|source| Error::Driver {
                    what: format!("creating user {} in {}", user.name, user.db),
                    endpoint: self.base_uri.clone(),
                    source: Box::new(source),
                })?;
        }
        client.shutdown().await;
        Ok(())
    }
}

impl Drop for MongoServer {
    /// Closing the lifeline is the whole shutdown: the watchdog then terminates the server and
    /// exits. Killing the watchdog instead would orphan the server it guards.
    fn drop(&mut self) {
        if let Some(mut running) = self.process.take() {
            drop(running.lifeline.take());
        }
    }
}

fn with_query(uri: &str, query: &str) -> String {
    let sep = if uri.contains('?') {
        '&'
    } else if uri.trim_start_matches("mongodb://").contains('/') {
        '?'
    } else {
        return format!("{uri}/?{query}");
    };
    format!("{uri}{sep}{query}")
}

async fn client(uri: &str) -> Result<mongodb::Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|source| Error::Driver {
            what: "parsing the connection string".into(),
            endpoint: "127.0.0.1".into(),
            source: Box::new(source),
        })?;
    options.server_selection_timeout = Some(Duration::from_millis(500));
    options.connect_timeout = Some(Duration::from_millis(500));
    mongodb::Client::with_options(options).map_err(|source| Error::Driver {
        what: "building a client".into(),
        endpoint: "127.0.0.1".into(),
        source: Box::new(source),
    })
}

async fn ping(uri: &str) -> Result<()> {
    let client = client(uri).await?;
    let result = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .map_err(|source| Error::Driver {
            what: "ping".into(),
            endpoint: "127.0.0.1".into(),
            source: Box::new(source),
        });
    client.shutdown().await;
    result.map(drop)
}

/// Reserves a loopback port by binding it and letting go; the tiny race with another process
/// is acceptable for test servers, which report a clear startup error if it is lost.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(io_err("finding a free loopback port"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(io_err("reading the reserved port"))
}

/// Waits (bounded) until nothing accepts on the port any more, so a restart can bind it.
async fn wait_port_free(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

async fn find_backend() -> Result<Backend> {
    if let Some(mongod) = which("mongod") {
        return Ok(Backend::Mongod(mongod));
    }
    let venv = venv_dir();
    tokio::task::spawn_blocking(move || provision_secantus(&venv))
        .await
        .expect("provisioning does not panic")
        .map(Backend::Secantus)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// `DEVDB_VENV` if set, else `<target dir>/devdb-venv`.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVDB_VENV") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("devdb-venv")
}

/// Installs SecantusDB into `venv` once; concurrent test binaries serialise on a file lock.
fn provision_secantus(venv: &Path) -> Result<PathBuf> {
    let server = venv.join("bin").join("secantusd-py");
    let marker = venv.join(format!(".secantus-{SECANTUS_VERSION}"));
    if marker.is_file() && server.is_file() {
        return Ok(server);
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    let lock_path = parent.join("devdb-venv.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(io_err(format!("creating {}", lock_path.display())))?;
    lock.lock()
        .map_err(io_err(format!("locking {}", lock_path.display())))?;
    if marker.is_file() && server.is_file() {
        return Ok(server);
    }
    eprintln!(
        "devdb: installing SecantusDB {SECANTUS_VERSION} into {} (once)",
        venv.display()
    );
    run_step(
        venv,
        std::process::Command::new(python())
            .args(["-m", "venv"])
            .arg(venv),
    )?;
    run_step(
        venv,
        std::process::Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("SecantusDB=={SECANTUS_VERSION}"),
        ]),
    )?;
    if !server.is_file() {
        return Err(Error::Provision {
            venv: venv.to_path_buf(),
            step: "locating secantusd-py".into(),
            output: format!("{} does not exist after installing", server.display()),
        });
    }
    let mut file =
        std::fs::File::create(&marker).map_err(io_err(format!("writing {}", marker.display())))?;
    let _ = writeln!(file, "{SECANTUS_VERSION}");
    Ok(server)
}

fn run_step(venv: &Path, command: &mut std::process::Command) -> Result<()> {
    let step = format!("{command:?}");
    let output = command.output().map_err(|source| Error::NoPython {
        python: python(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Provision {
        venv: venv.to_path_buf(),
        step,
        output: format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended_with_the_right_separator() {
        assert_eq!(
            with_query("mongodb://h:1", "a=b"),
            "mongodb://h:1/?a=b".to_string()
        );
        assert_eq!(
            with_query("mongodb://h:1/db", "a=b"),
            "mongodb://h:1/db?a=b"
        );
        assert_eq!(
            with_query("mongodb://h:1/?x=y", "a=b"),
            "mongodb://h:1/?x=y&a=b"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "1\n2\n3\n4\n").unwrap();
        assert_eq!(tail(&path, 2), "3\n4");
        assert_eq!(tail(&dir.path().join("missing"), 2), "");
    }
}
