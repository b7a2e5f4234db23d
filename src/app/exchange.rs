//! The exchange-rate table and the conversion of every amount of a figure into one currency.

use super::error::Precondition;
use super::ports::{AuditEntry, Store, Valuation};
use super::roles::require_exchange_rate_setter;
use super::{App, AppError, AppResult, Principal};
use crate::domain::Problem;
use crate::domain::Violations;
use crate::domain::ids::PipelineId;
use crate::domain::money::{Currency, ExchangeRate, Money, convert_minor, minor_unit_rate};

/// Converts amounts into one currency, remembering every currency without a rate.
pub(crate) struct Converter {
    into: Currency,
    rates: Vec<ExchangeRate>,
    missing: Vec<Currency>,
}

impl Converter {
    /// Converting into `into` with `rates`.
    pub fn new(into: Currency, rates: Vec<ExchangeRate>) -> Self {
        Converter {
            into,
            rates,
            missing: Vec::new(),
        }
    }

    /// One amount in the target currency (0 and remembered when no rate serves), as the
    /// database converts each deal ([`convert_minor`]).
    pub fn convert(&mut self, minor: i64, from: Currency) -> i64 {
        if from == self.into {
            return minor; // exact beyond 2^53, where a double is not
        }
        convert_minor(minor, self.rate(from))
    }

    /// A deal's amount in the target currency (0 without one), as [`Converter::convert`].
    pub fn amount(&mut self, money: Option<Money>) -> i64 {
        money.map_or(0, |m| self.convert(m.minor, m.currency))
    }

    /// A sum the database converted deal by deal in `from` (`None`: deals without an amount),
    /// remembering `from` when no rate serves it.
    pub fn take(&mut self, from: Option<Currency>, converted: Option<i64>) -> i64 {
        if let Some(from) = from {
            self.rate(from);
        }
        converted.unwrap_or(0)
    }

    /// How the database is to value deals: every currency of the rate table that converts
    /// into the target, and `win_rates` for the stages.
    pub fn valuation(&self, win_rates: Vec<(PipelineId, Vec<(String, f64)>)>) -> Valuation {
        let mut currencies: Vec<Currency> = self
            .rates
            .iter()
            .flat_map(|r| [r.from, r.to])
            .filter(|c| *c != self.into)
            .collect();
        currencies.sort();
        currencies.dedup();
        Valuation {
            into: self.into,
            rates: currencies
                .into_iter()
                .filter_map(|c| minor_unit_rate(c, self.into, &self.rates).map(|r| (c, r)))
                .collect(),
            win_rates,
            period: None,
        }
    }

    /// Target minor units per `from` minor unit (0 and remembered when no rate serves).
    pub fn rate(&mut self, from: Currency) -> f64 {
        minor_unit_rate(from, self.into, &self.rates).unwrap_or_else(|| {
            if !self.missing.contains(&from) {
                self.missing.push(from);
            }
            0.0
        })
    }

    /// FAILED_PRECONDITION naming every missing rate, if any was: never a silent sum.
    pub fn finish(mut self) -> AppResult<()> {
        if self.missing.is_empty() {
            return Ok(());
        }
        self.missing.sort();
        let into = self.into;
        Err(AppError::FailedPrecondition {
            reason: "EXCHANGE_RATE_MISSING",
            message: format!(
                "no exchange rate into {into} for {}",
                self.missing
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            violations: self
                .missing
                .iter()
                .map(|c| Precondition {
                    kind: "EXCHANGE_RATE".into(),
                    subject: format!("exchangeRates/{c}-{into}"),
                    description: format!("set the rate from {c} to {into} (SetExchangeRate)"),
                })
                .collect(),
        })
    }
}

impl<S: Store> App<S> {
    /// Sets an exchange rate. Admins only.
    pub async fn set_exchange_rate(
        &self,
        principal: &Principal,
        rate: ExchangeRate,
    ) -> AppResult<chrono::DateTime<chrono::Utc>> {
        require_exchange_rate_setter(principal)?;
        let mut violations = Violations::new();
        if rate.from == rate.to {
            violations.add_as(
                Problem::ConflictingFields,
                "rate.to_currency",
                "must differ from from_currency",
            );
        }
        if !(rate.rate.is_finite() && rate.rate > 0.0) {
            violations.add_as(
                Problem::NumberOutOfRange,
                "rate.rate",
                "must be a finite number greater than zero",
            );
        }
        if !violations.is_empty() {
            return Err(AppError::invalid(violations));
        }
        let at = self.now();
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "SetExchangeRate",
            resource: format!("exchangeRates/{}-{}", rate.from, rate.to),
            detail: String::new(),
            change: Some(super::ports::FieldChange {
                field: "rate".into(),
                old: String::new(),
                new: rate.rate.to_string(),
            }),
        };
        self.store.set_exchange_rate(&rate, at, audit).await?;
        Ok(at)
    }

    /// The exchange-rate table.
    pub async fn exchange_rates(
        &self,
        _principal: &Principal,
    ) -> AppResult<Vec<(ExchangeRate, chrono::DateTime<chrono::Utc>)>> {
        self.store.exchange_rates().await
    }
}
