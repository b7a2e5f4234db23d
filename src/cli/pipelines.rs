//! `dealdesk pipelines`: list (ListPipelines), show (GetPipeline) and create from a built-in
//! template (ListPipelineTemplates, CreatePipeline).

use std::io::Write;

use super::table::{self, Align, Table};
use super::{ClientArgs, ClientError, Connection, Format, json};
use crate::proto as pb;

/// Options of `pipelines`.
#[derive(Debug, clap::Args)]
pub struct PipelinesArgs {
    /// Server, token and output format.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: PipelinesCommand,
}

/// The `pipelines` commands.
#[derive(Debug, clap::Subcommand)]
pub enum PipelinesCommand {
    /// Lists the pipelines, in creation order.
    List {
        /// Only pipelines of this segment.
        #[arg(long, value_enum)]
        segment: Option<Segment>,
    },
    /// Shows a pipeline with its stages and their exit criteria.
    Show {
        /// The pipeline (`pipelines/{id}`).
        pipeline: String,
    },
    /// Creates a pipeline from the built-in buyer-centric template of a segment (admins only).
    Create {
        /// The segment whose template to use.
        #[arg(long, value_enum)]
        template: Segment,
        /// The new pipeline's display name. Default: the template's.
        #[arg(long)]
        name: Option<String>,
        /// Idempotency key: a retry with the same key creates once.
        #[arg(long)]
        request_id: Option<String>,
    },
}

/// A market segment.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Segment {
    /// Small business.
    Smb,
    /// Mid-market.
    MidMarket,
    /// Enterprise.
    Enterprise,
}

impl Segment {
    fn wire(self) -> pb::Segment {
        match self {
            Segment::Smb => pb::Segment::Smb,
            Segment::MidMarket => pb::Segment::MidMarket,
            Segment::Enterprise => pb::Segment::Enterprise,
        }
    }
}

/// Runs one `pipelines` command.
pub async fn run(
    connection: &Connection,
    command: &PipelinesCommand,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let mut pipelines = connection.pipelines();
    let pipeline = match command {
        PipelinesCommand::List { segment } => {
            let request = pb::ListPipelinesRequest {
                page_size: 500,
                segment: segment.map_or(pb::Segment::Unspecified, Segment::wire) as i32,
                ..Default::default()
            };
            let page = pipelines.list_pipelines(request).await?.into_inner();
            return list(&page, format, out);
        }
        PipelinesCommand::Show { pipeline } => {
            let request = pb::GetPipelineRequest {
                name: pipeline.clone(),
            };
            pipelines.get_pipeline(request).await?.into_inner()
        }
        PipelinesCommand::Create {
            template,
            name,
            request_id,
        } => {
            let templates = pipelines
                .list_pipeline_templates(pb::ListPipelineTemplatesRequest {})
                .await?
                .into_inner()
                .templates;
            let mut pipeline = templates
                .into_iter()
                .find(|t| t.segment == template.wire() as i32)
                .ok_or_else(|| {
                    ClientError::usage("--template", "has no template on this server")
                })?;
            if let Some(name) = name {
                pipeline.display_name = name.clone();
            }
            let request = pb::CreatePipelineRequest {
                pipeline: Some(pipeline),
                request_id: request_id.clone().unwrap_or_default(),
            };
            pipelines.create_pipeline(request).await?.into_inner()
        }
    };
    match format {
        Format::Json => json::write_message(out, "dealdesk.v1.Pipeline", &pipeline),
        Format::Table => Ok(show(&pipeline, out)?),
    }
}

fn segment_label(segment: i32) -> String {
    pb::Segment::try_from(segment).map_or_else(
        |_| String::new(),
        |s| table::label(s.as_str_name(), "SEGMENT_"),
    )
}

fn list(
    page: &pb::ListPipelinesResponse,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    if format == Format::Json {
        return json::write_message(out, "dealdesk.v1.ListPipelinesResponse", page);
    }
    let mut rows = Table::new(&[
        ("PIPELINE", Align::Left),
        ("NAME", Align::Left),
        ("SEGMENT", Align::Left),
        ("STAGES", Align::Right),
        ("CREATED", Align::Left),
    ]);
    for pipeline in &page.pipelines {
        rows.row(vec![
            pipeline.name.clone(),
            pipeline.display_name.clone(),
            segment_label(pipeline.segment),
            pipeline.stages.len().to_string(),
            table::instant(pipeline.create_time.as_ref()),
        ]);
    }
    Ok(rows.write(out)?)
}

fn show(pipeline: &pb::Pipeline, out: &mut dyn Write) -> std::io::Result<()> {
    table::write_fields(
        out,
        &[
            ("Pipeline", pipeline.name.clone()),
            ("Name", pipeline.display_name.clone()),
            ("Segment", segment_label(pipeline.segment)),
            ("Created", table::instant(pipeline.create_time.as_ref())),
        ],
    )?;
    writeln!(out)?;
    let mut rows = Table::new(&[
        ("POS", Align::Right),
        ("STAGE", Align::Left),
        ("NAME", Align::Left),
        ("KIND", Align::Left),
        ("PROBABILITY", Align::Right),
        ("EXIT CRITERIA", Align::Left),
    ]);
    for stage in &pipeline.stages {
        let kind = pb::stage::Kind::try_from(stage.kind).map_or_else(
            |_| String::new(),
            |k| table::label(k.as_str_name(), "KIND_"),
        );
        let criteria: Vec<&str> = stage
            .exit_criteria
            .iter()
            .map(|c| c.description.as_str())
            .collect();
        rows.row(vec![
            stage.position.to_string(),
            stage.stage_id.clone(),
            stage.display_name.clone(),
            kind,
            table::bps(stage.default_probability_bps),
            criteria.join("; "),
        ]);
    }
    rows.write(out)
}
