//! Test fixtures, each written once: money, dates and masks on the wire, the organisation a
//! test runs in, pipelines and stages, approval steps, deals and API tokens. The harness (a
//! server per test, users with tokens, error assertions) is in `helpers`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use dealdesk::proto::google::r#type::Date;
use prost_types::{FieldMask, Timestamp};
use tonic::Status;

pub use crate::common::{money, stage, usd};
use crate::helpers::{Person, TestApp, authed, person, role_to_wire};

// ---------------------------------------------------------------------------------------------
// Money, dates, masks.

/// An amount in US cents, as the domain holds it (for seeding through the store).
pub fn domain_usd(minor: i64) -> dealdesk::domain::money::Money {
    use dealdesk::domain::money::{Currency, Money};
    Money {
        minor,
        currency: Currency::USD,
    }
}

/// An RFC 3339 instant.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A `YYYY-MM-DD` day.
pub fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// Today in UTC, the server's default calendar.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A date on the wire.
pub fn date(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// The date `days` from today (before it when negative), on the wire.
pub fn in_days(days: i64) -> Option<Date> {
    Some(date(today() + chrono::Duration::days(days)))
}

/// An instant on the wire.
pub fn timestamp(at: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    })
}

/// An update mask of `paths`.
pub fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// People.

/// A valid user to create (`active` unset: active by default).
pub fn new_user(email: &str, role: pb::Role) -> pb::User {
    pb::User {
        display_name: "Nia New".into(),
        email: email.into(),
        role: role as i32,
        ..Default::default()
    }
}

/// The reporting tree tests run in: leader -> manager -> reps and leader -> peer_manager ->
/// peers, then staff outside the tree (deal desk, finance, legal, ...). Built by [`OrgBuilder`]
/// with only the people a test asks for, in the order above.
pub struct Org {
    pub leader: Person,
    pub manager: Person,
    /// The manager's reps, in the order they were created.
    pub reps: Vec<Person>,
    pub peer_manager: Person,
    /// The peer manager's reps: another team, whose deals the manager's reps do not see.
    pub peers: Vec<Person>,
    /// People outside the tree, in the order asked for.
    pub staff: Vec<Person>,
}

/// What an [`Org`] holds: one rep, one peer and no staff unless told otherwise.
pub struct OrgBuilder {
    reps: usize,
    peers: usize,
    staff: Vec<Role>,
}

impl Org {
    pub fn builder() -> OrgBuilder {
        OrgBuilder {
            reps: 1,
            peers: 1,
            staff: Vec::new(),
        }
    }

    /// The manager's first rep.
    pub fn rep(&self) -> &Person {
        &self.reps[0]
    }

    /// The manager's second rep.
    pub fn second_rep(&self) -> &Person {
        &self.reps[1]
    }

    /// The peer manager's first rep.
    pub fn peer(&self) -> &Person {
        &self.peers[0]
    }

    /// The first staff member of `role`.
    #[track_caller]
    pub fn staff(&self, role: Role) -> &Person {
        let wire = role_to_wire(role) as i32;
        self.staff
            .iter()
            .find(|p| p.user.role == wire)
            .unwrap_or_else(|| panic!("the org was built without a {role:?}"))
    }

    pub fn desk(&self) -> &Person {
        self.staff(Role::DealDesk)
    }

    pub fn finance(&self) -> &Person {
        self.staff(Role::Finance)
    }

    pub fn legal(&self) -> &Person {
        self.staff(Role::Legal)
    }
}

impl OrgBuilder {
    /// How many reps report to the manager (at least one).
    pub fn reps(mut self, n: usize) -> Self {
        self.reps = n;
        self
    }

    /// How many reps report to the peer manager.
    pub fn peers(mut self, n: usize) -> Self {
        self.peers = n;
        self
    }

    /// Staff outside the tree, one per role given.
    pub fn staff(mut self, roles: &[Role]) -> Self {
        self.staff = roles.to_vec();
        self
    }

