//! The command line's shape: every subcommand's arguments, as clap parses them. The commands
//! themselves (`super`) turn these into the library's option structs.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::findings::Severity;
use crate::profile::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "deploycheck",
    version,
    about = "Deploys a web-app + MongoDB stack and proves that it really works",
    long_about = "Deploys a web-app + MongoDB stack and proves that it really works.\n\n\
                  Exit codes: 0 all checks passed (warnings allowed), 1 a check failed (or \
                  warned, with `check --strict`), 2 usage, configuration or I/O error."
)]
pub struct Cli {
    /// Target description: a built-in profile (reference, flask-mongo) or a TOML file.
    /// Default: ./deploycheck.toml if present, else `reference`.
    #[arg(
        long,
        global = true,
        value_name = "NAME|FILE",
        visible_alias = "config"
    )]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the reference service against a local MongoDB-wire server and print its URL.
    ///
    /// The database is the one the tests use: MONGODB_URI if set, else `mongod` on PATH,
    /// else SecantusDB installed into target/devdb-venv on first use. Runs until Ctrl-C.
    Demo(DemoArgs),
    /// Check Kubernetes manifests and Dockerfiles without a cluster.
    ///
    /// Reads files, directories (recursively *.yaml, *.yml, Dockerfile), kustomize
    /// directories (rendered with `kubectl kustomize`) and `-` for standard input.
    Lint(LintArgs),
    /// Check the HTTP contract of a running app: greeting, health, round trip, bad input.
    Api(ApiArgs),
    /// Load the app with Goose (loopback only), gate on SLOs, then verify every acknowledged write.
    Load(LoadArgs),
    /// Challenge part 1: contract, a short load, and a database restart the app must survive.
    ///
    /// With --url, checks your running app; add --db-restart "docker restart mongodb" to
    /// restart your database under it. Without --url, runs the demo stack and restarts its
    /// database itself.
    Local(LocalArgs),
    /// Challenge part 2: every cluster scenario against a kube context.
    ///
    /// With --deploy DIR, applies the manifests (server-side apply) into a fresh namespace
    /// `deploycheck-<random>` and deletes it at the end, also on failure and Ctrl-C. Without it,
    /// checks what already runs in --namespace and creates nothing but short-lived helper pods.
    /// Steps that delete or freeze something run only on local contexts (kind-*, k3d-*,
    /// minikube, docker-desktop, rancher-desktop, orbstack, colima) or with --allow-destructive.
    Check(CheckArgs),
    /// Check a container image file: a `docker save` / `podman save` tarball or an OCI layout.
    ///
    /// Reads the layers as files, streamed (no daemon, registry or network): dive's efficiency
    /// and its `.dive-ci` rules, hygiene and secret rules (see --rules), the installed packages,
    /// and with --vuln-db their known vulnerabilities from an offline OSV export.
    Image(ImageArgs),
    /// Check an app's metrics the way `promtool check metrics` does, and prove that its
    /// request counter counts.
    ///
    /// Scrapes --url, applies the exposition rules (see --rules), then watches the counter
    /// for an idle second, sends --requests GETs to --path and scrapes again: the counter must
    /// rise by the requests sent, beyond what the traffic seen while idle explains. With
    /// --file, checks a saved exposition by its text only.
    Metrics(MetricsArgs),
    /// Internal: what an in-cluster load worker pod runs. Prints protocol lines on stdout.
    #[command(hide = true)]
    LoadWorker(LoadWorkerArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Kube context [default: the kubeconfig's current context].
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace of an existing deployment to check.
    #[arg(
        long,
        short = 'n',
        conflicts_with = "deploy",
        default_value = "default"
    )]
    pub namespace: String,
    /// Deploy these manifests (kustomize directory, file or directory) into a fresh namespace.
    #[arg(long, value_name = "DIR")]
    pub deploy: Option<PathBuf>,
    /// Keep the namespace created with --deploy for debugging.
    #[arg(long, value_enum, default_value_t = crate::check::Keep::Never)]
    pub keep: crate::check::Keep,
    /// Allow pod deletion and fault injection on a context that does not look local.
    #[arg(long)]
    pub allow_destructive: bool,
    /// With --deploy: `fixed` keeps the manifests' nodePorts (one that another Service of the
    /// cluster holds is an error before anything is applied); `auto` clears them in the
    /// throw-away namespace so the API server allocates free ones (parallel checks on one
    /// cluster) [default: fixed].
    #[arg(long, value_enum, value_name = "fixed|auto", requires = "deploy")]
    pub node_ports: Option<crate::preflight::NodePorts>,
    /// Also run the slow scenarios (HPA scale-down back to the minimum).
    #[arg(long)]
    pub slow: bool,
    /// Run only these scenarios (comma-separated ids; see --list).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Exit 1 on warnings too (a requirement held but a best practice did not, e.g. requests
    /// failed while a pod went away under a profile that only advises zero).
    #[arg(long)]
    pub strict: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Write a JUnit XML report (one test case per scenario) to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the whole report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page (HPA timeline and recovery charts) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// Your app's base URL; without it the reference stack is started and checked.
    #[arg(long)]
    pub url: Option<String>,
    /// Shell command that restarts your database (only with --url).
    #[arg(long, value_name = "CMD", requires = "url")]
    pub db_restart: Option<String>,
    /// Load duration [default: the profile's load.local.duration].
    #[arg(long, value_parser = parse_duration)]
    pub load_duration: Option<std::time::Duration>,
    /// Requests per second across every user, 0 for unpaced [default: the profile's
    /// load.local.rate].
    #[arg(long)]
    pub load_rate: Option<u32>,
    /// Skip the load step (reported as skipped).
    #[arg(long)]
    pub skip_load: bool,
    /// Write the whole report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Base URL of the app; loopback only (port-forward a cluster Service, or --in-cluster).
    #[arg(
        long,
        required_unless_present = "in_cluster",
        conflicts_with = "in_cluster"
    )]
    pub url: Option<String>,
    /// Concurrent users [default: the profile's load.users].
    #[arg(long)]
    pub users: Option<usize>,
    /// Users started per second [default: the profile's load.hatch_rate].
    #[arg(long)]
    pub hatch_rate: Option<usize>,
    /// How long to load, e.g. 30s or 2m [default: the profile's load.duration].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Request mix [default: the profile's load.mix].
    #[arg(long, value_enum)]
    pub mix: Option<crate::load::Mix>,
    /// Gates, per route or for every route, e.g. "GET /:p95<50ms,POST /data:p95<250ms,errors<1%"
    /// [default: the profile's load.slo]. A whole-list GET /data is judged per 1,000 documents
    /// by a clause for every route; "GET /data:p95<100ms/1000docs" names it.
    #[arg(long)]
    pub slo: Option<String>,
    /// Requests per second across every user, 0 for unpaced [default: the profile's load.rate].
    #[arg(long)]
    pub rate: Option<u32>,
    /// How GET /data is read: "whole", or PARAM=SIZE for an app that pages, e.g. "limit=100"
    /// [default: the profile's load.list_read].
    #[arg(long, value_name = "whole|PARAM=SIZE")]
    pub list_read: Option<String>,
    /// Write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write Goose's own HTML report to this file (with --in-cluster: deploycheck's page with the
    /// merged percentile curve and the load over time).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Load from worker pods inside the cluster (a Job of the harness image, cluster.load_image)
    /// on a Service by name, instead of from this machine; histograms merged exactly.
    #[arg(long, help_heading = "In the cluster")]
    pub in_cluster: bool,
    /// Kube context [default: the kubeconfig's current context].
    #[arg(long, requires = "in_cluster", help_heading = "In the cluster")]
    pub context: Option<String>,
    /// Namespace of the Service [default: default].
    #[arg(
        long,
        short = 'n',
        requires = "in_cluster",
        help_heading = "In the cluster"
    )]
    pub namespace: Option<String>,
    /// The Service to load, NAME or NAME:PORT [default: the profile's app Service and port].
    #[arg(
        long,
        value_name = "NAME[:PORT]",
        requires = "in_cluster",
        help_heading = "In the cluster"
    )]
    pub service: Option<String>,
    /// Worker pods [default: the profile's cluster.hpa_load_pods].
    #[arg(long, requires = "in_cluster", help_heading = "In the cluster")]
    pub workers: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the app, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    pub url: String,
    /// Longest wait for one answer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    #[arg(long, value_enum, default_value_t = ApiFormat::Human)]
    pub format: ApiFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApiFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// What to check.
    #[arg(value_name = "PATH|-", required_unless_present = "rules")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value_t = Severity::Error)]
    pub fail_on: Severity,
    /// Print the rule catalogue and exit.
    #[arg(long)]
    pub rules: bool,
    /// A saved exposition (`curl -s URL/metrics > FILE`): its metric names replace the
    /// profile's [monitoring] series, which dashboard queries must name only.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// The app's metrics URL, e.g. http://127.0.0.1:5000/metrics (a URL without a path gets
    /// the profile's [monitoring] metrics_path).
    #[arg(long, required_unless_present_any = ["file", "rules"], conflicts_with = "file")]
    pub url: Option<String>,
    /// A saved exposition to check by its text only (no counter check); `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Requests sent to --path while the counter is watched (0 skips the counter check).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub requests: u64,
    /// Where the requests go, relative to the URL's origin.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// The request counter [default: the profile's [monitoring] request_counter].
    #[arg(long)]
    pub counter: Option<String>,
    /// Longest wait for one answer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when a finding at or above this severity exists (a counter that does not count
    /// is an error).
    #[arg(long, value_enum, default_value_t = Severity::Error)]
    pub fail_on: Severity,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a JUnit XML report (one test case per rule) to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 report to this file.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Print the metrics rule catalogue and exit.
    #[arg(long)]
    pub rules: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port for the service (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Address to listen on; the default keeps the demo off the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
}

