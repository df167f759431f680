//! The MongoDB collection behind `/data`: every call bounded by a timeout, errors scrubbed.

use std::time::Duration;

use futures::{Stream, StreamExt as _};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};

use crate::config::{Config, scrub_secret};

/// Documents fetched per round trip while streaming `GET /data`: bounds memory per request
/// (the server's default later batches are up to 16 MiB each), while one round trip still
/// serves a list of up to 128 documents (measured: two round trips halved throughput).
const LIST_BATCH_SIZE: u32 = 128;

/// A database failure, already phrased without the password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the connection string was rejected by the driver: {0}")]
    InvalidUri(String),
    #[error("{operation} did not finish within {timeout:?}")]
    Timeout {
        operation: &'static str,
        timeout: Duration,
    },
    #[error("{operation} failed, {reason}: {message}")]
    Failed {
        operation: &'static str,
        /// A short cause a person can act on (for `/ready` and logs).
        reason: &'static str,
        message: String,
    },
}

impl StoreError {
    /// A short reason suitable for a readiness answer.
    pub fn reason(&self) -> String {
        match self {
            StoreError::InvalidUri(_) => "the connection string is invalid".into(),
            StoreError::Timeout { timeout, .. } => {
                format!(
                    "the database did not answer within {} ms",
                    timeout.as_millis()
                )
            }
            StoreError::Failed { reason, .. } => (*reason).into(),
        }
    }
}

/// Handle to the app's collection. Cheap to clone; the driver pools and reconnects itself.
#[derive(Clone)]
pub struct Store {
    client: Client,
    collection: Collection<Document>,
    password: Option<String>,
    db_timeout: Duration,
    ready_timeout: Duration,
}

impl Store {
    /// Builds the client without contacting the server, so the app starts while the DB is down.
    ///
    /// # Errors
    /// [`StoreError::InvalidUri`] when the driver rejects the connection string.
    pub async fn new(config: &Config) -> Result<Self, StoreError> {
        let scrub = |e: mongodb::error::Error| {
            StoreError::InvalidUri(scrub_secret(
                &e.to_string(),
                config.mongodb_password.as_deref(),
            ))
        };
        let mut options = ClientOptions::parse(&config.mongodb_uri)
            .await
            .map_err(scrub)?;
        options.app_name = Some("deploycheck-app".into());
        // Fail fast and answer 503 rather than letting a request wait out the driver's 30 s default.
        options.server_selection_timeout = Some(config.db_timeout.min(Duration::from_secs(3)));
        options.connect_timeout = Some(config.db_timeout.min(Duration::from_secs(3)));
        let client = Client::with_options(options).map_err(scrub)?;
        let collection = client
            .database(&config.database)
            .collection::<Document>(&config.collection);
        Ok(Self {
            client,
            collection,
            password: config.mongodb_password.clone(),
            db_timeout: config.db_timeout,
            ready_timeout: config.ready_timeout,
        })
    }

    /// Stores `document` under a fresh ObjectId and returns it.
    ///
    /// # Errors
    /// When the database does not acknowledge the write in time.
    pub async fn insert(&self, mut document: Document) -> Result<ObjectId, StoreError> {
        let id = ObjectId::new();
        document.insert("_id", id);
        self.bounded("insert", self.db_timeout, async {
            self.collection.insert_one(document).await.map(drop)
        })
        .await?;
        Ok(id)
    }

    /// Documents without `_id`, oldest first, fetched lazily in small batches.
    ///
    /// # Errors
    /// When the query cannot be started in time. Errors while streaming arrive in the stream.
    pub async fn list(
        &self,
        skip: u64,
        limit: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Document, StoreError>> + Send + 'static, StoreError> {
        let find = self
            .collection
            .find(doc! {})
            .projection(doc! { "_id": 0 })
            .sort(doc! { "_id": 1 })
            .skip(skip)
            .limit(limit.unwrap_or(0))
            .batch_size(LIST_BATCH_SIZE);
        let cursor = self
            .bounded("find", self.db_timeout, async { find.await })
            .await?;
        let this = self.clone();
        Ok(futures::stream::unfold(Some(cursor), move |cursor| {
            let this = this.clone();
            async move {
                let mut cursor = cursor?;
                match this
                    .bounded("reading the next batch", this.db_timeout, async {
                        cursor.next().await.transpose()
                    })
                    .await
                {
                    Ok(Some(document)) => Some((Ok(document), Some(cursor))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
        .boxed())
    }

    /// A cheap operation that needs valid credentials and read access to the app's collection.
    /// (A bare `ping` is answered even without credentials, so it proves nothing.)
    ///
    /// # Errors
    /// The reason the database cannot serve the app right now.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.bounded("readiness check", self.ready_timeout, async {
            self.collection
                .find_one(doc! {})
                .projection(doc! { "_id": 1 })
                .await
                .map(drop)
        })
        .await
    }

    /// Closes pooled connections; called once the server has drained.
    pub async fn shutdown(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.clone().shutdown()).await;
    }

    async fn bounded<T>(
        &self,
        operation: &'static str,
        timeout: Duration,
        call: impl Future<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(StoreError::Timeout { operation, timeout }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StoreError::Failed {
                operation,
                reason: classify(&e),
                message: scrub_secret(&e.to_string(), self.password.as_deref()),
            }),
        }
    }
}

/// Turns the driver's error into the cause an operator would look for first.
fn classify(error: &mongodb::error::Error) -> &'static str {
    match error.kind.as_ref() {
        ErrorKind::Authentication { .. } => "the database rejected the credentials",
        ErrorKind::ServerSelection { message, .. } if message.contains("uthentication") => {
            "the database rejected the credentials"
        }
        ErrorKind::ServerSelection { .. } => "the database is not reachable",
        ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } => {
            "the connection to the database failed"
        }
        ErrorKind::Command(command) if command.code == 13 || command.code == 18 => {
            "the database user is not authorized for this database"
        }
        _ => "the database returned an error",
    }
}
