//! The rows of the call table for ImportService.

use super::*;

/// The calls of ImportService, in the matrix's order.
pub(super) fn calls() -> Vec<Call> {
    vec![call!(
        "ImportService.ImportHistory",
        Needs::Nothing,
        |org, _, token| {
            use pb::import_history_request::Part;
            let mut import = org.c.import.clone();
            let messages = vec![
                pb::ImportHistoryRequest {
                    part: Some(Part::Settings(pb::ImportSettings {
                        pipeline: org.pipeline.name.clone(),
                        mapping_json: r#"{"source": "matrix"}"#.into(),
                        // A real import (of no rows), so the cell checks its audit row too.
                        validate_only: false,
                        ..Default::default()
                    })),
                },
                pb::ImportHistoryRequest {
                    part: Some(Part::FileChunk(pb::ImportFileChunk {
                        file_name: "deals.csv".into(),
                        kind: pb::import_file_chunk::Kind::GenericDeals as i32,
                        data: b"external_id,name,account,owner,stage,amount,currency,\
                close_date,created_at,lead_source,forecast_category,\
                loss_reason\n"
                            .to_vec(),
                    })),
                },
            ];
            done(
                import
                    .import_history(req(token, tokio_stream::iter(messages)))
                    .await,
            )
        }
    )]
}
