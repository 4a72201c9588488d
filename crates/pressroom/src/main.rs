//! `pressroom`: the daemon and its command line.

mod app;
mod cmd;
mod config;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: see the note on the dependency in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Campaigns in, generated images and published posts out.
#[derive(Parser)]
#[command(name = "pressroom", version, about)]
struct Cli {
    /// Configuration file (TOML) layered over the defaults; env PRESSROOM__SECTION__KEY wins.
    #[arg(long, global = true, env = "PRESSROOM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one campaign occurrence end to end on embedded defaults, then exit.
    Demo(cmd::demo::DemoArgs),
    /// Run the daemon: scheduler and workers, until SIGTERM or SIGINT.
    Serve(cmd::serve::ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Validate, load and trigger campaigns.
    #[command(subcommand)]
    Campaign(cmd::campaign::CampaignCmd),
    /// List runs.
    #[command(subcommand)]
    Runs(cmd::lists::RunsCmd),
    /// List posts and their per-target results; import one-off posts from a CSV file.
    #[command(subcommand)]
    Posts(cmd::lists::PostsCmd),
    /// Images of your own in a workspace's library: add.
    #[command(subcommand)]
    Assets(cmd::assets::AssetsCmd),
    /// What published posts achieved: fetch their numbers from the platforms now.
    #[command(subcommand)]
    Insights(cmd::insights::InsightsCmd),
    /// Write a workspace's client report for a period (one self-contained HTML file).
    Report(cmd::insights::ReportArgs),
    /// Inspect and retry queue jobs.
    #[command(subcommand)]
    Jobs(cmd::lists::JobsCmd),
    /// The token keyring: init, rotate.
    #[command(subcommand)]
    Keyring(cmd::keyring::KeyringCmd),
    /// Manage connected accounts.
    #[command(subcommand)]
    Accounts(cmd::accounts::AccountsCmd),
    /// Create API keys for the control API.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// People who sign in with an email and a password: add, list, remove, reset-password.
    #[command(subcommand)]
    Users(cmd::users::UsersCmd),
    /// The approval gate: list, show, approve or reject runs waiting for a person.
    #[command(subcommand)]
    Reviews(cmd::reviews::ReviewsCmd),
    /// Generate one image with the local diffusion engine.
    Generate(pressroom_generate::cli::GenerateArgs),
    /// Model utilities.
    #[command(subcommand)]
    Model(ModelCmd),
    /// List the rendition presets and their rules.
    Presets(pressroom_media::cli::PresetsArgs),
    /// Render one image for one preset.
    Render(pressroom_media::cli::RenderArgs),
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Write a tiny random-weight model in the diffusers layout (noise-like images; for demos
    /// and tests where no real weights exist).
    InitTiny(pressroom_generate::cli::InitTinyArgs),
    /// Download a diffusers-layout model from a Hugging Face-compatible hub into
    /// <data_dir>/models/NAME (resumable, verified, atomic).
    Pull(cmd::model_pull::PullArgs),
    /// Import a single-file checkpoint (A1111/ComfyUI/Civitai .safetensors: SD 1.x, SD 2.x,
    /// SDXL) into <data_dir>/models/NAME.
    Import(cmd::model_import::ImportArgs),
    /// The models in <data_dir>/models: name, family, dtype, size, source, digest.
    List(cmd::model::ListArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::Settings::load(cli.config.as_deref()) {
        // The demo talks to a person through its own output; keep logs to warnings.
        Ok(mut s) if matches!(cli.command, Command::Demo(_)) && s.log.level == "info" => {
            s.log.level = "warn".into();
            s
        }
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    cmd::init_logging(&settings);
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
            Command::Demo(args) => cmd::demo::run(settings, args).await,
            Command::Serve(args) => cmd::serve::run(settings, args).await,
            Command::Migrate => cmd::migrate(settings).await,
            Command::Campaign(c) => cmd::campaign::run(settings, c).await,
            Command::Runs(c) => cmd::lists::runs(settings, c).await,
            Command::Posts(c) => cmd::lists::posts(settings, c).await,
            Command::Jobs(c) => cmd::lists::jobs(settings, c).await,
            Command::Keyring(c) => cmd::keyring::run(settings, c).await,
            Command::Accounts(c) => cmd::accounts::run(settings, c).await,
            Command::Keys(c) => cmd::keys::run(settings, c).await,
            Command::Assets(c) => cmd::assets::run(settings, c).await,
            Command::Insights(c) => cmd::insights::fetch(settings, c).await,
            Command::Report(args) => cmd::insights::report(settings, args).await,
            Command::Users(c) => cmd::users::run(settings, c).await,
            Command::Reviews(c) => cmd::reviews::run(settings, c).await,
            Command::Generate(args) => pressroom_generate::cli::run_generate(args)
                .await
                .map(|_| ExitCode::SUCCESS),
            Command::Model(ModelCmd::InitTiny(args)) => {
                pressroom_generate::cli::run_init_tiny(args).map(|_| ExitCode::SUCCESS)
            }
            Command::Model(ModelCmd::Pull(args)) => cmd::model_pull::run(settings, args).await,
            Command::Model(ModelCmd::Import(args)) => cmd::model_import::run(settings, args).await,
            Command::Model(ModelCmd::List(args)) => cmd::model::list(settings, args),
            // Both see the configured table (`[media.presets.NAME]` applied).
            Command::Presets(args) => settings.presets().and_then(|presets| {
                pressroom_media::cli::run_presets_with(&args, &presets, &mut std::io::stdout())
                    .map(|_| ExitCode::SUCCESS)
            }),
            Command::Render(args) => settings.presets().and_then(|presets| {
                pressroom_media::cli::run_render_with(&args, &presets, &mut std::io::stdout())
                    .map(|_| ExitCode::SUCCESS)
            }),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
