//! sea-orm entities: one module per table of migrations/. Only persistence sees these; the
//! domain has its own types and the store converts between them.

/// `users`.
pub mod user {
    use sea_orm::entity::prelude::*;

    /// A row of `users`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub email: String,
        pub role: String,
        pub manager_id: Option<String>,
        pub active: bool,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `api_tokens`.
pub mod api_token {
    use sea_orm::entity::prelude::*;

    /// A row of `api_tokens`: the hash of a secret, never the secret.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub display_name: String,
        pub secret_hash: String,
        pub created_at: ChronoDateTimeUtc,
        pub revoked_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `pipelines`.
pub mod pipeline {
    use sea_orm::entity::prelude::*;

    /// A row of `pipelines`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pipelines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub segment: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `stages`.
pub mod stage {
    use sea_orm::entity::prelude::*;

    /// A row of `stages`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pipeline_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub stage_id: String,
        pub position: i32,
        pub display_name: String,
        pub buyer_evidence: String,
        pub owner_role: String,
        pub default_probability_bps: i32,
        pub stale_after_days: Option<i32>,
        pub kind: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `exit_criteria`: one typed rule per row; the columns a kind does not use are NULL.
pub mod exit_criterion {
    use sea_orm::entity::prelude::*;

    /// A row of `exit_criteria`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "exit_criteria")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pipeline_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub stage_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ordinal: i32,
        pub kind: String,
        pub deal_field: Option<String>,
        pub buying_role: Option<String>,
        pub min_departments: Option<i32>,
        pub qualification_element: Option<String>,
        pub min_status: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_events`: append-only.
pub mod audit_event {
    use sea_orm::entity::prelude::*;

    /// A row of `audit_events`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub actor_id: Option<String>,
        pub action: String,
        pub resource: String,
        pub detail: String,
        pub created_at: ChronoDateTimeUtc,
        pub field: Option<String>,
        pub old_value: Option<String>,
        pub new_value: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `idempotency_keys`: the first answer of each create made with a request id.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    /// A row of `idempotency_keys`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub actor_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub fingerprint: String,
        pub response: Vec<u8>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deals`.
pub mod deal {
    use sea_orm::entity::prelude::*;

    /// A row of `deals`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub account: String,
        pub search_text: String,
        pub owner_id: String,
        pub pipeline_id: String,
        pub stage_id: String,
        pub amount_minor: Option<i64>,
        pub currency: Option<String>,
        pub close_date: Option<ChronoDate>,
        pub lead_source: Option<String>,
        pub next_step: String,
        pub next_step_date: Option<ChronoDate>,
        pub bant_budget: String,
        pub bant_authority: String,
        pub bant_need: String,
        pub bant_timeline: String,
        pub confirmed_budget_minor: Option<i64>,
        pub discount_bps: i32,
        pub forecast_category: String,
        pub status: String,
        pub loss_reason: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        pub stage_entered_at: ChronoDateTimeUtc,
        pub closed_at: Option<ChronoDateTimeUtc>,
        pub version: i64,
        /// Close-date pushes so far (m0019), written by `field_history::append`.
        pub close_date_pushes: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deal_contacts`.
pub mod deal_contact {
    use sea_orm::entity::prelude::*;

    /// A row of `deal_contacts`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deal_contacts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub deal_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ordinal: i32,
        pub display_name: String,
        pub email: String,
        pub title: String,
        pub buying_role: String,
        pub department: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deal_qualification`.
pub mod deal_qualification {
    use sea_orm::entity::prelude::*;

    /// A row of `deal_qualification`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deal_qualification")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub deal_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub element: String,
        pub status: String,
        pub set_by: Option<String>,
        pub set_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `field_history`: append-only; every change of a deal's tracked fields.
pub mod field_history {
    use sea_orm::entity::prelude::*;

    /// A row of `field_history`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "field_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deal_id: String,
        pub changed_at: ChronoDateTimeUtc,
        pub actor_id: Option<String>,
        pub field: String,
        pub old_value: Option<String>,
        pub new_value: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `stage_history`: append-only; nothing updates or deletes its rows.
pub mod stage_history {
    use sea_orm::entity::prelude::*;

    /// A row of `stage_history`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stage_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deal_id: String,
        pub pipeline_id: String,
        pub from_stage: Option<String>,
        pub to_stage: String,
        pub changed_at: ChronoDateTimeUtc,
        pub actor_id: Option<String>,
        pub amount_minor: Option<i64>,
        pub currency: Option<String>,
        pub close_date: Option<ChronoDate>,
        pub direction: String,
        pub overridden: bool,
        pub justification: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `win_rate_snapshots`.
pub mod win_rate_snapshot {
    use sea_orm::entity::prelude::*;

