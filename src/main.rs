//! The `dealdesk` binary: parse the command line, set up logs, run the command.

mod import_command;

use std::process::ExitCode;

use clap::Parser;
use dealdesk::app::App;
use dealdesk::config::{BacktestDemoArgs, Cli, Command, DemoArgs, LogFormat};
use dealdesk::startup::{self, Application, StartupError};
use dealdesk::{demo, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client prints its own answer and error, without logs.
    if let Command::Client(command) = &cli.command {
        return dealdesk::cli::main(command).await;
    }
    let log_format = cli.log_format;
    telemetry::init(log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Once: human logs share stderr with this line, so the error is either a JSON log
            // record (for a collector) or a plain line (for a person), not both.
            match log_format {
                LogFormat::Json => tracing::error!("{err}"),
                LogFormat::Human => eprintln!("error: {err}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Errors a command can end with.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    App(#[from] dealdesk::app::AppError),
    #[error(transparent)]
    Import(#[from] import_command::ImportError),
    /// The demo's env file could not be written.
    #[error("write {path}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Migrate => {
            startup::open_store(&cli.database_url).await?;
            println!("database is up to date");
        }
        Command::Serve(args) => {
            let store = startup::open_store(&cli.database_url).await?;
            let application = Application::configured(store, &args).await?;
            application
                .run_until_stopped(startup::shutdown_signal())
                .await?;
        }
        Command::CreateAdmin { email, name } => {
            let app = App::new(startup::open_store(&cli.database_url).await?);
            let (user, secret) = demo::create_admin(&app, &email, &name).await?;
            println!("created users/{} ({})", user.id.0, user.profile.email);
            println!("token (shown once): {secret}");
        }
        Command::CreateToken { email, description } => {
            let app = App::new(startup::open_store(&cli.database_url).await?);
            let (user, secret) = demo::create_token(&app, &email, &description).await?;
            println!(
                "token for users/{} ({}), shown once: {secret}",
                user.id.0, user.profile.email
            );
        }
        Command::Import(args) => import_command::run(&cli.database_url, args).await?,
        Command::BacktestDemo(args) => backtest_demo(args).await?,
        Command::Demo(args) => serve_demo(args).await?,
        // Dispatched in `main`, before logging starts.
        Command::Client(_) => {}
    }
    Ok(())
}

/// `backtest-demo`: seeds a throw-away demo organisation per book, backtests each and prints
/// the table (with several books, a line per book first and the table over all their points).
async fn backtest_demo(args: BacktestDemoArgs) -> Result<(), CliError> {
    use dealdesk::demo::backtest_table;
    let mut all = Vec::new();
    if args.books > 1 {
        print!("{}", backtest_table::BOOK_HEADER);
    }
    for seed in (0..args.books).map(|i| args.seed.wrapping_add(i)) {
        let backtests = backtest_book(&args, seed).await?;
        if args.books > 1 {
            let line = backtest_table::book_line(seed, &backtests);
            print!("{line}");
        }
        all.extend(backtests);
    }
    let rows = backtest_table::table(&all);
    if args.books > 1 {
        println!("\nOver every book's points:\n");
    }
    print!("{}", backtest_table::markdown(&all, &rows));
    Ok(())
}

/// The backtests of the demo book of one seed, in a temporary SQLite file removed after.
async fn backtest_book(
    args: &BacktestDemoArgs,
    seed: u64,
) -> Result<
    Vec<(
        dealdesk::domain::period::Period,
        dealdesk::app::backtest::Backtest,
    )>,
    CliError,
> {
    use dealdesk::demo::backtest_table;
    let file = std::env::temp_dir().join(format!(
        "dealdesk-backtest-{}-{seed}.db",
        std::process::id()
    ));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let store = startup::open_store(&url).await?;
    let app = App::new(store).with_calendar(args.calendar.calendar());
    let spec = demo::DemoSpec {
        seed,
        ..Default::default()
    };
    demo::seed_with(&app, spec).await?;
    let (admin, _) = demo::create_admin(&app, "backtest@demo.dealdesk", "Backtest").await?;
    let principal = dealdesk::app::Principal { user: admin };
    let backtests = backtest_table::run(&app, &principal).await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    Ok(backtests)
}

/// `demo`: recreates the demo organisation from its seed, writes the walkthrough's env file
/// beside it, prints its logins and a few calls to try, and serves it.
async fn serve_demo(args: DemoArgs) -> Result<(), CliError> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.file));
    }
    let store = startup::open_store(&format!("sqlite://{}?mode=rwc", args.file)).await?;
    let calendar = args.calendar.calendar();
    let spec = demo::DemoSpec {
        seed: args.seed,
        ..Default::default()
    };
    let seeded = demo::seed_with(&App::new(store.clone()).with_calendar(calendar), spec).await?;
    let application = Application::build(store, args.listen)
        .await?
        .with_calendar(calendar);
    let addr = application.local_addr().map_err(StartupError::from)?;
    let env_path = std::path::Path::new(&args.file).with_extension("env");
    std::fs::write(&env_path, seeded.walkthrough.env_file(&addr.to_string())).map_err(
        |source| CliError::EnvFile {
            path: env_path.display().to_string(),
            source,
        },
    )?;
    println!(
        "dealdesk demo organisation in {} (recreated at every start), seed {}\n",
        args.file, args.seed
    );
    println!("DEMO ONLY tokens, derived from the seed (the same at every start with it):");
    println!("{:<10} {:<28} token", "role", "user");
    for login in &seeded.logins {
        println!(
            "{:<10} {:<28} {}",
            login.user.profile.role.as_str(),
            login.user.profile.email,
            login.secret
        );
    }
    println!(
        "\nThe walkthrough's variables (tokens per role, key users, $DEAL, $BIG_DEAL, pipelines, \
         $QUARTER) are in {}:\n  source {}",
        env_path.display(),
        env_path.display()
    );
    println!("\nTry (any gRPC reflection client works; grpcurl shown):");
    let call = |token: &str, body: &str, method: &str| {
        println!(
            r#"  grpcurl -plaintext -H "authorization: Bearer ${token}" -d '{body}' {addr} dealdesk.v1.{method}"#
        );
    };
    call("ADMIN_TOKEN", "{}", "PipelineService/ListPipelines");
    call(
        "REP_TOKEN",
        r#"{"status":"STATUS_OPEN","orderBy":"close_date","pageSize":5}"#,
        "DealService/ListDeals",
    );
    println!(
        r#"  grpcurl -plaintext -H "authorization: Bearer $LEADER_TOKEN" -d "{{\"period\":\"$QUARTER\",\"scope\":\"$LEADER\"}}" {addr} dealdesk.v1.ForecastService/GetForecast"#
    );
    println!("\nserving on {addr}; Ctrl-C stops");
    application
        .run_until_stopped(startup::shutdown_signal())
        .await?;
    Ok(())
}
