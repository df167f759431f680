//! Command-line interface: argument parsing and dispatch to the library.

use std::io::IsTerminal as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::findings::{Rule, Severity};
use crate::profile::Profile;
use crate::report::lint as lint_report;
use crate::{api, demo, exit, lint, manifest};

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

/// Kept here too: the flags parse durations the way profiles do.
pub use crate::profile::parse_duration;

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

/// Parses `std::env::args` and runs the chosen command.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Lint(args) => run_lint(&args, cli.profile.as_deref()),
        Command::Api(args) => run_api(&args, cli.profile.as_deref()).await,
        Command::Load(args) => run_load(&args, cli.profile.as_deref()).await,
        Command::Local(args) => run_local(&args, cli.profile.as_deref()).await,
        Command::Check(args) => run_check(&args, cli.profile.as_deref()).await,
        Command::Image(args) => run_image(&args, cli.profile.as_deref()),
        Command::LoadWorker(args) => run_load_worker(&args).await,
        Command::Demo(args) => match demo::run(SocketAddr::new(args.bind, args.port)).await {
            Ok(()) => exit::OK,
            Err(error) => {
                eprintln!("deploycheck demo: {error}");
                exit::USAGE
            }
        },
    };
    ExitCode::from(code)
}

/// `--rules` of `lint` and `image`: id, severity, why and the fix, one rule a block.
fn print_rules(rules: &[&Rule]) {
    for rule in rules {
        println!(
            "{}  {:<7}  {}\n                  fix: {}",
            rule.id,
            rule.severity.as_str(),
            rule.why,
            rule.hint
        );
    }
}

fn run_lint(args: &LintArgs, profile: Option<&str>) -> u8 {
    let rules = lint::catalogue();
    if args.rules {
        print_rules(&rules);
        return exit::OK;
    }
    let profile = match resolve_profile(profile, "lint") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let inputs = match manifest::load(&args.paths) {
        Ok(inputs) => inputs,
        Err(error) => {
            eprintln!("deploycheck lint: {error}");
            return exit::USAGE;
        }
    };
    let mut findings = lint::run(&inputs, &profile);
    // An image tarball given to lint gets the image rules, with `image`'s defaults.
    let rules = if inputs.images.is_empty() {
        rules
    } else {
        rules.into_iter().chain(crate::image::catalogue()).collect()
    };
    for path in &inputs.images {
        match image_options(None, &profile)
            .and_then(|options| crate::image::check(path, &options).map_err(|e| e.to_string()))
        {
            Ok(report) => findings.extend(report.findings),
            Err(error) => {
                eprintln!("deploycheck lint: {error}");
                return exit::USAGE;
            }
        }
    }
    let scope = lint_report::Scope {
        objects: inputs.objects.len(),
        dockerfiles: inputs.dockerfiles.len(),
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = match args.format {
        Format::Human => lint_report::human(&findings, scope, colour),
        Format::Json => lint_report::json(&findings, scope),
        Format::Junit => lint_report::junit(&findings, &rules),
        Format::Sarif => lint_report::sarif(&findings, &rules),
    };
    print!("{text}");
    if findings.iter().any(|f| f.severity >= args.fail_on) {
        exit::FAILED
    } else {
        exit::OK
    }
}

async fn run_check(args: &CheckArgs, profile: Option<&str>) -> u8 {
    use crate::report::cluster as report;
    if args.list {
        for spec in crate::scenario::CATALOGUE {
            println!("{:<13} {}", spec.id, spec.title);
        }
        return exit::OK;
    }
    if let Some(unknown) = args
        .only
        .iter()
        .find(|o| !crate::scenario::CATALOGUE.iter().any(|spec| spec.id == *o))
    {
        eprintln!("deploycheck check: unknown scenario `{unknown}` (see --list)");
        return exit::USAGE;
    }
    let profile = match resolve_profile(profile, "check") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let options = crate::check::CheckOptions {
        context: args.context.clone(),
        namespace: Some(args.namespace.clone()),
        deploy: args.deploy.clone(),
        keep: args.keep,
        allow_destructive: args.allow_destructive,
        slow: args.slow,
        only: args.only.clone(),
        strict: args.strict,
        node_ports: args.node_ports.unwrap_or_default(),
    };
    let mut print = |event: crate::check::Event<'_>| print!("{}", report::event(&event));
    let result = crate::check::check(profile, &options, &mut print).await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("deploycheck check: {error}");
            return exit::USAGE;
        }
    };
    print!("{}", report::summary(&report));
    for (path, text) in [
        (&args.junit, report::junit(&report)),
        (&args.json, report::json(&report)),
        (&args.html, crate::report::html::html(&report)),
    ] {
        if let Some(path) = path {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(error) = std::fs::write(path, text) {
                eprintln!(
                    "deploycheck check: cannot write {}: {error}",
                    path.display()
                );
                return exit::USAGE;
            }
        }
    }
    check_exit_code(&report, args.strict)
}

