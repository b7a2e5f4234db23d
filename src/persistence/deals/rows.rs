//! A deal's rows: the deal, its contacts and qualification items, and its stage history, to
//! and from their models; a page of deals loaded in three queries; new deals inserted in
//! multi-row statements.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::domain::deal::{Bant, Contact, Deal, DealFields, QualificationItem, StageHistoryEntry};
use crate::domain::directory::UserId;
use crate::domain::money::{Currency, Money};
use crate::persistence::CHUNK;
use crate::persistence::codec::uuid;
use crate::persistence::codec::*;
use crate::persistence::entities::{deal, deal_contact, deal_qualification, stage_history};

pub(super) fn money(minor: Option<i64>, currency: &Option<String>) -> Result<Option<Money>, DbErr> {
    match (minor, currency) {
        (Some(minor), Some(code)) => Ok(Some(Money {
            minor,
            currency: Currency::parse(code).ok_or_else(|| corrupt("currency", code))?,
        })),
        _ => Ok(None),
    }
}

pub(in crate::persistence) fn deal_row(d: &Deal) -> deal::ActiveModel {
    let f = &d.fields;
    deal::ActiveModel {
        id: Set(d.id.to_string()),
        display_name: Set(f.display_name.to_string()),
        account: Set(f.account.to_string()),
        search_text: Set(format!("{}\n{}", f.display_name, f.account).to_lowercase()),
        owner_id: Set(f.owner_id.0.to_string()),
        pipeline_id: Set(d.pipeline_id.to_string()),
        stage_id: Set(d.stage_id.clone()),
        amount_minor: Set(f.amount.map(|m| m.minor)),
        currency: Set(f.currency().map(|c| c.code().to_string())),
        close_date: Set(f.close_date),
        lead_source: Set(f.lead_source.map(|s| encode_lead_source(s).to_string())),
        next_step: Set(f.next_step.clone()),
        next_step_date: Set(f.next_step_date),
        bant_budget: Set(f.bant.budget.clone()),
        bant_authority: Set(f.bant.authority.clone()),
        bant_need: Set(f.bant.need.clone()),
        bant_timeline: Set(f.bant.timeline.clone()),
        confirmed_budget_minor: Set(f.confirmed_budget.map(|m| m.minor)),
        discount_bps: Set(f.discount_bps as i32),
        forecast_category: Set(encode_category(f.forecast_category).to_string()),
        status: Set(encode_deal_status(d.status).to_string()),
        loss_reason: Set(d.loss_reason.clone()),
        created_at: Set(d.created_at),
        updated_at: Set(d.updated_at),
        stage_entered_at: Set(d.stage_entered_at),
        closed_at: Set(d.closed_at),
        version: Set(d.version),
        // Kept by `field_history::append`, never by a deal's own write.
        close_date_pushes: sea_orm::ActiveValue::NotSet,
    }
}

fn deal_from_row(
    row: deal::Model,
    contacts: Vec<Contact>,
    qualification: Vec<QualificationItem>,
) -> Result<Deal, DbErr> {
    Ok(Deal {
        id: uuid(&row.id)?,
        pipeline_id: uuid(&row.pipeline_id)?,
        stage_id: row.stage_id,
        status: decode_deal_status(&row.status)?,
        loss_reason: row.loss_reason,
        fields: DealFields {
            display_name: stored_text("deal name", row.display_name)?,
            account: stored_text("deal account", row.account)?,
            owner_id: UserId(uuid(&row.owner_id)?),
            amount: money(row.amount_minor, &row.currency)?,
            close_date: row.close_date,
            lead_source: row
                .lead_source
                .as_deref()
                .map(decode_lead_source)
                .transpose()?,
            next_step: row.next_step,
            next_step_date: row.next_step_date,
            bant: Bant {
                budget: row.bant_budget,
                authority: row.bant_authority,
                need: row.bant_need,
                timeline: row.bant_timeline,
            },
            confirmed_budget: money(row.confirmed_budget_minor, &row.currency)?,
            discount_bps: row.discount_bps.clamp(0, 10_000) as u32,
            forecast_category: decode_category(&row.forecast_category)?,
            contacts,
            qualification,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
        stage_entered_at: row.stage_entered_at,
        closed_at: row.closed_at,
        version: row.version,
    })
}

/// Assembles deals from their rows, with the children of all of them in two more queries.
pub(in crate::persistence) async fn load_deals<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<deal::Model>,
) -> Result<Vec<Deal>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut contacts: HashMap<String, Vec<Contact>> = HashMap::new();
    for c in deal_contact::Entity::find()
        .filter(deal_contact::Column::DealId.is_in(ids.clone()))
        .order_by_asc(deal_contact::Column::DealId)
        .order_by_asc(deal_contact::Column::Ordinal)
        .all(conn)
        .await?
    {
        contacts
            .entry(c.deal_id.clone())
            .or_default()
            .push(Contact {
                display_name: c.display_name,
                email: c.email,
                title: c.title,
                buying_role: decode_buying_role(&c.buying_role)?,
                department: c.department,
            });
    }
    let mut qualification: HashMap<String, Vec<QualificationItem>> = HashMap::new();
    for q in deal_qualification::Entity::find()
        .filter(deal_qualification::Column::DealId.is_in(ids))
        .all(conn)
        .await?
    {
        qualification
            .entry(q.deal_id.clone())
            .or_default()
            .push(QualificationItem {
                element: decode_element(&q.element)?,
                status: decode_status(&q.status)?,
                set_by: q.set_by.as_deref().map(uuid).transpose()?.map(UserId),
                set_at: q.set_at,
            });
    }
    rows.into_iter()
        .map(|row| {
            let mut items = qualification.remove(&row.id).unwrap_or_default();
            items.sort_by_key(|i| i.element);
            let contacts = contacts.remove(&row.id).unwrap_or_default();
            deal_from_row(row, contacts, items)
        })
        .collect()
}

