//! `pressroom-engine`: the libtorch engine in its own process.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pressroom_generate::{DeviceSetting, EngineOptions};
use tracing_subscriber::EnvFilter;

/// The Pressroom engine: Stable Diffusion on libtorch. `pressroom serve` starts and supervises
/// `pressroom-engine serve`; `generate` and `init-tiny` are for people.
#[derive(Parser)]
#[command(name = "pressroom-engine", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Load a model and serve the daemon's requests on stdin/stdout (JSON lines) until stdin
    /// closes.
    Serve(ServeArgs),
    /// Generate one image with the local engine.
    Generate(pressroom_engine::cli::GenerateArgs),
    /// Write a tiny random-weight model in the diffusers layout (noise-like images; for demos
    /// and tests where no real weights exist).
    InitTiny(pressroom_engine::cli::InitTinyArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Model folder in the diffusers layout.
    #[arg(long)]
    model: PathBuf,
    /// auto (CUDA fp16 if present, else CPU fp32), cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: DeviceSetting,
    /// The engine options as JSON (`[generation.engine]` plus clip_skip and safety_checker).
    #[arg(long, value_parser = parse_options, default_value = "{}")]
    options: EngineOptions,
    /// Write the tiny random-weight model into --model first when that folder has none (the
    /// daemon's default when no model is configured; one process start instead of two).
    #[arg(long)]
    create_tiny: bool,
    /// Log filter when RUST_LOG is unset (logs go to stderr).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn parse_options(json: &str) -> Result<EngineOptions, String> {
    serde_json::from_str(json).map_err(|e| format!("--options: {e}"))
}

fn init_logging(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::Serve(args) => {
                init_logging(&args.log_level, args.log_json);
                let options = pressroom_engine::serve::ServeOptions {
                    device: args.device,
                    engine: args.options,
                    create_tiny: args.create_tiny,
                };
                pressroom_engine::serve::serve(&args.model, options).await
            }
            Cmd::Generate(args) => {
                init_logging("warn", false);
                pressroom_engine::cli::run_generate(args).await
            }
            Cmd::InitTiny(args) => pressroom_engine::cli::run_init_tiny(args),
        }
    });
    // Not a plain drop: that waits for blocking threads, and the one reading stdin waits for
    // a daemon that may keep the pipe open until this process has exited.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
