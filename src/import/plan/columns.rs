//! The column names a bad row's error points at, per source format.

use crate::import::SourceFormat;

/// The column names errors use, per format.
pub(super) struct Columns {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) account: &'static str,
    pub(super) owner: &'static str,
    pub(super) stage: &'static str,
    pub(super) amount: &'static str,
    pub(super) currency: &'static str,
    pub(super) created: &'static str,
    pub(super) category: &'static str,
    pub(super) loss_reason: &'static str,
    pub(super) history_deal: &'static str,
    pub(super) history_stage: &'static str,
    pub(super) history_time: &'static str,
    pub(super) history_amount: &'static str,
}

pub(super) fn columns(format: SourceFormat) -> Columns {
    match format {
        SourceFormat::Salesforce => Columns {
            id: "Id",
            name: "Name",
            account: "AccountId",
            owner: "OwnerId",
            stage: "StageName",
            amount: "Amount",
            currency: "CurrencyIsoCode",
            created: "CreatedDate",
            category: "ForecastCategoryName",
            loss_reason: "Loss_Reason__c",
            history_deal: "OpportunityId",
            history_stage: "StageName",
            history_time: "CreatedDate",
            history_amount: "Amount",
        },
        SourceFormat::Hubspot => Columns {
            id: "Record ID",
            name: "Deal Name",
            account: "Associated Company",
            owner: "Deal owner",
            stage: "Deal Stage",
            amount: "Amount",
            currency: "Deal currency code",
            created: "Create Date",
            category: "Forecast category",
            loss_reason: "Closed Lost Reason",
            history_deal: "Record ID",
            history_stage: "Date entered",
            history_time: "Date entered",
            history_amount: "Amount",
        },
        SourceFormat::Generic => Columns {
            id: "external_id",
            name: "name",
            account: "account",
            owner: "owner",
            stage: "stage",
            amount: "amount",
            currency: "currency",
            created: "created_at",
            category: "forecast_category",
            loss_reason: "loss_reason",
            history_deal: "external_id",
            history_stage: "stage",
            history_time: "changed_at",
            history_amount: "amount",
        },
    }
}
