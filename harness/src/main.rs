#[tokio::main]
async fn main() -> std::process::ExitCode {
    deploycheck::cli::run().await
}