/// Inserts new deals with their contacts and qualification items in multi-row statements,
/// calling `progress(done, total)` after each batch of deals.
pub(in crate::persistence) async fn insert_deal_rows(
    txn: &DatabaseTransaction,
    deals: &[Deal],
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<(), DbErr> {
    let mut done = 0;
    for chunk in deals.chunks(CHUNK) {
        deal::Entity::insert_many(chunk.iter().map(deal_row))
            .exec_without_returning(txn)
            .await?;
        let contacts: Vec<_> = chunk
            .iter()
            .flat_map(|d| {
                d.fields
                    .contacts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| deal_contact::ActiveModel {
                        deal_id: Set(d.id.to_string()),
                        ordinal: Set(i as i32),
                        display_name: Set(c.display_name.clone()),
                        email: Set(c.email.clone()),
                        title: Set(c.title.clone()),
                        buying_role: Set(encode_buying_role(c.buying_role).to_string()),
                        department: Set(c.department.clone()),
                    })
            })
            .collect();
        for part in contacts.chunks(CHUNK) {
            deal_contact::Entity::insert_many(part.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        let items: Vec<_> = chunk
            .iter()
            .flat_map(|d| {
                d.fields
                    .qualification
                    .iter()
                    .map(|q| deal_qualification::ActiveModel {
                        deal_id: Set(d.id.to_string()),
                        element: Set(encode_element(q.element).to_string()),
                        status: Set(encode_status(q.status).to_string()),
                        set_by: Set(q.set_by.map(|u| u.0.to_string())),
                        set_at: Set(q.set_at),
                    })
            })
            .collect();
        for part in items.chunks(CHUNK) {
            deal_qualification::Entity::insert_many(part.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        done += chunk.len();
        progress(done, deals.len());
    }
    Ok(())
}

/// Replaces a deal's contacts and qualification items inside `txn`.
pub(super) async fn write_children(
    txn: &DatabaseTransaction,
    d: &Deal,
    replace: bool,
) -> Result<(), DbErr> {
    let id = d.id.to_string();
    if replace {
        deal_contact::Entity::delete_many()
            .filter(deal_contact::Column::DealId.eq(id.clone()))
            .exec(txn)
            .await?;
        deal_qualification::Entity::delete_many()
            .filter(deal_qualification::Column::DealId.eq(id.clone()))
            .exec(txn)
            .await?;
    }
    if !d.fields.contacts.is_empty() {
        let rows = d
            .fields
            .contacts
            .iter()
            .enumerate()
            .map(|(i, c)| deal_contact::ActiveModel {
                deal_id: Set(id.clone()),
                ordinal: Set(i as i32),
                display_name: Set(c.display_name.clone()),
                email: Set(c.email.clone()),
                title: Set(c.title.clone()),
                buying_role: Set(encode_buying_role(c.buying_role).to_string()),
                department: Set(c.department.clone()),
            });
        deal_contact::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    if !d.fields.qualification.is_empty() {
        let rows = d
            .fields
            .qualification
            .iter()
            .map(|q| deal_qualification::ActiveModel {
                deal_id: Set(id.clone()),
                element: Set(encode_element(q.element).to_string()),
                status: Set(encode_status(q.status).to_string()),
                set_by: Set(q.set_by.map(|u| u.0.to_string())),
                set_at: Set(q.set_at),
            });
        deal_qualification::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

pub(crate) fn history_row(h: &StageHistoryEntry) -> stage_history::ActiveModel {
    stage_history::ActiveModel {
        deal_id: Set(h.deal_id.to_string()),
        pipeline_id: Set(h.pipeline_id.to_string()),
        from_stage: Set(h.from_stage.clone()),
        to_stage: Set(h.to_stage.clone()),
        changed_at: Set(h.at),
        actor_id: Set(h.actor.map(|a| a.0.to_string())),
        amount_minor: Set(h.amount.map(|m| m.minor)),
        currency: Set(h.amount.map(|m| m.currency.code().to_string())),
        close_date: Set(h.close_date),
        direction: Set(encode_direction(h.direction).to_string()),
        overridden: Set(h.overridden),
        justification: Set(h.justification.clone()),
        ..Default::default()
    }
}

pub(super) fn history_from_row(row: stage_history::Model) -> Result<StageHistoryEntry, DbErr> {
    Ok(StageHistoryEntry {
        sequence: row.id,
        deal_id: uuid(&row.deal_id)?,
        pipeline_id: uuid(&row.pipeline_id)?,
        from_stage: row.from_stage,
        to_stage: row.to_stage,
        at: row.changed_at,
        actor: row.actor_id.as_deref().map(uuid).transpose()?.map(UserId),
        amount: money(row.amount_minor, &row.currency)?,
        close_date: row.close_date,
        direction: decode_direction(&row.direction)?,
        overridden: row.overridden,
        justification: row.justification,
    })
}