#[derive(Debug, clap::Args)]
pub struct LoadWorkerArgs {
    /// The app's Service, e.g. http://web:8080 (a Service name or loopback, never an IP).
    #[arg(long)]
    pub url: String,
    /// A named mix (get-root, read, write, mixed) or requests in turn, e.g. "GET /,POST /data".
    #[arg(long, default_value = "GET /")]
    pub mix: String,
    /// Concurrency per step, e.g. 4,8,16; the last holds to the end.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    pub connections: Vec<usize>,
    /// Length of each concurrency step.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub step: std::time::Duration,
    /// Hard bound on the run's length.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    /// Hard bound on requests started [default: none but the duration].
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Open a new connection after this many requests (0: never).
    #[arg(long, default_value_t = 100)]
    pub reconnect_every: u64,
    /// How often a window line is printed.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub window: std::time::Duration,
    /// Longest wait for one answer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Marks the worker's lines and writes [default: $HOSTNAME, the pod's name].
    #[arg(long, env = "HOSTNAME", default_value = "worker", hide_env = true)]
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// `docker save -o app.tar IMAGE` output, an OCI archive, or an OCI image layout directory.
    #[arg(value_name = "PATH", required_unless_present = "rules")]
    pub path: Option<PathBuf>,
    /// Platform to read from a multi-arch index, os/arch[/variant] [default: linux/amd64, or
    /// the only platform the archive holds].
    #[arg(long, value_parser = crate::image::Platform::parse)]
    pub platform: Option<crate::image::Platform>,
    /// dive CI thresholds (`rules: {lowestEfficiency, highestWastedBytes,
    /// highestUserWastedPercent}`) [default: ./.dive-ci if present, else dive's defaults].
    #[arg(long, value_name = "FILE")]
    pub ci_config: Option<PathBuf>,
    /// Size bound of DI040 (Σ layer contents), in .dive-ci's units: 300MB, 512MiB.
    #[arg(long, default_value = "300MB", value_parser = crate::image::ci::parse_bytes)]
    pub max_size: u64,
    /// Offline OSV advisories (an ecosystem's all.zip from osv.dev, a JSON file or a
    /// directory of them) to match the installed packages against.
    #[arg(long, value_name = "FILE")]
    pub vuln_db: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value_t = Severity::Error)]
    pub fail_on: Severity,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a JUnit XML report (one test case per rule) to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 report to this file.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Print the image rule catalogue and exit.
    #[arg(long)]
    pub rules: bool,
}
