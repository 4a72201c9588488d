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
    /// The blob store (images, renditions): migrate it to object storage.
    #[command(subcommand)]
    Storage(cmd::storage::StorageCmd),
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
    /// Generate one image with the local diffusion engine (runs `pressroom-engine generate`;
    /// `pressroom generate --help` lists its options).
    #[command(disable_help_flag = true)]
    Generate(EngineArgs),
    /// The engine process, by hand: `pressroom engine serve|generate|init-tiny` (runs
    /// `pressroom-engine`, the one binary that loads libtorch; the daemon starts it itself).
    #[command(disable_help_flag = true)]
    Engine(EngineArgs),
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
    #[command(disable_help_flag = true)]
    InitTiny(EngineArgs),
    /// Download a diffusers-layout model from a Hugging Face-compatible hub into
    /// <data_dir>/models/NAME (resumable, verified, atomic).
    Pull(cmd::model_pull::PullArgs),
    /// Import a single-file checkpoint (A1111/ComfyUI/Civitai .safetensors: SD 1.x, SD 2.x,
    /// SDXL) into <data_dir>/models/NAME.
    Import(cmd::model_import::ImportArgs),
    /// The models in <data_dir>/models: name, family, dtype, size, source, digest.
    List(cmd::model::ListArgs),
}

/// Arguments handed to `pressroom-engine` as they are.
#[derive(clap::Args)]
struct EngineArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<std::ffi::OsString>,
}

/// Replaces this process with `pressroom-engine SUBCOMMAND ARGS...`: libtorch is loaded only
/// by commands that run the engine.
fn exec_engine(subcommand: Option<&str>, args: Vec<std::ffi::OsString>) -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    let program = match pressroom_generate::engine_binary() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cmd = std::process::Command::new(&program);
    cmd.args(subcommand).args(args);
    let err = cmd.exec();
    eprintln!("error: running {}: {err}", program.display());
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Engine commands need no configuration, database or runtime of ours.
    let command = match cli.command {
        Command::Generate(a) => return exec_engine(Some("generate"), a.args),
        Command::Engine(a) => return exec_engine(None, a.args),
        Command::Model(ModelCmd::InitTiny(a)) => return exec_engine(Some("init-tiny"), a.args),
        other => other,
    };
    let settings = match config::Settings::load(cli.config.as_deref()) {
        // The demo talks to a person through its own output; keep logs to warnings.
        Ok(mut s) if matches!(command, Command::Demo(_)) && s.log.level == "info" => {
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
        match command {
            Command::Demo(args) => cmd::demo::run(settings, args).await,
            Command::Serve(args) => cmd::serve::run(settings, args).await,
            Command::Migrate => cmd::migrate(settings).await,
            Command::Storage(c) => cmd::storage::run(settings, c).await,
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
            Command::Generate(_) | Command::Engine(_) | Command::Model(ModelCmd::InitTiny(_)) => {
                Ok(ExitCode::SUCCESS)
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
