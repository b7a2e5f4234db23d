//! Pipelines, their stages and the stages' exit criteria.

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
