//! The deal desk's port: approval policies, requests, delegations and the approval event log.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{AuditEntry, Created, IdempotentWrite};
use crate::app::AppResult;
use crate::domain::approval::PolicyVersion;
use crate::domain::approval_request::{ApprovalRequest, Delegation, RequestState};
use crate::domain::directory::{Role, UserId};
use crate::domain::ids::{ApprovalRequestId, DealId, DelegationId};
use crate::domain::pipeline::Segment;

/// Storage of deal-desk policies.
pub trait DealDeskStore: Send + Sync + 'static {
    /// Stores a policy version (its version taken concurrently -> ABORTED).
    fn insert_policy(
        &self,
        policy: &PolicyVersion,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// One version of a segment's policy, or its newest when `version` is `None`.
    fn get_policy(
        &self,
        segment: Segment,
        version: Option<i64>,
    ) -> impl Future<Output = AppResult<Option<Arc<PolicyVersion>>>> + Send;

    /// Inserts a new request with its events, closing `supersedes` (the request it resubmits,
    /// at the version read) in the same transaction. A concurrent change of `supersedes` ->
    /// ABORTED.
    fn insert_request(
        &self,
        request: &ApprovalRequest,
        supersedes: Option<(&ApprovalRequest, i64)>,
        events: Vec<EventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Stores many requests in bulk, in one transaction (generators): rows and approver
    /// queues as [`DealDeskStore::insert_request`] writes them, one audit row for the batch,
    /// and no events, since the event stream tells watchers what happens from now on.
    fn insert_requests(
        &self,
        requests: &[ApprovalRequest],
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// One request with its version.
    fn get_request(
        &self,
        id: ApprovalRequestId,
    ) -> impl Future<Output = AppResult<Option<(ApprovalRequest, i64)>>> + Send;

    /// Saves a changed request if it is still at `version` (else ABORTED, changing nothing),
    /// with its events, audit and idempotency record.
    fn save_request(
        &self,
        request: &ApprovalRequest,
        version: i64,
        events: Vec<EventDraft>,
        audit: Vec<AuditEntry>,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Requests, newest first, after the cursor (creation time, id).
    fn list_requests(
        &self,
        filter: RequestFilter,
        after: Option<(DateTime<Utc>, ApprovalRequestId)>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApprovalRequest>>> + Send;

    /// Ids of pending requests whose current step is due at or before `now`, not escalated.
    fn overdue_requests(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApprovalRequestId>>> + Send;

    /// Every request submitted in `[from, to)`.
    fn requests_submitted(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = AppResult<Vec<ApprovalRequest>>> + Send;

    /// What the gate needs about a deal's requests: whether one is pending, and the largest
    /// discount an approved (not superseded) request covers.
    fn deal_approvals(
        &self,
        deal: DealId,
    ) -> impl Future<Output = AppResult<(bool, Option<u32>)>> + Send;

    /// Inserts a delegation if `check` accepts it against every stored delegation overlapping
    /// its range (read in the same transaction, so two concurrent delegations cannot close a
    /// cycle together).
    fn insert_delegation(
        &self,
        delegation: &Delegation,
        check: impl FnOnce(&[Delegation]) -> AppResult<()> + Send,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// Delegations given by or to `user` (every one when `None`), newest first after the cursor.
    fn list_delegations(
        &self,
        user: Option<UserId>,
        after: Option<(DateTime<Utc>, DelegationId)>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<Delegation>>> + Send;

    /// The users (with their roles) who delegated to `delegate` for `day`.
    fn delegators_of(
        &self,
        delegate: UserId,
        day: NaiveDate,
    ) -> impl Future<Output = AppResult<Vec<(UserId, Role)>>> + Send;

    /// Approval events after `after` matching `filter`, oldest first, at most `limit`.
    fn approval_events(
        &self,
        after: i64,
        filter: &EventFilter,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApprovalEventRecord>>> + Send;
}

/// Which requests a listing returns.
#[derive(Debug, Clone)]
pub enum RequestFilter {
    /// The requests of a deal, optionally in one state.
    Deal(DealId, Option<RequestState>),
    /// Pending requests whose current step waits on any of these users or role queues, not
    /// requested by `requester_not`.
    Queue {
        /// Users whose seats count: the caller and whoever delegated to them.
        users: Vec<UserId>,
        /// Role queues.
        roles: Vec<Role>,
        /// The caller: their own requests are not in their queue.
        requester_not: UserId,
    },
}

/// What happened to a request, as stored in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Submitted.
    Submitted,
    /// A seat was decided.
    StepDecided,
    /// A step escalated.
    Escalated,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Withdrawn or superseded.
    Withdrawn,
}

/// An event to append with a change.
#[derive(Debug, Clone)]
pub struct EventDraft {
    /// What happened.
    pub kind: EventKind,
    /// The request it is about.
    pub request_id: ApprovalRequestId,
    /// The deal the request is on (watchers filter by it).
    pub deal_id: DealId,
    /// The step (0-based), for step events.
    pub step: Option<usize>,
    /// Who did it (`None`: the server).
    pub actor: Option<UserId>,
    /// In words.
    pub description: String,
    /// Who may care: every approver and role queue of the request.
    pub audience: (Vec<UserId>, Vec<Role>),
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEventRecord {
    /// Increasing id.
    pub id: i64,
    /// What happened.
    pub kind: EventKind,
    /// The request.
    pub request_id: ApprovalRequestId,
    /// Its deal.
    pub deal_id: DealId,
    /// The step (0-based).
    pub step: Option<usize>,
    /// Who did it.
    pub actor: Option<UserId>,
    /// In words.
    pub description: String,
    /// When it was appended.
    pub created_at: DateTime<Utc>,
}

/// Which events a watcher receives (all set filters must match).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Requests on which this user is an approver.
    pub approver: Option<UserId>,
    /// Requests with a step for this role queue.
    pub role: Option<Role>,
    /// This deal's requests.
    pub deal: Option<DealId>,
}
