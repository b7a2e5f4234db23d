//! Deals and what hangs off them: contacts, qualification items, stage and field history, events
//! and their ids in an imported CRM.

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
