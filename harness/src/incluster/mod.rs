//! Load from inside the cluster: worker pods of the harness image send the load, each reports
//! its latency histogram in its log, and the coordinator merges them exactly.
//!
//! One machine cannot load a fast app hard enough to move an HPA, and load that enters through
//! port-forwards pins the pods it found first; workers inside the cluster reach the app's
//! Service by name, as its real clients do, and reopen connections so kube-proxy spreads them
//! onto pods the HPA adds.

pub mod coordinator;
pub mod job;
pub mod run;
pub mod wire;
pub mod worker;
