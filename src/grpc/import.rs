//! ImportService: the client-streaming import. Reads the settings and the file chunks, then
//! hands the whole import to the use case.

use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

use super::convert::parse_name;
use super::{authenticate, invalid};
use crate::app::App;
use crate::app::imports::{
    FileKind, ImportReport, ImportRequest, MAX_IMPORT_BYTES, SourceFile, TextEncoding,
};
use crate::app::names::user_name;
use crate::app::ports::Store;
use crate::domain::Problem;
use crate::domain::Violations;
use crate::domain::ids::PipelineId;
use crate::proto::import_history_request::Part;
use crate::proto::{self as pb, import_service_server::ImportService};

/// The ImportService adapter.
#[derive(Debug, Clone)]
pub struct ImportApi<S> {
    app: App<S>,
}

impl<S> ImportApi<S> {
    /// The adapter over `app`.
    pub fn new(app: App<S>) -> Self {
        Self { app }
    }
}

fn kind_from(value: i32) -> Option<FileKind> {
    use pb::import_file_chunk::Kind;
    Some(match Kind::try_from(value).ok()? {
        Kind::Unspecified => return None,
        Kind::SalesforceOpportunity => FileKind::SalesforceOpportunity,
        Kind::SalesforceOpportunityHistory => FileKind::SalesforceOpportunityHistory,
        Kind::SalesforceUser => FileKind::SalesforceUser,
        Kind::HubspotDeals => FileKind::HubspotDeals,
        Kind::GenericDeals => FileKind::GenericDeals,
        Kind::GenericStageHistory => FileKind::GenericStageHistory,
        Kind::SalesforceUserRole => FileKind::SalesforceUserRole,
        Kind::SalesforceAccount => FileKind::SalesforceAccount,
    })
}

fn report_to_wire(r: ImportReport) -> pb::ImportReport {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    pb::ImportReport {
        source: r.source,
        validate_only: r.validate_only,
        rows_read: count(r.rows_read),
        rows_skipped: count(r.rows_skipped),
        deals_created: count(r.deals_created),
        deals_updated: count(r.deals_updated),
        deals_unchanged: count(r.deals_unchanged),
        stage_changes_added: count(r.stage_changes_added),
        users_created: count(r.users_created),
        users_updated: count(r.users_updated),
        dropped: r
            .dropped
            .into_iter()
            .map(|d| pb::DroppedValue {
                what: d.what,
                value: d.value,
                count: count(d.count),
            })
            .collect(),
        user_changes: r
            .user_changes
            .into_iter()
            .map(|c| pb::UserChange {
                user: user_name(c.user),
                applied: c.applied,
                email: c.email,
                field: c.field.to_string(),
                current_value: c.now,
                source_value: c.source,
            })
            .collect(),
        manager_choices: r
            .manager_choices
            .into_iter()
            .map(|c| pb::ManagerChoice {
                role: c.role,
                chosen: c.chosen,
                candidates: c.candidates,
            })
            .collect(),
    }
}

fn check_file_name(name: &str) -> Result<(), Status> {
    let chars = name.chars().count();
    if chars == 0 || chars > 255 || name.chars().any(char::is_control) {
        return Err(invalid(Violations::one_as(
            Problem::BadText,
            "file_chunk.file_name",
            "must be 1 to 255 characters without control characters",
        )));
    }
    Ok(())
}

/// Reads the stream: settings first, then the files, chunk by chunk.
async fn read_stream(
    stream: &mut Streaming<pb::ImportHistoryRequest>,
) -> Result<(pb::ImportSettings, Vec<SourceFile>), Status> {
    let settings_first = || {
        invalid(Violations::one_as(
            Problem::BadStream,
            "settings",
            "must be sent once, in the first message",
        ))
    };
    let mut settings = None;
    let mut files: Vec<SourceFile> = Vec::new();
    let mut total = 0usize;
    while let Some(message) = stream.message().await? {
        match message.part {
            Some(Part::Settings(s)) if settings.is_none() => settings = Some(s),
            Some(Part::Settings(_)) => return Err(settings_first()),
            Some(Part::FileChunk(_)) if settings.is_none() => return Err(settings_first()),
            Some(Part::FileChunk(chunk)) => {
                total += chunk.data.len();
                if total > MAX_IMPORT_BYTES {
                    return Err(invalid(Violations::one_as(
                        Problem::TooMany,
                        "file_chunk.data",
                        format!(
                            "the files together exceed {} MiB",
                            MAX_IMPORT_BYTES / (1024 * 1024)
                        ),
                    )));
                }
                let kind = kind_from(chunk.kind).ok_or_else(|| {
                    invalid(Violations::one_as(
                        Problem::UnknownValue,
                        "file_chunk.kind",
                        "must be a known kind",
                    ))
                })?;
                match files.last_mut() {
                    Some(file) if file.name == chunk.file_name => {
                        if file.kind != kind {
                            return Err(invalid(Violations::one_as(
                                Problem::BadStream,
                                "file_chunk.kind",
                                "differs from the kind of the file's first chunk",
                            )));
                        }
                        file.bytes.extend_from_slice(&chunk.data);
                    }
                    _ => {
                        check_file_name(&chunk.file_name)?;
                        if files.iter().any(|f| f.name == chunk.file_name) {
                            return Err(invalid(Violations::one_as(
                                Problem::BadStream,
                                "file_chunk.file_name",
                                "was sent before: send each file's chunks one after another",
                            )));
                        }
                        files.push(SourceFile {
                            name: chunk.file_name,
                            kind,
                            bytes: chunk.data,
                        });
                    }
                }
            }
            None => {
                return Err(invalid(Violations::one_as(
                    Problem::MissingField,
                    "part",
                    "must be settings or file_chunk",
                )));
            }
        }
    }
    Ok((settings.ok_or_else(settings_first)?, files))
}

#[tonic::async_trait]
impl<S: Store> ImportService for ImportApi<S> {
    #[instrument(skip_all)]
    async fn import_history(
        &self,
        request: Request<Streaming<pb::ImportHistoryRequest>>,
    ) -> Result<Response<pb::ImportReport>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        // Refuse before reading what may be many megabytes.
        self.app.may_import(&principal)?;
        let (settings, files) = read_stream(&mut request.into_inner()).await?;
        let pipeline =
            parse_name::<PipelineId>("settings.pipeline", &settings.pipeline).map_err(invalid)?;
        let encoding = match settings.encoding.trim() {
            "" => None,
            name => Some(TextEncoding::parse(name).map_err(|why| {
                invalid(Violations::one_as(
                    Problem::UnknownValue,
                    "settings.encoding",
                    why,
                ))
            })?),
        };
        let report = self
            .app
            .import_history(
                &principal,
                ImportRequest {
                    pipeline,
                    mapping_name: "mapping".into(),
                    mapping: settings.mapping_json,
                    files,
                    validate_only: settings.validate_only,
                    encoding,
                },
                |_| {},
            )
            .await?;
        tracing::info!(
            source = %report.source,
            created = report.deals_created,
            updated = report.deals_updated,
            validate_only = report.validate_only,
            "import done"
        );
        Ok(Response::new(report_to_wire(report)))
    }
}
