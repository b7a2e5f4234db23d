//! Faults that RPCs of one kind share (paging, request ids), one table per kind.

use super::*;

// ---------------------------------------------------------------------------------------------
// Faults that RPCs of one kind share, one table per kind: the RPCs with who calls them and a
// valid request, the fault's field and hostile values, and one loop (`shared_faults`) that
// sends each RPC's valid request with the fault in it.

/// Who sends an RPC's valid request, and the request.
type Valid = fn(&Fixture, &mut Rng) -> (Auth, Encoded);

/// One fault: the field it breaks (named by the refusal) and a hostile value for it, appended
/// to a valid request's bytes. Protobuf keeps the last value of a scalar field, so the server
/// decodes the valid request with only this field changed.
struct Fault {
    field: &'static str,
    append: fn(&mut Rng, u32, &mut Vec<u8>),
}

/// Paging: a negative page size, or a page token this server never issued.
const PAGE_FAULTS: &[Fault] = &[
    Fault {
        field: "page_size",
        append: |rng, number, out| {
            key(number, WireType::Varint, out);
            // An int32 is sign-extended to ten bytes, as prost writes it.
            encode_varint(bad_page_size(rng) as u64, out);
        },
    },
    Fault {
        field: "page_token",
        append: |rng, number, out| len_field(number, bad_page_token(rng).as_bytes(), out),
    },
];

/// Every List RPC with paging.
const PAGED: &[(&str, Valid)] = &[
    ("DirectoryService/ListUsers", |x, _| {
        (as_(&x.rep), (&pb::ListUsersRequest::default()).into())
    }),
    ("DirectoryService/ListApiTokens", |x, _| {
        (admin(x), (&valid::list_api_tokens(x)).into())
    }),
    ("PipelineService/ListPipelines", |x, _| {
        (as_(&x.rep), (&pb::ListPipelinesRequest::default()).into())
    }),
    ("DealService/ListDeals", |x, _| {
        (as_(&x.rep), (&pb::ListDealsRequest::default()).into())
    }),
    ("DealService/ListDealStageHistory", |x, _| {
        (as_(&x.rep), (&valid::list_deal_stage_history(x)).into())
    }),
    ("DealService/ListDealFieldHistory", |x, _| {
        (as_(&x.rep), (&valid::list_deal_field_history(x)).into())
    }),
    ("DealDeskService/ListApprovalRequests", |x, _| {
        (as_(&x.rep), (&valid::list_approval_requests(x)).into())
    }),
    ("DealDeskService/ListDelegations", |x, _| {
        (
            as_(&x.manager),
            (&pb::ListDelegationsRequest::default()).into(),
        )
    }),
    ("ForecastService/ListWinRateSnapshots", |x, _| {
        (as_(&x.rep), (&valid::list_win_rate_snapshots(x)).into())
    }),
    ("ForecastService/ListExchangeRates", |x, _| {
        (
            as_(&x.rep),
            (&pb::ListExchangeRatesRequest::default()).into(),
        )
    }),
    ("ForecastService/ListForecastSnapshots", |x, _| {
        (as_(&x.rep), (&valid::list_forecast_snapshots(x)).into())
    }),
];

/// Idempotency: a request id that is not a short printable key.
const REQUEST_ID_FAULTS: &[Fault] = &[Fault {
    field: "request_id",
    append: |rng, number, out| len_field(number, bad_request_id(rng).as_bytes(), out),
}];

/// Every create and transition that takes a request id.
const IDEMPOTENT: &[(&str, Valid)] = &[
    ("DirectoryService/CreateUser", |x, rng| {
        (admin(x), (&valid::create_user(x, rng)).into())
    }),
    ("PipelineService/CreatePipeline", |x, _| {
        (admin(x), (&valid::create_pipeline(x)).into())
    }),
    ("DealService/CreateDeal", |x, _| {
        (as_(&x.rep), (&valid::create_deal(x)).into())
    }),
    ("DealService/AdvanceDealStage", |x, _| {
        (as_(&x.rep), (&valid::advance_deal_stage(x)).into())
    }),
    ("DealService/CloseDeal", |x, _| {
        (as_(&x.rep), (&valid::close_deal(x)).into())
    }),
    ("DealDeskService/SubmitApprovalRequest", |x, _| {
        (as_(&x.rep), (&valid::submit_approval_request(x)).into())
    }),
    ("DealDeskService/ApproveApprovalStep", |x, _| {
        (as_(&x.manager), (&valid::approve_approval_step(x)).into())
    }),
    ("DealDeskService/WithdrawApprovalRequest", |x, _| {
        (as_(&x.rep), (&valid::withdraw_approval_request(x)).into())
    }),
    ("DealDeskService/CreateDelegation", |x, _| {
        (as_(&x.manager), (&valid::create_delegation(x)).into())
    }),
    ("ForecastService/ComputeWinRates", |x, _| {
        (admin(x), (&valid::compute_win_rates(x)).into())
    }),
    ("ForecastService/SnapshotForecast", |x, _| {
        (as_(&x.rep), (&valid::snapshot_forecast(x)).into())
    }),
];

/// A fault table: the faults of one kind and the RPCs they are sent to.
type FaultTable = (&'static [Fault], &'static [(&'static str, Valid)]);

/// The families of the fault tables: for each RPC of a table, its valid request with one of
/// the table's faults, refused as INVALID_ARGUMENT naming the fault's field.
pub(super) fn shared_faults(api: &Api, fx: &Arc<Fixture>, f: &mut Families) {
    let tables: [FaultTable; 2] = [(PAGE_FAULTS, PAGED), (REQUEST_ID_FAULTS, IDEMPOTENT)];
    for (faults, rpcs) in tables {
        for &(method, valid) in rpcs {
            let numbers: Vec<u32> = faults
                .iter()
                .map(|fault| api.field_number(method, fault.field))
                .collect();
            let names: Vec<&str> = faults.iter().map(|fault| fault.field).collect();
            let x = fx.clone();
            f.add_encoded(method, format!("bad {}", names.join(" or ")), move |rng| {
                let (auth, mut request) = valid(&x, rng);
                let i = rng.below(faults.len());
                (faults[i].append)(rng, numbers[i], &mut request.bytes);
                (auth, request, field(faults[i].field))
            });
        }
    }
}
