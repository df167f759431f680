//! A local port that spreads connections over every ready pod behind a Service, following the
//! Service's ready endpoints as pods come and go. `kubectl port-forward svc/x` pins one pod, so
//! load through it can never raise the average CPU an HPA sees, and a prober through it dies
//! with that pod; this follows the endpoints the way kube-proxy would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, ClusterError};

/// How often the endpoint list is refreshed.
const REFRESH: Duration = Duration::from_millis(500);

/// A running forwarder; stops when dropped.
pub struct Forwarder {
    pub address: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    pods: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// Connections per pod, for the report (was the load spread?).
    connections: Mutex<BTreeMap<String, u64>>,
    /// Tunnels that could not be opened, with the reason.
    failures: Mutex<Vec<String>>,
}

impl Forwarder {
    /// Listens on 127.0.0.1 (a free port) and forwards to `port` of the pods behind `service`.
    ///
    /// # Errors
    /// The endpoints cannot be read, or no local port is free.
    pub async fn start<C: Cluster + Send + 'static>(
        cluster: Arc<C>,
        namespace: &str,
        service: &str,
        port: u16,
    ) -> Result<Self, ClusterError> {
        let shared = Arc::new(Shared::default());
        *shared.pods.lock().unwrap() = cluster.ready_endpoints(namespace, service).await?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ClusterError::Api {
                action: "binding a local port for port-forwarding".into(),
                namespace: namespace.into(),
                reason: e.to_string(),
            })?;
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");

        let refresher = {
            let (cluster, shared) = (cluster.clone(), shared.clone());
            let (namespace, service) = (namespace.to_string(), service.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH).await;
                    if let Ok(pods) = cluster.ready_endpoints(&namespace, &service).await {
                        *shared.pods.lock().unwrap() = pods;
                    }
                }
            })
        };
        let acceptor = {
            let shared = shared.clone();
            let namespace = namespace.to_string();
            tokio::spawn(async move {
                while let Ok((mut local, _)) = listener.accept().await {
                    let Some(pod) = shared.pick() else {
                        shared
                            .failures
                            .lock()
                            .unwrap()
                            .push("no ready endpoint".into());
                        continue;
                    };
                    let (cluster, shared, namespace) =
                        (cluster.clone(), shared.clone(), namespace.clone());
                    tokio::spawn(async move {
                        // A tunnel that cannot be opened (the pod just went away) is retried
                        // once on the next endpoint: no byte has been sent, and a Service
                        // would not have routed there either.
                        let mut pod = pod;
                        for attempt in 0..2 {
                            match cluster.tunnel(&namespace, &pod, port).await {
                                Ok(mut remote) => {
                                    *shared.connections.lock().unwrap().entry(pod).or_default() +=
                                        1;
                                    let _ = tokio::io::copy_bidirectional(&mut local, &mut remote)
                                        .await;
                                    return;
                                }
                                Err(error) => {
                                    shared.failures.lock().unwrap().push(error.to_string());
                                    match shared.pick() {
                                        Some(next) if attempt == 0 && next != pod => pod = next,
                                        _ => return,
                                    }
                                }
                            }
                        }
                    });
                }
            })
        };
        Ok(Self {
            address,
            shared,
            tasks: vec![refresher, acceptor],
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Pods currently receiving new connections.
    pub fn pods(&self) -> Vec<String> {
        self.shared.pods.lock().unwrap().clone()
    }

    /// Connections opened per pod so far.
    pub fn connections(&self) -> BTreeMap<String, u64> {
        self.shared.connections.lock().unwrap().clone()
    }

    /// Why tunnels failed, if any did.
    pub fn failures(&self) -> Vec<String> {
        self.shared.failures.lock().unwrap().clone()
    }
}

impl Shared {
    fn pick(&self) -> Option<String> {
        let pods = self.pods.lock().unwrap();
        if pods.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % pods.len();
        Some(pods[index].clone())
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::ScriptedCluster;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A loopback server that answers every connection with its own name.
    async fn named_server(name: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(name.as_bytes()).await;
            }
        });
        address
    }

    async fn read_from(address: SocketAddr) -> String {
        let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut text = String::new();
        socket.read_to_string(&mut text).await.unwrap();
        text
    }

    #[tokio::test]
    async fn a_tunnel_that_fails_is_retried_on_the_next_pod() {
        let b = named_server("b").await;
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            // app-a has no tunnel: it went away between the endpoint refresh and the connect.
            s.tunnels = [("app-b".into(), b)].into();
            s.endpoints.insert(
                "web".into(),
                [vec!["app-a".to_string(), "app-b".to_string()]].into(),
            );
        }));
        let forwarder = Forwarder::start(cluster, "ns", "web", 5000).await.unwrap();
        for _ in 0..4 {
            assert_eq!(read_from(forwarder.address).await, "b");
        }
        assert!(!forwarder.failures().is_empty());
    }

    #[tokio::test]
    async fn connections_go_round_robin_and_follow_new_endpoints() {
        let (a, b, c) = (
            named_server("a").await,
            named_server("b").await,
            named_server("c").await,
        );
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            s.tunnels = [
                ("app-a".into(), a),
                ("app-b".into(), b),
                ("app-c".into(), c),
            ]
            .into();
            s.endpoints.insert(
                "web".into(),
                [
                    vec!["app-a".to_string(), "app-b".to_string()],
                    vec!["app-a".into(), "app-b".into(), "app-c".into()],
                ]
                .into(),
            );
        }));
        let forwarder = Forwarder::start(cluster, "ns", "web", 5000).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(read_from(forwarder.address).await);
        }
        seen.sort();
        assert_eq!(seen, ["a", "a", "b", "b"]);
        // The next refresh sees the third pod (the HPA added one).
        tokio::time::sleep(REFRESH * 3).await;
        assert_eq!(forwarder.pods().len(), 3);
        let mut later = Vec::new();
        for _ in 0..3 {
            later.push(read_from(forwarder.address).await);
        }
        later.sort();
        assert_eq!(later, ["a", "b", "c"]);
        assert_eq!(forwarder.connections().len(), 3);
    }
}