/// The exit code of a finished check: 1 when it failed (a warning counts only when `strict`),
/// else 0. A warning's requirement held, so by default it must not break a CI gate.
pub fn check_exit_code(report: &crate::check::CheckReport, strict: bool) -> u8 {
    if report.failed(strict) {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn resolve_profile(choice: Option<&str>, command: &str) -> Result<Profile, u8> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    Profile::resolve(choice, &cwd).map_err(|error| {
        eprintln!("deploycheck {command}: {error}");
        exit::USAGE
    })
}

async fn run_api(args: &ApiArgs, profile: Option<&str>) -> u8 {
    let profile = match resolve_profile(profile, "api") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let target = api::Target {
        base_url: args.url.clone(),
        timeout: args.timeout,
    };
    let outcomes = match api::check(&target, &profile).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            eprintln!("deploycheck api: {error}");
            return exit::USAGE;
        }
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!(
        "{}",
        match args.format {
            ApiFormat::Human => crate::report::api::human(&outcomes, &args.url, colour),
            ApiFormat::Json => crate::report::api::json(&outcomes, &args.url),
        }
    );
    if outcomes.iter().any(|o| o.verdict.fails(false)) {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// `load --in-cluster`: worker pods on a Service by name, progress on stderr, the merged
/// figures on stdout, exit 1 on a missed SLO, a lost write or an incomplete result.
async fn run_load_in_cluster(args: &LoadArgs, profile: &Profile) -> u8 {
    use crate::incluster::run::{InClusterOptions, run_on, slos};
    let fail = |error: String| {
        eprintln!("deploycheck load --in-cluster: {error}");
        exit::USAGE
    };
    let gates = match slos(args.slo.as_deref().unwrap_or("errors<1%")) {
        Ok(gates) => gates,
        Err(error) => return fail(error),
    };
    let (service, port) = match args.service.as_deref() {
        None => (profile.app.service.clone(), Some(profile.app.port)),
        Some(text) => match text.split_once(':') {
            None => (text.to_string(), None),
            Some((name, port)) => match port.parse() {
                Ok(port) => (name.to_string(), Some(port)),
                Err(_) => return fail(format!("--service {text}: the port is not a number")),
            },
        },
    };
    let (client, context) = match crate::cluster::connect(args.context.as_deref()).await {
        Ok(found) => found,
        Err(error) => return fail(error.to_string()),
    };
    let cluster = std::sync::Arc::new(crate::cluster::KubeCluster::new(client, context));
    let options = InClusterOptions {
        namespace: args.namespace.clone().unwrap_or_else(|| "default".into()),
        service,
        port,
        image: profile.cluster.load_image.clone(),
        pods: args.workers.unwrap_or(profile.cluster.hpa_load_pods).max(1),
        connections: args.users.unwrap_or(profile.load.users as usize).max(1),
        duration: match args.duration {
            Some(duration) => duration,
            None => match parse_duration(&profile.load.duration) {
                Ok(duration) => duration,
                Err(error) => return fail(error),
            },
        },
        // The workers know the local load's named mixes by the same names.
        mix: args
            .mix
            .and_then(|mix| mix.to_possible_value())
            .map_or_else(|| "GET /".to_string(), |name| name.get_name().to_string()),
    };
    let report = match run_on(cluster, &options, &mut |line| eprintln!("{line}")).await {
        Ok(report) => report,
        Err(error) => return fail(error.to_string()),
    };
    if let Some(path) = &args.json
        && let Err(error) = std::fs::write(
            path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
    {
        return fail(format!("cannot write {}: {error}", path.display()));
    }
    println!(
        "{} worker pod(s), {} connection(s) on {}: {} requests ({:.0} req/s), {} failed\n\
         latency ms  p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        report.pods,
        report.connections,
        report.url,
        report.requests,
        report.rps,
        report.failed,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        report.max_ms
    );
    for worker in &report.per_worker {
        println!(
            "  {:<32} {:>9} requests {:>8.0} req/s  p95 {:>8.2} ms{}",
            worker.worker,
            worker.requests,
            worker.rps,
            worker.p95_ms,
            if worker.complete {
                ""
            } else {
                "  (incomplete)"
            }
        );
    }
    if report.acknowledged > 0 {
        println!(
            "integrity  {} acknowledged writes, {} lost",
            report.acknowledged,
            report.lost.len()
        );
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    let failures = report.failures(&gates);
    if let Some(path) = &args.html
        && let Err(error) = std::fs::write(
            path,
            crate::report::html::in_cluster_load(&report, &failures),
        )
    {
        return fail(format!("cannot write {}: {error}", path.display()));
    }
    if failures.is_empty() {
        println!("in-cluster load PASSED");
        exit::OK
    } else {
        for failure in &failures {
            println!("FAIL {failure}");
        }
        println!("in-cluster load FAILED");
        exit::FAILED
    }
}

async fn run_load(args: &LoadArgs, profile: Option<&str>) -> u8 {
    let profile = match resolve_profile(profile, "load") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    if args.in_cluster {
        return run_load_in_cluster(args, &profile).await;
    }
    let url = args.url.clone().unwrap_or_default();
    let overrides = crate::load::Overrides {
        users: args.users,
        hatch_rate: args.hatch_rate,
        duration: args.duration,
        mix: args.mix,
        slo: args.slo.clone(),
        rate: args.rate,
        list_read: args.list_read.clone(),
    };
    let settings = match crate::load::Settings::for_load(&url, &profile.load, &overrides) {
        Ok(settings) => crate::load::Settings {
            goose_html: args.html.clone(),
            ..settings
        },
        Err(error) => {
            eprintln!("deploycheck load: {error}");
            return exit::USAGE;
        }
    };
    let summary = match crate::load::run(&settings).await {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("deploycheck load: {error}");
            return exit::USAGE;
        }
    };
    print!("{}", crate::report::load::human(&summary));
    if let Some(path) = &args.json
        && let Err(error) = std::fs::write(path, crate::report::load::json(&summary))
    {
        eprintln!("deploycheck load: cannot write {}: {error}", path.display());
        return exit::USAGE;
    }
    if summary.passed() {
        exit::OK
    } else {
        exit::FAILED
    }
}

async fn run_local(args: &LocalArgs, profile: Option<&str>) -> u8 {
    let profile = match resolve_profile(profile, "local") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let load_settings = |url: &str| {
        (!args.skip_load)
            .then(|| {
                crate::load::Settings::for_local(
                    url,
                    &profile.load,
                    args.load_duration,
                    args.load_rate,
                )
            })
            .transpose()
    };
    let result = match &args.url {
        Some(url) => {
            let settings = match load_settings(url) {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("deploycheck local: {error}");
                    return exit::USAGE;
                }
            };
            let restart = args
                .db_restart
                .clone()
                .map(|command| async move || crate::local::run_restart_command(&command).await);
            crate::local::run(
                url,
                &profile,
                settings,
                restart,
                "no --db-restart command was given, so the app's recovery from a database restart was not tested",
            )
            .await
        }
        None => {
            let stack = match demo::start("127.0.0.1:0".parse().expect("valid address")).await {
                Ok(stack) => stack,
                Err(error) => {
                    eprintln!("deploycheck local: {error}");
                    return exit::USAGE;
                }
            };
            println!(
                "checking the reference stack: {} on {}\n",
                stack.url, stack.backend
            );
            let url = stack.url.clone();
            let settings = match load_settings(&url) {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("deploycheck local: {error}");
                    return exit::USAGE;
                }
            };
            let mut stack = stack;
            let result = {
                let server = &mut stack.server;
                let restart = Some(async || {
                    server.stop().await.map_err(|e| e.to_string())?;
                    server.start_again().await.map_err(|e| e.to_string())
                });
                crate::local::run(&url, &profile, settings, restart, "").await
            };
            let _ = stack.shutdown().await;
            result
        }
    };
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("deploycheck local: {error}");
            return exit::USAGE;
        }
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!("{}", crate::report::local::human(&report, colour));
    if let Some(path) = &args.json
        && let Err(error) = std::fs::write(path, crate::report::local::json(&report))
    {
        eprintln!(
            "deploycheck local: cannot write {}: {error}",
            path.display()
        );
        return exit::USAGE;
    }
    if report.passed() {
        exit::OK
    } else {
        exit::FAILED
    }
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

/// Exit 0 when the load ran to its bounds (failed requests are figures the coordinator
/// judges), 2 when it could not start.
async fn run_load_worker(args: &LoadWorkerArgs) -> u8 {
    use crate::incluster::worker;
    let requests = match worker::parse_mix(&args.mix) {
        Ok(requests) => requests,
        Err(error) => {
            eprintln!("deploycheck load-worker: {error}");
            return exit::USAGE;
        }
    };
    let options = worker::WorkerOptions {
        name: args.name.clone(),
        base_url: args.url.clone(),
        requests,
        steps: args.connections.clone(),
        step: args.step,
        duration: args.duration,
        max_requests: args.max_requests.unwrap_or(u64::MAX),
        reconnect_every: args.reconnect_every,
        window: args.window,
        timeout: args.timeout,
    };
    // Deleting the Job sends SIGTERM: the worker still prints its final line on the way out.
    let stop = async {
        #[cfg(unix)]
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut print = |line: &str| println!("{line}");
    match worker::run_until(&options, &mut print, stop).await {
        Ok(_) => exit::OK,
        Err(error) => {
            eprintln!("deploycheck load-worker: {error}");
            exit::USAGE
        }
    }
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

/// The image check's options: the profile's app port, `.dive-ci` from the working directory
/// unless `ci_config` names one.
fn image_options(
    ci_config: Option<&std::path::Path>,
    profile: &Profile,
) -> Result<crate::image::Options, String> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let ci = crate::image::CiConfig::discover(ci_config, &cwd).map_err(|e| e.to_string())?;
    Ok(crate::image::Options {
        ci,
        ..crate::image::Options::new(profile.app.port)
    })
}

fn run_image(args: &ImageArgs, profile: Option<&str>) -> u8 {
    use crate::report::image as report;
    let rules = crate::image::catalogue();
    if args.rules {
        print_rules(&rules);
        return exit::OK;
    }
    let Some(path) = &args.path else {
        eprintln!("deploycheck image: give the image file (docker save -o app.tar IMAGE)");
        return exit::USAGE;
    };
    let profile = match resolve_profile(profile, "image") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let options = match image_options(args.ci_config.as_deref(), &profile) {
        Ok(options) => crate::image::Options {
            platform: args.platform.clone(),
            max_size: args.max_size,
            vuln_db: args.vuln_db.clone(),
            ..options
        },
        Err(error) => {
            eprintln!("deploycheck image: {error}");
            return exit::USAGE;
        }
    };
    let image = match crate::image::check(path, &options) {
        Ok(image) => image,
        Err(error) => {
            eprintln!("deploycheck image: {error}");
            return exit::USAGE;
        }
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!(
        "{}",
        match args.format {
            Format::Human => report::human(&image, colour),
            Format::Json => report::json(&image),
            Format::Junit => report::junit(&image, &rules),
            Format::Sarif => report::sarif(&image, &rules),
        }
    );
    for (file, text) in [
        (&args.json, report::json(&image)),
        (&args.junit, report::junit(&image, &rules)),
        (&args.sarif, report::sarif(&image, &rules)),
    ] {
        if let Some(file) = file {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(error) = std::fs::write(file, text) {
                eprintln!(
                    "deploycheck image: cannot write {}: {error}",
                    file.display()
                );
                return exit::USAGE;
            }
        }
    }
    if image.findings.iter().any(|f| f.severity >= args.fail_on) {
        exit::FAILED
    } else {
        exit::OK
    }
}
