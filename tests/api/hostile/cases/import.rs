//! ImportService: a valid request of each RPC and the single faults that make it refused.

use super::*;

pub(in crate::hostile) fn import(fx: &Arc<Fixture>, f: &mut Families) {
    use pb::import_file_chunk::Kind;
    use pb::import_history_request::Part;
    let path = "/dealdesk.v1.ImportService/ImportHistory".to_string();
    f.covered.insert(path.clone());
    let settings = |fx: &Fixture| pb::ImportHistoryRequest {
        part: Some(Part::Settings(pb::ImportSettings {
            pipeline: fx.pipeline.clone(),
            mapping_json: String::new(),
            validate_only: false,
            ..Default::default()
        })),
    };
    let chunk = |name: &str, kind: Kind, data: Vec<u8>| pb::ImportHistoryRequest {
        part: Some(Part::FileChunk(pb::ImportFileChunk {
            file_name: name.into(),
            kind: kind as i32,
            data,
        })),
    };
    const HEADER: &str =
        "external_id,name,account,owner,stage,amount,currency,close_date,created_at\n";
    let row = |fx: &Fixture, amount: &str| {
        format!(
            "{HEADER}H-1,Hostile,Hostile Corp,{},{},{amount},USD,2027-01-31,2026-01-15T09:00:00Z\n",
            fx.rep.user.email, fx.template.stages[0].stage_id
        )
    };
    let x = fx.clone();
    f.list.push(Box::new(move |rng| {
        let mut caller = admin(&x);
        let mut messages = vec![
            settings(&x),
            chunk("deals.csv", Kind::GenericDeals, row(&x, "100").into_bytes()),
        ];
        let fault = rng.below(10);
        let mut detail = String::new();
        let expect = match fault {
            0 => {
                caller = Auth::None;
                Expect::Reason(Code::Unauthenticated, "MISSING_CREDENTIALS")
            }
            1 => {
                let callers = [&x.rep, &x.manager, &x.desk];
                let chosen = *pick(rng, &callers);
                caller = as_(chosen);
                Expect::Reason(Code::PermissionDenied, "ADMIN_ONLY")
            }
            2 => {
                messages.remove(0);
                field("settings")
            }
            3 => {
                messages.push(settings(&x));
                field("settings")
            }
            4 => {
                messages[0] = pb::ImportHistoryRequest {
                    part: Some(Part::Settings(pb::ImportSettings {
                        pipeline: bad_name(rng, "pipelines"),
                        ..Default::default()
                    })),
                };
                field("settings.pipeline")
            }
            5 => {
                messages[1] = chunk(
                    &control_text(rng),
                    Kind::GenericDeals,
                    row(&x, "1").into_bytes(),
                );
                field("file_chunk.file_name")
            }
            6 => {
                let amount = *pick(
                    rng,
                    &["-5", "9223372036854775807999", "1e400", "NaN", "12x", "0"],
                );
                detail = amount.to_string();
                messages[1] = chunk(
                    "deals.csv",
                    Kind::GenericDeals,
                    row(&x, amount).into_bytes(),
                );
                Expect::Reason(Code::InvalidArgument, "IMPORT_ROWS_INVALID")
            }
            7 => {
                let mut data = row(&x, "100").into_bytes();
                data.extend_from_slice(b"H-2,\xff\xfe,Bad,x,y,1,USD,2027-01-31,2026-01-15\n");
                messages[1] = chunk("deals.csv", Kind::GenericDeals, data);
                Expect::Code(Code::InvalidArgument)
            }
            8 => {
                messages[0] = pb::ImportHistoryRequest {
                    part: Some(Part::Settings(pb::ImportSettings {
                        pipeline: x.pipeline.clone(),
                        mapping_json: {
                            detail = pick(
                                rng,
                                &[
                                    "{",
                                    "[]",
                                    "{\"stages\": 5}",
                                    "\u{0}",
                                    "{\"source\": \"UPPER\"}",
                                ],
                            )
                            .to_string();
                            detail.clone()
                        },
                        validate_only: false,
                        ..Default::default()
                    })),
                };
                Expect::Code(Code::InvalidArgument)
            }
            _ => {
                messages[1] = chunk("deals.csv", Kind::Unspecified, row(&x, "100").into_bytes());
                Expect::Code(Code::InvalidArgument)
            }
        };
        Case {
            path: path.clone(),
            shape: Shape::ClientStream,
            auth: caller,
            messages: messages.iter().map(Message::encode_to_vec).collect(),
            expect,
            label: format!("import | fault {fault} {detail}"),
        }
    }));
}