    /// A row of `win_rate_snapshots`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "win_rate_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub pipeline_id: String,
        pub version: i64,
        pub current: bool,
        pub window_start: ChronoDate,
        pub window_end: ChronoDate,
        pub prior_weight: i32,
        pub creator_id: Option<String>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `win_rate_entries`: one stage (or segment) of a snapshot.
pub mod win_rate_entry {
    use sea_orm::entity::prelude::*;

    /// A row of `win_rate_entries`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "win_rate_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub snapshot_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ordinal: i32,
        pub segment_kind: String,
        pub segment_value: String,
        pub stage_id: String,
        pub n: i64,
        pub wins: i64,
        pub raw_rate: Option<f64>,
        pub smoothed_rate: f64,
        pub wilson_low: f64,
        pub wilson_high: f64,
        pub value_weighted_rate: Option<f64>,
        pub prior: f64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `exchange_rates`.
pub mod exchange_rate {
    use sea_orm::entity::prelude::*;

    /// A row of `exchange_rates`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "exchange_rates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub from_currency: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub to_currency: String,
        pub rate: f64,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `forecast_call_events`: append-only.
pub mod forecast_call_event {
    use sea_orm::entity::prelude::*;

    /// A row of `forecast_call_events`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "forecast_call_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub period: String,
        pub subject_id: String,
        pub author_id: String,
        pub kind: String,
        pub commit_minor: Option<i64>,
        pub best_case_minor: Option<i64>,
        pub currency: Option<String>,
        pub deal_id: Option<String>,
        pub include: bool,
        pub note: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `forecast_snapshots`.
pub mod forecast_snapshot {
    use sea_orm::entity::prelude::*;

    /// A row of `forecast_snapshots`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "forecast_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub period: String,
        pub scope: String,
        pub currency: String,
        pub taken_at: ChronoDateTimeUtc,
        pub taker_id: Option<String>,
        pub closed_won: i64,
        pub weighted_pipeline: i64,
        pub commit_amount: i64,
        pub best_case: i64,
        pub pipeline_amount: i64,
        pub omitted: i64,
        pub open_deals: i64,
        pub p10: i64,
        pub p50: i64,
        pub p90: i64,
        pub range_samples: i32,
        pub range_seed: i64,
        pub range_error: f64,
        pub period_forecast: Option<i64>,
        pub not_yet_created: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `forecast_snapshot_calls`.
pub mod forecast_snapshot_call {
    use sea_orm::entity::prelude::*;

    /// A row of `forecast_snapshot_calls`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "forecast_snapshot_calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub snapshot_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub own_commit: Option<i64>,
        pub manager_commit: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `approval_policies`: immutable versions.
pub mod approval_policy {
    use sea_orm::entity::prelude::*;

    /// A row of `approval_policies`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub document: String,
        pub creator_id: Option<String>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `approval_requests`: each request one document beside the columns filtered on.
pub mod approval_request {
    use sea_orm::entity::prelude::*;

    /// A row of `approval_requests`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub deal_id: String,
        pub requester_id: String,
        pub segment: String,
        pub state: String,
        pub discount_bps: i32,
        pub created_at: ChronoDateTimeUtc,
        pub next_due_at: Option<ChronoDateTimeUtc>,
        pub lock_version: i64,
        pub document: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `approval_queue`: who the current step of each pending request waits on.
pub mod approval_queue {
    use sea_orm::entity::prelude::*;

    /// A row of `approval_queue`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_queue")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub waiting_on: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `delegations`.
pub mod delegation {
    use sea_orm::entity::prelude::*;

    /// A row of `delegations`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "delegations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub delegator_id: String,
        pub delegate_id: String,
        pub start_date: ChronoDate,
        pub end_date: ChronoDate,
        pub creator_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `approval_events`: append-only; the id orders the stream.
pub mod approval_event {
    use sea_orm::entity::prelude::*;

    /// A row of `approval_events`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seq: Option<i64>,
        pub request_id: String,
        pub deal_id: String,
        pub kind: String,
        pub step: Option<i32>,
        pub actor_id: Option<String>,
        pub description: String,
        pub audience: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deal_events`: append-only; `seq` orders the stream.
pub mod deal_event {
    use sea_orm::entity::prelude::*;

    /// A row of `deal_events`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deal_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seq: Option<i64>,
        pub deal_id: String,
        pub pipeline_id: String,
        pub owner_id: String,
        pub kind: String,
        pub actor_id: Option<String>,
        pub from_stage: String,
        pub to_stage: String,
        pub direction: Option<String>,
        pub fields: String,
        pub description: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deal_external_ids`: the source id each imported deal came from.
pub mod deal_external_id {
    use sea_orm::entity::prelude::*;

    /// A row of `deal_external_ids`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deal_external_ids")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub source: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_id: String,
        pub deal_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `user_external_ids`: the source id each imported (or matched) user has in a source.
pub mod user_external_id {
    use sea_orm::entity::prelude::*;

    /// A row of `user_external_ids`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_external_ids")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub source: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_id: String,
        pub user_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