    /// Creates the people, each with a token.
    pub async fn build(self, app: &TestApp) -> Org {
        let leader = person(app, Role::Leader, None).await;
        let manager = person(app, Role::Manager, Some(&leader)).await;
        let mut reps = Vec::new();
        for _ in 0..self.reps {
            reps.push(person(app, Role::Rep, Some(&manager)).await);
        }
        let peer_manager = person(app, Role::Manager, Some(&leader)).await;
        let mut peers = Vec::new();
        for _ in 0..self.peers {
            peers.push(person(app, Role::Rep, Some(&peer_manager)).await);
        }
        let mut staff = Vec::new();
        for role in self.staff {
            staff.push(person(app, role, None).await);
        }
        Org {
            leader,
            manager,
            reps,
            peer_manager,
            peers,
            staff,
        }
    }
}

/// The API tokens of `user` (a `users/{id}` name), listed by the admin.
pub async fn api_tokens(app: &TestApp, user: &str) -> Vec<pb::ApiToken> {
    app.directory()
        .await
        .list_api_tokens(authed(
            &app.admin_token,
            pb::ListApiTokensRequest {
                parent: user.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .api_tokens
}

/// Revokes the token `name` (`users/{id}/apiTokens/{id}`) as the admin.
pub async fn revoke_api_token(app: &TestApp, name: &str) {
    app.directory()
        .await
        .revoke_api_token(authed(
            &app.admin_token,
            pb::RevokeApiTokenRequest { name: name.into() },
        ))
        .await
        .unwrap();
}

/// Revokes every API token of `user` (a `users/{id}` name) as the admin.
pub async fn revoke_api_tokens(app: &TestApp, user: &str) {
    for token in api_tokens(app, user).await {
        revoke_api_token(app, &token.name).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Pipelines and approval steps.

/// The pipeline of `segment`'s template, created by the admin.
pub async fn template_pipeline(app: &TestApp, segment: pb::Segment) -> pb::Pipeline {
    let template = app
        .pipelines()
        .await
        .list_pipeline_templates(authed(
            &app.admin_token,
            pb::ListPipelineTemplatesRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .templates
        .into_iter()
        .find(|t| t.segment == segment as i32)
        .expect("a template for the segment");
    create_pipeline(app, template).await
}

/// Creates `pipeline` as the admin.
pub async fn create_pipeline(app: &TestApp, pipeline: pb::Pipeline) -> pb::Pipeline {
    app.pipelines()
        .await
        .create_pipeline(authed(
            &app.admin_token,
            pb::CreatePipelineRequest {
                pipeline: Some(pipeline),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// A stage without exit criteria whose default probability is `bps`.
/// The id of a pipeline from its resource name (`pipelines/{id}`), for seeding through the store.
pub fn pipeline_uuid(pipeline: &pb::Pipeline) -> uuid::Uuid {
    uuid::Uuid::parse_str(pipeline.name.trim_start_matches("pipelines/")).unwrap()
}

pub fn stage_at(id: &str, position: i32, kind: pb::stage::Kind, bps: i32) -> pb::Stage {
    pb::Stage {
        default_probability_bps: bps,
        ..stage(id, position, kind, vec![])
    }
}

/// An approval step decided by `approvers` under `mode`, 24 hours to decide.
pub fn step(
    name: &str,
    approvers: Vec<pb::Approver>,
    mode: pb::approval_step::Mode,
) -> pb::ApprovalStep {
    pb::ApprovalStep {
        name: name.into(),
        approvers,
        mode: mode as i32,
        sla_hours: 24,
    }
}

/// An approver found by their relation to the deal's owner.
pub fn relation(r: pb::approver::Relation) -> pb::Approver {
    pb::Approver {
        approver: Some(pb::approver::Approver::Relation(r as i32)),
    }
}

/// An approver queue of everyone holding `role`.
pub fn queue(role: pb::Role) -> pb::Approver {
    pb::Approver {
        approver: Some(pb::approver::Approver::RoleQueue(role as i32)),
    }
}

/// Creates `policy` as the holder of `token`: a new version of its segment's policy.
pub async fn create_policy(
    app: &TestApp,
    token: &str,
    policy: pb::ApprovalPolicy,
) -> Result<pb::ApprovalPolicy, Status> {
    app.deal_desk()
        .await
        .create_approval_policy(authed(
            token,
            pb::CreateApprovalPolicyRequest {
                policy: Some(policy),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Deals.

/// A deal named `name` of the account "Acme Corp" in `pipeline`'s first stage, nothing else set.
pub fn deal_in(pipeline: &pb::Pipeline, name: &str) -> pb::Deal {
    pb::Deal {
        display_name: name.into(),
        account: "Acme Corp".into(),
        pipeline: pipeline.name.clone(),
        ..Default::default()
    }
}

/// Creates `deal` as the holder of `token`, without a request id.
pub async fn try_create_deal(
    app: &TestApp,
    token: &str,
    deal: pb::Deal,
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .create_deal(authed(
            token,
            pb::CreateDealRequest {
                deal: Some(deal),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// As [`try_create_deal`], which must succeed.
pub async fn create_deal(app: &TestApp, token: &str, deal: pb::Deal) -> pb::Deal {
    try_create_deal(app, token, deal).await.unwrap()
}

/// A plain move of the deal `name` to `target`, without etag, override or request id.
pub async fn move_to(
    app: &TestApp,
    token: &str,
    name: &str,
    target: &str,
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .advance_deal_stage(authed(
            token,
            pb::AdvanceDealStageRequest {
                name: name.into(),
                target_stage: target.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// Closes the deal `name` as won.
pub async fn close_won(app: &TestApp, token: &str, name: &str) -> Result<pb::Deal, Status> {
    close_deal(
        app,
        token,
        pb::CloseDealRequest {
            name: name.into(),
            outcome: pb::close_deal_request::Outcome::Won as i32,
            ..Default::default()
        },
    )
    .await
}

/// Closes the deal `name` as lost for `reason`.
pub async fn close_lost(
    app: &TestApp,
    token: &str,
    name: &str,
    reason: &str,
) -> Result<pb::Deal, Status> {
    close_deal(
        app,
        token,
        pb::CloseDealRequest {
            name: name.into(),
            outcome: pb::close_deal_request::Outcome::Lost as i32,
            loss_reason: reason.into(),
            ..Default::default()
        },
    )
    .await
}

pub async fn close_deal(
    app: &TestApp,
    token: &str,
    request: pb::CloseDealRequest,
) -> Result<pb::Deal, Status> {
    app.deals()
        .await
        .close_deal(authed(token, request))
        .await
        .map(|r| r.into_inner())
}

/// Deals with their stage and field history, as [`insert_book`] writes them.
#[derive(Default)]
pub struct Book {
    pub deals: Vec<dealdesk::domain::deal::Deal>,
    pub history: Vec<dealdesk::domain::deal::StageHistoryEntry>,
    pub fields: Vec<dealdesk::domain::deal_history::FieldHistoryEntry>,
}

/// One deal with its stage rows and field rows.
pub type BookDeal = (
    dealdesk::domain::deal::Deal,
    Vec<dealdesk::domain::deal::StageHistoryEntry>,
    Vec<dealdesk::domain::deal_history::FieldHistoryEntry>,
);

impl Book {
    /// Adds a deal with its rows.
    pub fn add(&mut self, (deal, history, fields): BookDeal) {
        self.deals.push(deal);
        self.history.extend(history);
        self.fields.extend(fields);
    }

    /// Writes the book, its stage rows in time order, straight to the store ([`insert_book`]).
    pub async fn insert(mut self, app: &TestApp) {
        self.history.sort_by_key(|h| h.at);
        insert_book(app, &self.deals, &self.history, &self.fields).await;
    }
}

/// Writes deals with their stage and field history straight to the store, as an import would:
/// the hand-built past that forecast tests read.
pub async fn insert_book(
    app: &TestApp,
    deals: &[dealdesk::domain::deal::Deal],
    history: &[dealdesk::domain::deal::StageHistoryEntry],
    fields: &[dealdesk::domain::deal_history::FieldHistoryEntry],
) {
    use dealdesk::app::ports::{AuditEntry, DealStore};
    let audit = AuditEntry {
        actor: None,
        action: "Test",
        resource: "deals".into(),
        detail: String::new(),
        change: None,
    };
    app.app
        .store
        .insert_book(deals, history, fields, audit)
        .await
        .unwrap();
}
