//! Importing CRM history (admins only): read and plan through the pure [`crate::import`]
//! module against what is stored, then write the plan in one transaction with one audit row
//! (and one per user field `update_users` changes).
//! Any bad row refuses the whole import, listing every bad row; a validate-only import stops
//! before writing and answers what it would have done.

use super::names::{pipeline_name, user_name};
use super::ports::{AuditEntry, FieldChange, Store, UserFilter};
use super::{App, AppError, AppResult, Principal};
use crate::domain::Problem;
use crate::domain::directory::{User, UserId};
use crate::domain::ids::PipelineId;
use crate::import::plan::UserChange;
use crate::import::roles::ManagerChoice;
use crate::import::{self, Dropped, ImportPlan, Mapping, PlanContext};

// What the adapters (gRPC, the import command) hand in and read back: the import module sits
// under the app, and they reach it through here.
pub use crate::import::decode::TextEncoding;
pub use crate::import::{BadRows, FileKind, Location, MAX_IMPORT_BYTES, RowError, SourceFile};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The pipeline deals go into.
    pub pipeline: PipelineId,
    /// The mapping's name (a file name), for errors.
    pub mapping_name: String,
    /// The mapping document (JSON; empty for the defaults).
    pub mapping: String,
    /// The source's files.
    pub files: Vec<SourceFile>,
    /// Check everything and plan, but write nothing.
    pub validate_only: bool,
    /// The files' encoding when they have no byte-order mark, before the mapping's `encoding`
    /// (`None`: the mapping's, else UTF-8).
    pub encoding: Option<TextEncoding>,
}

/// What an import did (or, validate-only, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The source external ids belong to.
    pub source: String,
    /// Whether nothing was written.
    pub validate_only: bool,
    /// Data rows read.
    pub rows_read: usize,
    /// Rows left out on purpose.
    pub rows_skipped: usize,
    /// Deals created.
    pub deals_created: usize,
    /// Deals imported before and changed now.
    pub deals_updated: usize,
    /// Deals imported before and left as they were.
    pub deals_unchanged: usize,
    /// Stage history rows appended.
    pub stage_changes_added: usize,
    /// Users created.
    pub users_created: usize,
    /// Existing users whose manager or role the import changed (`update_users`).
    pub users_updated: usize,
    /// Existing users' fields the source sets otherwise: changed with `update_users`, else
    /// left as they are and only listed here.
    pub user_changes: Vec<UserChange>,
    /// Managers picked among several holders of a role.
    pub manager_choices: Vec<ManagerChoice>,
    /// Values left out or replaced, counted by value.
    pub dropped: Vec<Dropped>,
}

impl ImportReport {
    /// One line per reason values were left out or replaced (`lead source not mapped (left
    /// unset): 'Web' 43`).
    pub fn dropped_lines(&self) -> Vec<String> {
        import::report::lines(&self.dropped)
    }

    /// The report of `plan`.
    fn of(plan: &ImportPlan, validate_only: bool) -> Self {
        ImportReport {
            source: plan.source.clone(),
            validate_only,
            rows_read: plan.rows_read,
            rows_skipped: plan.rows_skipped,
            deals_created: plan.new_deals.len(),
            deals_updated: plan.changed_deals.len(),
            deals_unchanged: plan.unchanged_deals,
            stage_changes_added: plan.history.len(),
            users_created: plan.new_users.len(),
            users_updated: plan.changed_users.len(),
            user_changes: plan.user_changes.clone(),
            manager_choices: plan.manager_choices.clone(),
            dropped: plan.dropped.to_vec(),
        }
    }
}

/// How far an import has got, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProgress {
    /// The files are read: this many data rows.
    Read {
        /// Data rows read, headers aside.
        rows: usize,
    },
    /// The plan is made.
    Planned {
        /// Deals to create or change.
        deals: usize,
        /// Stage changes to append.
        stage_changes: usize,
        /// Users to create.
        users: usize,
    },
    /// Deals written so far (uncommitted until the end).
    Writing {
        /// Deals written so far.
        done: usize,
        /// Deals the plan writes in all.
        total: usize,
    },
}

/// One audit row per field of a user the import changes, as `UpdateUser` records them.
fn user_audits(plan: &ImportPlan, actor: Option<UserId>) -> Vec<AuditEntry> {
    plan.user_changes
        .iter()
        .filter(|c| c.applied)
        .map(|c| AuditEntry {
            actor,
            action: "UpdateUser",
            resource: user_name(c.user),
            detail: format!("import from {} (update_users)", plan.source),
            change: Some(FieldChange {
                field: c.field.to_string(),
                old: c.now.clone(),
                new: c.source.clone(),
            }),
        })
        .collect()
}

/// Reason of the INVALID_ARGUMENT that lists bad rows ([`AppError::ImportRowsInvalid`]).
pub const IMPORT_ROWS_INVALID: &str = "IMPORT_ROWS_INVALID";

