use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match app::Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("deploycheck-app: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    app::telemetry::init(config.log_format);
    match app::run(config, app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(app::ServeError::Store(error @ app::store::StoreError::InvalidUri(_))) => {
            eprintln!("deploycheck-app: configuration error: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("deploycheck-app: {error}");
            ExitCode::FAILURE
        }
    }
}
