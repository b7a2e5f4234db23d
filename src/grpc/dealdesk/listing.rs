//! Which requests ListApprovalRequests lists: a deal's, the caller's queue, or the whole desk
//! narrowed by its filters; read from the request with every problem as a field violation.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::super::convert::{
    add_unknown_enum, enum_names, parse_name, parse_user_name, segment_from,
};
use super::convert::{request_state_from, time_from};
use crate::app::ports::DeskFilter;
use crate::domain::approval_request::RequestState;
use crate::domain::ids::DealId;
use crate::domain::{Problem, Violations};
use crate::proto as pb;

/// One kind of listing, with its filters.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Listing {
    /// The requests of a deal, optionally in one state.
    Deal(DealId, Option<RequestState>),
    /// What waits on the caller.
    Queue,
    /// The whole desk.
    Desk(DeskFilter),
}

/// The listing a request asks for.
pub(super) fn listing_from(req: &pb::ListApprovalRequestsRequest) -> Result<Listing, Violations> {
    let mut v = Violations::new();
    let deal = (!req.deal.is_empty())
        .then(|| {
            parse_name::<DealId>("deal", &req.deal)
                .map_err(|e| v.extend(e))
                .ok()
        })
        .flatten();
    if !req.deal.is_empty() && req.my_queue {
        v.add_as(
            Problem::ConflictingFields,
            "deal",
            "set at most one of `deal` and `my_queue` (neither lists the whole desk)",
        );
    }
    let state = request_state_from(req.state);
    if state.is_none() && req.state != 0 {
        add_unknown_enum(
            &mut v,
            "state",
            req.state,
            "request state",
            &enum_names(|e: pb::approval_request::State| e.as_str_name()),
        );
    }
    if state.is_some() && req.my_queue {
        v.add_as(
            Problem::ConflictingFields,
            "state",
            "filters a deal's requests or the whole desk; a queue holds pending requests only",
        );
    }
    let desk = desk_filter(req, state, &mut v);
    if !v.is_empty() {
        return Err(v);
    }
    Ok(match (deal, req.my_queue) {
        (Some(deal), _) => Listing::Deal(deal, state),
        (None, true) => Listing::Queue,
        (None, false) => Listing::Desk(desk),
    })
}

/// The whole desk's filters; each set with `deal` or `my_queue` is a violation.
fn desk_filter(
    req: &pb::ListApprovalRequestsRequest,
    state: Option<RequestState>,
    v: &mut Violations,
) -> DeskFilter {
    let segment = match req.segment {
        0 => None,
        value => segment_from(value).or_else(|| {
            add_unknown_enum(
                v,
                "segment",
                value,
                "segment",
                &enum_names(|e: pb::Segment| e.as_str_name()),
            );
            None
        }),
    };
    let approver = (!req.approver.is_empty())
        .then(|| {
            parse_user_name("approver", &req.approver)
                .map_err(|e| v.extend(e))
                .ok()
        })
        .flatten();
    let submitted_at_most: Option<DateTime<Utc>> = req
        .max_create_time
        .as_ref()
        .and_then(|t| time_from("max_create_time", Some(t), v));
    if !req.deal.is_empty() || req.my_queue {
        for (field, set) in [
            ("segment", req.segment != 0),
            ("approver", !req.approver.is_empty()),
            ("max_create_time", req.max_create_time.is_some()),
        ] {
            if set {
                v.add_as(
                    Problem::ConflictingFields,
                    field,
                    "filters the whole desk: leave `deal` and `my_queue` empty",
                );
            }
        }
    }
    DeskFilter {
        state,
        segment,
        approver,
        submitted_at_most,
    }
}

/// What a page token of the listing is bound to: every filter, and the caller (a queue is
/// theirs).
pub(super) fn query_parts(req: &pb::ListApprovalRequestsRequest, caller: Uuid) -> [String; 7] {
    [
        req.deal.clone(),
        if req.my_queue { "queue" } else { "" }.to_string(),
        req.state.to_string(),
        req.segment.to_string(),
        req.approver.clone(),
        req.max_create_time
            .as_ref()
            .map(|t| format!("{}.{}", t.seconds, t.nanos))
            .unwrap_or_default(),
        caller.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> pb::ListApprovalRequestsRequest {
        pb::ListApprovalRequestsRequest::default()
    }

    #[test]
    fn neither_deal_nor_queue_lists_the_whole_desk() {
        assert_eq!(
            listing_from(&request()),
            Ok(Listing::Desk(DeskFilter::default()))
        );
    }

    #[test]
    fn desk_filters_with_a_deal_or_a_queue_conflict() {
        let err = listing_from(&pb::ListApprovalRequestsRequest {
            my_queue: true,
            segment: pb::Segment::Smb.into(),
            ..request()
        })
        .unwrap_err();
        assert_eq!(err.reason(), "CONFLICTING_FIELDS");
        assert_eq!(err.0[0].field, "segment");
    }

    #[test]
    fn an_unknown_segment_lists_the_known_ones() {
        let err = listing_from(&pb::ListApprovalRequestsRequest {
            segment: 42,
            ..request()
        })
        .unwrap_err();
        assert_eq!(err.reason(), "UNKNOWN_VALUE");
        assert_eq!(
            err.0[0].description,
            "42 is not a known segment (one of: SEGMENT_SMB, SEGMENT_MID_MARKET, SEGMENT_ENTERPRISE)"
        );
    }

    #[test]
    fn the_page_token_is_bound_to_every_filter() {
        let caller = Uuid::nil();
        let base = query_parts(&request(), caller);
        for changed in [
            pb::ListApprovalRequestsRequest {
                segment: 1,
                ..request()
            },
            pb::ListApprovalRequestsRequest {
                approver: "users/x".into(),
                ..request()
            },
            pb::ListApprovalRequestsRequest {
                max_create_time: Some(prost_types::Timestamp::default()),
                ..request()
            },
            pb::ListApprovalRequestsRequest {
                state: 1,
                ..request()
            },
        ] {
            assert_ne!(query_parts(&changed, caller), base);
        }
    }
}
