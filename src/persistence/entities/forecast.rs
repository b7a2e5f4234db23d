//! Win-rate snapshots and their entries, exchange rates, forecast calls and forecast snapshots.

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
        pub pulled_in: Option<i64>,
        pub overdue: Option<i64>,
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
