//! Command-line interface: argument parsing (`args`) and dispatch to the library.

mod args;

pub use args::*;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser as _, ValueEnum as _};

use crate::findings::Rule;
use crate::profile::Profile;
use crate::report::lint as lint_report;
use crate::{api, demo, exit, lint, manifest};

/// Kept here too: the flags parse durations the way profiles do.
pub use crate::profile::parse_duration;

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
        Command::Metrics(args) => run_metrics(&args, cli.profile.as_deref()).await,
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

/// `--rules` of `lint`, `image` and `metrics`: id, severity, why and the fix, one rule a block.
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
    let mut profile = match resolve_profile(profile, "lint") {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    if let Some(path) = &args.metrics {
        match sampled_series(path) {
            Ok(series) => profile.monitoring.series = series,
            Err(error) => {
                eprintln!("deploycheck lint: --metrics {}: {error}", path.display());
                return exit::USAGE;
            }
        }
    }
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

/// The metric names of a saved exposition, for `lint --metrics`: every family and sample name,
/// so a query may name `x`, `x_total` or `x_bucket`.
fn sampled_series(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let exposition = crate::exposition::parse(&text).map_err(|e| {
        format!("not a metrics exposition: {e} (save one with `curl -s URL/metrics > FILE`)")
    })?;
    if exposition.families.is_empty() {
        // An empty list would switch the dashboard rule off instead of checking anything.
        return Err(
            "holds no metrics: save the exposition of a running app (`curl -s URL/metrics > FILE`)"
                .into(),
        );
    }
    Ok(exposition.names().into_iter().collect())
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
    let outcomes = match crate::local::contract(&target, &profile).await {
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

/// The metrics URL: `url` as given, or with the profile's metrics path when it has no path.
fn metrics_url(url: &str, profile: &Profile) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if parsed.path() != "/" {
        return Ok(url.to_string());
    }
    let path = &profile.monitoring.metrics_path;
    if path.is_empty() {
        return Err(format!(
            "{url} names no metrics route and the profile has none ([monitoring] metrics_path): \
             give the whole URL, e.g. --url {}/metrics",
            url.trim_end_matches('/')
        ));
    }
    Ok(format!("{}{path}", url.trim_end_matches('/')))
}

async fn run_metrics(args: &MetricsArgs, profile: Option<&str>) -> u8 {
    use crate::report::metrics as report;
    if args.rules {
        print_rules(&crate::metrics::catalogue());
        return exit::OK;
    }
    let fail = |error: String| {
        eprintln!("deploycheck metrics: {error}");
        exit::USAGE
    };
    let result = match (&args.file, &args.url) {
        (Some(path), _) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            };
            match text {
                Ok(text) if path.as_os_str() == "-" => crate::metrics::check_text(&text, "<stdin>"),
                Ok(text) => crate::metrics::check_text(&text, &path.display().to_string()),
                Err(error) => return fail(format!("cannot read {}: {error}", path.display())),
            }
        }
        (None, Some(url)) => {
            let profile = match resolve_profile(profile, "metrics") {
                Ok(profile) => profile,
                Err(code) => return code,
            };
            let url = match metrics_url(url, &profile) {
                Ok(url) => url,
                Err(error) => return fail(error),
            };
            let counter = args
                .counter
                .clone()
                .unwrap_or_else(|| profile.monitoring.request_counter.clone());
            let options = crate::metrics::Options {
                requests: args.requests,
                path: args.path.clone(),
                timeout: args.timeout,
                ..crate::metrics::Options::new(&url, &counter)
            };
            match crate::metrics::run(&options).await {
                Ok(report) => report,
                Err(error) => return fail(error.to_string()),
            }
        }
        (None, None) => return fail("give --url URL/metrics or --file FILE".into()),
    };
    let rules = result.catalogue();
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!(
        "{}",
        match args.format {
            Format::Human => report::human(&result, colour),
            Format::Json => report::json(&result),
            Format::Junit => report::junit(&result, &rules),
            Format::Sarif => report::sarif(&result, &rules),
        }
    );
    for (file, text) in [
        (&args.json, report::json(&result)),
        (&args.junit, report::junit(&result, &rules)),
        (&args.sarif, report::sarif(&result, &rules)),
    ] {
        if let Some(file) = file {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(error) = std::fs::write(file, text) {
                return fail(format!("cannot write {}: {error}", file.display()));
            }
        }
    }
    if result.fails(args.fail_on) {
        exit::FAILED
    } else {
        exit::OK
    }
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