/// The bad rows, counted and listed by file and line.
fn rows_invalid(errors: Vec<RowError>, files: &[String], rows_read: Option<usize>) -> AppError {
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    AppError::ImportRowsInvalid(BadRows::new(errors, &names, rows_read))
}

impl<S: Store> App<S> {
    /// Importing is for admins (RevOps, or a sync job's service account).
    pub fn may_import(&self, principal: &Principal) -> AppResult<()> {
        if principal.role().may_manage_directory() {
            Ok(())
        } else {
            Err(AppError::denied(
                "ADMIN_ONLY",
                "only admins import CRM history",
            ))
        }
    }

    /// Imports for `principal` (an admin).
    pub async fn import_history(
        &self,
        principal: &Principal,
        request: ImportRequest,
        progress: impl Fn(ImportProgress) + Send + Sync,
    ) -> AppResult<ImportReport> {
        self.may_import(principal)?;
        self.import_history_as(Some(principal.user.id), request, progress)
            .await
    }

    /// The pipeline an import writes into: INVALID_ARGUMENT if there is none.
    async fn import_pipeline(
        &self,
        id: crate::domain::ids::PipelineId,
    ) -> AppResult<std::sync::Arc<crate::domain::pipeline::Pipeline>> {
        self.store.get_pipeline(id).await?.ok_or_else(|| {
            AppError::invalid_field(Problem::UnknownReference, "pipeline", "no such pipeline")
        })
    }

    /// Imports on behalf of `actor` (`None`: the operator's CLI).
    pub async fn import_history_as(
        &self,
        actor: Option<UserId>,
        request: ImportRequest,
        progress: impl Fn(ImportProgress) + Send + Sync,
    ) -> AppResult<ImportReport> {
        let pipeline = self.import_pipeline(request.pipeline).await?;
        let mut errors = Vec::new();
        let mapping = Mapping::parse(&request.mapping_name, &request.mapping)
            .map_err(|e| errors.extend(e))
            .ok();
        let zone = self.calendar.zone;
        let options = match &mapping {
            Some(mapping) => mapping.read_options(request.encoding, zone),
            None => Mapping::default().read_options(request.encoding, zone),
        };
        let files: Vec<String> = request.files.iter().map(|f| f.name.clone()).collect();
        let book = match import::read(request.files, &options) {
            Ok((book, bad)) => {
                errors.extend(bad);
                book
            }
            Err(bad) => {
                errors.extend(bad);
                return Err(rows_invalid(errors, &files, None));
            }
        };
        let rows_read = Some(book.rows_read);
        progress(ImportProgress::Read {
            rows: book.rows_read,
        });
        let Some(mapping) = mapping else {
            return Err(rows_invalid(errors, &files, rows_read));
        };
        let source = mapping.source(book.format);
        let external_ids: Vec<String> = book.deals.iter().map(|d| d.external_id.clone()).collect();
        let existing = self.store.imported_deals(&source, &external_ids).await?;
        let user_links = self.store.imported_users(&source).await?;
        let users = self.all_users().await?;
        let plan = import::plan(
            &book,
            &PlanContext {
                pipeline: &pipeline,
                mapping: &mapping,
                users: &users,
                user_links: &user_links,
                existing: &existing,
                now: self.now(),
                zone,
            },
        );
        let plan = match plan {
            Ok(plan) if errors.is_empty() => plan,
            Ok(_) => return Err(rows_invalid(errors, &files, rows_read)),
            Err(bad) => {
                errors.extend(bad);
                return Err(rows_invalid(errors, &files, rows_read));
            }
        };
        progress(ImportProgress::Planned {
            deals: plan.new_deals.len() + plan.changed_deals.len(),
            stage_changes: plan.history.len(),
            users: plan.new_users.len(),
        });
        let report = ImportReport::of(&plan, request.validate_only);
        if request.validate_only {
            return Ok(report);
        }
        let audit = AuditEntry {
            actor,
            action: "ImportHistory",
            resource: pipeline_name(pipeline.id),
            detail: format!(
                "{}: {} deals created, {} updated, {} unchanged, {} stage changes, {} users \
                 created, {} updated, from {}",
                report.source,
                report.deals_created,
                report.deals_updated,
                report.deals_unchanged,
                report.stage_changes_added,
                report.users_created,
                report.users_updated,
                files.join(", ")
            ),
            change: None,
        };
        let mut audits = vec![audit];
        audits.extend(user_audits(&plan, actor));
        self.store
            .apply_import(&plan, audits, &|done, total| {
                progress(ImportProgress::Writing { done, total })
            })
            .await?;
        Ok(report)
    }

    /// The whole directory, page by page.
    async fn all_users(&self) -> AppResult<Vec<User>> {
        const PAGE: u64 = 500;
        let mut users: Vec<User> = Vec::new();
        loop {
            let page = self
                .store
                .list_users(UserFilter::default(), users.last().map(|u| u.id), PAGE)
                .await?;
            let full = page.len() as u64 == PAGE;
            users.extend(page);
            if !full {
                return Ok(users);
            }
        }
    }
}
