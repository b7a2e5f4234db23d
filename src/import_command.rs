//! `dealdesk import`: reads the export files from disk, runs the import through the same use
//! case as ImportService (as the CLI actor), shows progress on stderr and prints the report.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use dealdesk::app::imports::{FileKind, SourceFile};
use dealdesk::app::imports::{ImportProgress, ImportReport, ImportRequest};
use dealdesk::app::{App, AppError};
use dealdesk::config::{ImportArgs, ImportSource};
use dealdesk::domain::ids::PipelineId;
use dealdesk::startup::{self, StartupError};
use uuid::Uuid;

/// How an import command fails.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `--pipeline` is not a pipeline id.
    #[error("--pipeline must be pipelines/<uuid> or a uuid, got {0:?}")]
    Pipeline(String),
    /// Rows were bad (each was printed): nothing was written. The summary counts them:
    /// `23 bad rows (31 problems) of 23,811 read; nothing was imported`.
    #[error("{0}")]
    BadRows(String),
    /// The database.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The use case.
    #[error(transparent)]
    App(#[from] AppError),
}

fn read(path: &PathBuf, kind: FileKind) -> Result<SourceFile, ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: name.clone(),
        source,
    })?;
    Ok(SourceFile { name, kind, bytes })
}

/// Runs `dealdesk import` against the database at `database_url`.
pub async fn run(database_url: &str, args: ImportArgs) -> Result<(), ImportError> {
    let (options, paths): (_, Vec<Option<(PathBuf, FileKind)>>) = match args.source {
        ImportSource::Salesforce {
            options,
            opportunities,
            history,
            users,
            roles,
            accounts,
        } => (
            options,
            vec![
                Some((opportunities, FileKind::SalesforceOpportunity)),
                history.map(|p| (p, FileKind::SalesforceOpportunityHistory)),
                users.map(|p| (p, FileKind::SalesforceUser)),
                roles.map(|p| (p, FileKind::SalesforceUserRole)),
                accounts.map(|p| (p, FileKind::SalesforceAccount)),
            ],
        ),
        ImportSource::Hubspot { options, deals } => {
            (options, vec![Some((deals, FileKind::HubspotDeals))])
        }
        ImportSource::Generic {
            options,
            deals,
            history,
        } => (
            options,
            vec![
                Some((deals, FileKind::GenericDeals)),
                history.map(|p| (p, FileKind::GenericStageHistory)),
            ],
        ),
    };
    let id = options.pipeline.trim_start_matches("pipelines/");
    let pipeline = Uuid::parse_str(id)
        .map(PipelineId)
        .map_err(|_| ImportError::Pipeline(options.pipeline.clone()))?;
    let files = paths
        .iter()
        .flatten()
        .map(|(path, kind)| read(path, *kind))
        .collect::<Result<Vec<_>, _>>()?;
    let (mapping_name, mapping) = match &options.mapping {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| ImportError::Read {
                path: path.display().to_string(),
                source,
            })?,
        ),
        None => ("mapping".to_string(), String::new()),
    };
    eprintln!(
        "reading {} ({} bytes)",
        files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        files.iter().map(|f| f.bytes.len()).sum::<usize>()
    );
    let app = App::new(startup::open_store(database_url).await?)
        .with_calendar(options.calendar.calendar());
    let tty = std::io::stderr().is_terminal();
    let shown = AtomicUsize::new(0);
    let result = app
        .import_history_as(
            None,
            ImportRequest {
                pipeline,
                mapping_name,
                mapping,
                files,
                validate_only: options.dry_run,
                encoding: options.encoding,
            },
            |progress| show(progress, tty, &shown),
        )
        .await;
    match result {
        Ok(report) => {
            if !report.validate_only {
                eprintln!("committed");
            }
            print_report(&report, pipeline);
            Ok(())
        }
        Err(AppError::ImportRowsInvalid(bad)) => {
            for problem in &bad.listed {
                eprintln!("{problem}");
            }
            Err(ImportError::BadRows(bad.summary()))
        }
        Err(err) => Err(err.into()),
    }
}

/// One line per step; deals written update one line on a terminal, else every tenth.
fn show(progress: ImportProgress, tty: bool, shown: &AtomicUsize) {
    let mut err = std::io::stderr().lock();
    let _ = match progress {
        ImportProgress::Read { rows } => writeln!(err, "read {rows} rows"),
        ImportProgress::Planned {
            deals,
            stage_changes,
            users,
        } => writeln!(
            err,
            "checked: {deals} deals to write, {stage_changes} stage changes, {users} users to create"
        ),
        ImportProgress::Writing { done, total } => {
            let percent = done * 100 / total.max(1);
            if tty {
                write!(err, "\rwriting deals: {done}/{total} ({percent}%)")
                    .and_then(|()| if done == total { writeln!(err) } else { Ok(()) })
            } else if percent / 10 > shown.load(Ordering::Relaxed) || done == total {
                shown.store(percent / 10, Ordering::Relaxed);
                writeln!(err, "writing deals: {done}/{total} ({percent}%)")
            } else {
                Ok(())
            }
        }
    };
}

fn print_report(r: &ImportReport, pipeline: PipelineId) {
    let what = if r.validate_only {
        "dry run (nothing written)"
    } else {
        "imported"
    };
    println!("{what}: source {} into pipelines/{pipeline}", r.source);
    for (label, n) in [
        ("rows read", r.rows_read),
        ("rows skipped", r.rows_skipped),
        ("deals created", r.deals_created),
        ("deals updated", r.deals_updated),
        ("deals unchanged", r.deals_unchanged),
        ("stage changes added", r.stage_changes_added),
        ("users created", r.users_created),
        ("users updated", r.users_updated),
    ] {
        println!("  {label:<20}{n:>8}");
    }
    if !r.dropped.is_empty() {
        println!("left out or replaced (counted by value):");
        for line in r.dropped_lines() {
            println!("  {line}");
        }
    }
    if !r.manager_choices.is_empty() {
        println!(
            "managers picked among several holders of a role (name one in \"role_managers\"):"
        );
        for c in &r.manager_choices {
            println!(
                "  {}: {} chosen among {}",
                c.role,
                c.chosen,
                c.candidates.join(", ")
            );
        }
    }
    let (applied, listed): (Vec<_>, Vec<_>) = r.user_changes.iter().partition(|c| c.applied);
    for (title, changes) in [
        ("existing users changed (update_users)", applied),
        (
            "existing users the source sets otherwise, left as they are (\"update_users\": true changes them)",
            listed,
        ),
    ] {
        if !changes.is_empty() {
            println!("{title}:");
            for c in changes {
                let shown = |v: &str| {
                    if v.is_empty() {
                        "(none)".to_string()
                    } else {
                        v.to_string()
                    }
                };
                println!(
                    "  {} {}: {} -> {}",
                    c.email,
                    c.field,
                    shown(&c.now),
                    shown(&c.source)
                );
            }
        }
    }
}
