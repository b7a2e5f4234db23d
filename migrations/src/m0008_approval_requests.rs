//! Deal-desk requests, delegations and the approval event log.
//!
//! A request is one row: the columns the service filters on (deal, state, the current step's
//! due time, creation time) beside the typed request as a document. `approval_queue` indexes
//! who the current step waits on (a user or a role queue) for "my queue"; `lock_version` makes
//! every change conditional on the version read, so two replicas never both decide or escalate
//! the same step. `approval_events` is append-only; `seq` numbers its rows in commit order
//! (assigned after commit by the service's sequencer), and the stream reads by `seq`.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_approval_requests"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("approval_requests")
                .col(string_len("id", 36).primary_key())
                .col(string_len("deal_id", 36))
                .col(string_len("requester_id", 36))
                .col(string_len("segment", 16))
                .col(string_len("state", 16))
                .col(integer("discount_bps"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("next_due_at"))
                .col(big_integer("lock_version"))
                .col(text("document"))
                .foreign_key(
                    ForeignKey::create()
                        .from("approval_requests", "deal_id")
                        .to("deals", "id"),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("ix_approval_requests_deal", &["deal_id", "created_at"][..]),
            ("ix_approval_requests_due", &["state", "next_due_at"][..]),
            ("ix_approval_requests_created", &["created_at"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table("approval_requests");
            for col in cols {
                index.col(*col);
            }
            m.create_index(index.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table("approval_queue")
                .col(string_len("request_id", 36))
                // `user:{uuid}` or `role:{ROLE}`.
                .col(string_len("waiting_on", 64))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("request_id").col("waiting_on"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_approval_queue_waiting_on")
                .table("approval_queue")
                .col("waiting_on")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("delegations")
                .col(string_len("id", 36).primary_key())
                .col(string_len("delegator_id", 36))
                .col(string_len("delegate_id", 36))
                .col(date("start_date"))
                .col(date("end_date"))
                .col(string_len("creator_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_delegations_delegate")
                .table("delegations")
                .col("delegate_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("approval_events")
                .col(big_pk_auto("id"))
                .col(big_integer_null("seq"))
                .col(string_len("request_id", 36))
                .col(string_len("deal_id", 36))
                .col(string_len("kind", 16))
                .col(integer_null("step"))
                .col(string_len_null("actor_id", 36))
                .col(text("description"))
                // ` user:{uuid} role:{ROLE} ...` with a space on each side of every entry.
                .col(text("audience"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_approval_events_seq")
                .table("approval_events")
                .col("seq")
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "approval_events",
            "delegations",
            "approval_queue",
            "approval_requests",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
