//! The deal desk's tables: approval policies, requests, their approver queue, delegations and
//! events.

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
