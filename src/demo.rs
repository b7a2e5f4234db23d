//! The operator's bootstrap and the demo organisation: written through the same use cases as
//! the API (so they are validated and audited), as the CLI actor, with no running server.

pub mod backtest_table;
pub mod history;
mod requests;
pub mod snapshots;
pub mod walkthrough;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::Principal;
use crate::app::forecast::Scope;
use crate::app::ids::{IdSource, SEEDED_ID_EPOCH_MS};
use crate::app::ports::{AuditEntry, Created, Store};
use crate::app::win_rates::WinRateRequest;
use crate::app::{App, AppError, AppResult};
use crate::domain::directory::{Role, User, UserDraft, UserId};
use crate::domain::ids::DealId;
use crate::domain::money::{Currency, ExchangeRate, Money};
use crate::domain::pipeline::Pipeline;
use crate::domain::templates;
use crate::generator::{self, Book, BookSpec};

/// Creates an admin and issues a token for them: the first credential of a new install.
pub async fn create_admin<S: Store>(
    app: &App<S>,
    email: &str,
    name: &str,
) -> AppResult<(User, String)> {
    let user = add_user(app, name, email, Role::Admin, None).await?;
    let token = app
        .issue_token_as(None, user.id, "created by dealdesk create-admin")
        .await?;
    Ok((user, token.secret))
}

/// Issues a token for the user with this e-mail.
pub async fn create_token<S: Store>(
    app: &App<S>,
    email: &str,
    description: &str,
) -> AppResult<(User, String)> {
    let user = app
        .store
        .find_user_by_email(email)
        .await?
        .ok_or_else(|| AppError::NotFound {
            kind: "user with e-mail",
            name: email.to_string(),
        })?;
    let token = app.issue_token_as(None, user.id, description).await?;
    Ok((user, token.secret))
}

async fn add_user<S: Store>(
    app: &App<S>,
    name: &str,
    email: &str,
    role: Role,
    manager: Option<UserId>,
) -> AppResult<User> {
    let draft = UserDraft {
        display_name: name.into(),
        email: email.into(),
        role: Some(role),
        manager_id: manager,
        active: true,
    };
    match app
        .create_user_as(None, draft, None, |_| Vec::new())
        .await?
    {
        Created::New(user) => Ok(user),
        Created::Replayed(_) => Err(AppError::Storage(
            "a create without a request id was replayed".into(),
        )),
    }
}

/// The demo's default seed (`dealdesk demo --seed`): the same book, ids and tokens every time.
pub const DEMO_SEED: u64 = 20_261_122;
/// How many deals the demo holds.
pub const DEMO_DEALS: usize = 3_000;

/// One demo principal and its token.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub user: User,
    /// A bearer secret for them.
    pub secret: String,
}

/// What to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSpec {
    /// Seeds the generated book and, DEMO ONLY, every id and token secret the seeding makes.
    pub seed: u64,
    /// How many deals the book holds.
    pub deals: usize,
}

impl Default for DemoSpec {
    fn default() -> Self {
        DemoSpec {
            seed: DEMO_SEED,
            deals: DEMO_DEALS,
        }
    }
}

/// The seeded demo.
#[derive(Debug, Clone)]
pub struct SeededDemo {
    /// One login per person.
    pub logins: Vec<DemoLogin>,
    /// What README's walkthroughs use (written as the env file).
    pub walkthrough: walkthrough::Walkthrough,
}

/// Seeds the demo organisation with the default [`DemoSpec`]: see [`seed_with`].
pub async fn seed<S: Store>(app: &App<S>) -> AppResult<Vec<DemoLogin>> {
    Ok(seed_with(app, DemoSpec::default()).await?.logins)
}

/// Seeds the demo organisation: a leader with two managers and four reps, deal desk, finance,
/// legal and an admin, the three template pipelines, and a generated book of business (two years
/// of deals and stage history owned by the reps), exchange rates into USD and a win-rate snapshot
/// per pipeline learned from that history. Returns one login per person and the walkthrough.
///
/// DEMO ONLY: the ids and token secrets it makes come from `spec.seed`
/// ([`IdSource::demo_seeded`]), so the same seed into a fresh database gives the same tokens,
/// users, pipelines and deals at every start, and anyone who knows the seed knows the tokens.
/// The application given keeps its own source; only this seeding draws from the seed.
pub async fn seed_with<S: Store>(app: &App<S>, spec: DemoSpec) -> AppResult<SeededDemo> {
    let app = &app.clone().with_ids(IdSource::demo_seeded(spec.seed));
    let people = demo_people(app).await?;
    let pipelines = demo_pipelines(app).await?;
    let book = demo_book(app, &pipelines, &people, spec).await?;
    history::history_events(app, &book).await?;
    demo_exchange_rates(app).await?;
    demo_win_rates(app, &pipelines).await?;
    demo_calls(app, &people).await?;
    if let Some(admin) = people.iter().find(|u| u.profile.role == Role::Admin) {
        let admin = Principal {
            user: admin.clone(),
        };
        snapshots::past_quarter_snapshots(app, &admin).await?;
    }
    demo_policies(app, &people).await?;
    let used = requests::demo_requests(app, spec.seed, &people, &book.deals).await?;
    let mut logins = Vec::with_capacity(people.len());
    for user in people {
        let secret = app
            .issue_token_as(None, user.id, "demo (derived from the demo seed)")
            .await?
            .secret;
        logins.push(DemoLogin { user, secret });
    }
    let walkthrough =
        walkthrough::find(app, spec.seed, &logins, &pipelines, &book.deals, &used).await?;
    Ok(SeededDemo {
        logins,
        walkthrough,
    })
}

/// The people: a leader with two managers and four reps, deal desk, finance, legal and an admin.
async fn demo_people<S: Store>(app: &App<S>) -> AppResult<Vec<User>> {
    let admin = add_user(
        app,
        "Avery Admin (RevOps)",
        "admin@demo.dealdesk",
        Role::Admin,
        None,
    )
    .await?;
    let leader = add_user(
        app,
        "Lee Leader (VP Sales)",
        "leader@demo.dealdesk",
        Role::Leader,
        None,
    )
    .await?;
    let east = add_user(
        app,
        "Morgan Manager (East)",
        "manager.east@demo.dealdesk",
        Role::Manager,
        Some(leader.id),
    )
    .await?;
    let west = add_user(
        app,
        "Mika Manager (West)",
        "manager.west@demo.dealdesk",
        Role::Manager,
        Some(leader.id),
    )
    .await?;
    let mut people = vec![admin, leader, east.clone(), west.clone()];
    for (name, email, manager) in [
        ("Riley Rep", "rep.riley@demo.dealdesk", &east),
        ("Robin Rep", "rep.robin@demo.dealdesk", &east),
        ("Sam Rep", "rep.sam@demo.dealdesk", &west),
        ("Quinn Rep", "rep.quinn@demo.dealdesk", &west),
    ] {
        people.push(add_user(app, name, email, Role::Rep, Some(manager.id)).await?);
    }
    people.push(
        add_user(
            app,
            "Dana Deal Desk",
            "dealdesk@demo.dealdesk",
            Role::DealDesk,
            None,
        )
        .await?,
    );
    people.push(
        add_user(
            app,
            "Frankie Finance",
            "finance@demo.dealdesk",
            Role::Finance,
            None,
        )
        .await?,
    );
    people.push(add_user(app, "Lane Legal", "legal@demo.dealdesk", Role::Legal, None).await?);
    Ok(people)
}

/// The three template pipelines.
async fn demo_pipelines<S: Store>(app: &App<S>) -> AppResult<Vec<Pipeline>> {
    let mut pipelines = Vec::new();
    for spec in templates::all() {
        if let Created::New(pipeline) = app
            .create_pipeline_as(None, spec, None, |_| Vec::new())
            .await?
        {
            pipelines.push(pipeline);
        }
    }
    Ok(pipelines)
}

/// Two years of deals and stage history owned by the reps, generated and stored in bulk.
async fn demo_book<S: Store>(
    app: &App<S>,
    pipelines: &[Pipeline],
    people: &[User],
    spec: DemoSpec,
) -> AppResult<Book> {
    let reps: Vec<UserId> = people
        .iter()
        .filter(|u| u.profile.role == Role::Rep)
        .map(|u| u.id)
        .collect();
    let now = app.now();
    let mut book = generator::generate(
        &BookSpec {
            seed: spec.seed,
            deals: spec.deals,
            open: None,
            history_days: 730,
            now,
        },
        pipelines,
        &reps,
    );
    pin_deal_ids(&mut book, now);
    let audit = AuditEntry {
        actor: None,
        action: "GenerateBook",
        resource: "deals".into(),
        detail: format!(
            "seed {}: {} deals, {} stage changes",
            spec.seed,
            book.deals.len(),
            book.history.len()
        ),
        change: None,
    };
    app.store
        .insert_book(&book.deals, &book.history, &book.field_history, audit)
        .await?;
    Ok(book)
}

/// The generator stamps a deal's id with its creation time, which moves with the day the demo
/// starts; the demo stamps it instead with its age before [`SEEDED_ID_EPOCH_MS`], so the same
/// seed gives the same deal ids every day, still sorted by creation and before every id made
/// later.
fn pin_deal_ids(book: &mut Book, now: DateTime<Utc>) {
    let pinned: HashMap<DealId, DealId> = book
        .deals
        .iter()
        .map(|deal| {
            let age = (now - deal.created_at).num_milliseconds().max(0) as u64;
            let millis = SEEDED_ID_EPOCH_MS.saturating_sub(age);
            let mut bytes = *deal.id.0.as_bytes();
            bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
            (deal.id, DealId(Uuid::from_bytes(bytes)))
        })
        .collect();
    let pin = |id: &mut DealId| *id = pinned.get(id).copied().unwrap_or(*id);
    book.deals.iter_mut().for_each(|d| pin(&mut d.id));
    book.history.iter_mut().for_each(|h| pin(&mut h.deal_id));
    book.field_history
        .iter_mut()
        .for_each(|f| pin(&mut f.deal_id));
}

/// Exchange rates into USD.
async fn demo_exchange_rates<S: Store>(app: &App<S>) -> AppResult<()> {
    for (from, rate) in [(Currency::EUR, 1.08), (Currency::GBP, 1.27)] {
        let rate = ExchangeRate {
            from,
            to: Currency::USD,
            rate,
        };
        let audit = AuditEntry {
            actor: None,
            action: "SetExchangeRate",
            resource: format!("exchangeRates/{}-{}", rate.from, rate.to),
            detail: "demo".into(),
            change: None,
        };
        app.store
            .set_exchange_rate(&rate, chrono::Utc::now(), audit)
            .await?;
    }
    Ok(())
}

/// A win-rate snapshot per pipeline, learned from the generated history.
async fn demo_win_rates<S: Store>(app: &App<S>, pipelines: &[Pipeline]) -> AppResult<()> {
    for pipeline in pipelines {
        let request = WinRateRequest {
            pipeline: pipeline.id,
            window_start: None,
            window_end: None,
            prior_weight: None,
            by_lead_source: true,
            by_team: true,
        };
        app.compute_win_rates(None, request, None, |_| Vec::new())
            .await?;
    }
    Ok(())
}

/// The reps' calls for this quarter (from their own forecast), a manager's and a leader's
/// adjustments, and an org forecast snapshot, so forecasting has something to show.
async fn demo_calls<S: Store>(app: &App<S>, people: &[User]) -> AppResult<()> {
    let quarter = app.calendar.quarter_of(app.today());
    let as_principal = |user: &User| Principal { user: user.clone() };
    let find = |role: Role| people.iter().filter(move |u| u.profile.role == role);
    for rep in find(Role::Rep) {
        let principal = as_principal(rep);
        let own = app
            .forecast(
                &principal,
                quarter,
                Scope::Subtree(rep.id),
                &[],
                Currency::USD,
            )
            .await?;
        let commit = Money {
            minor: own.totals.commit_forecast,
            currency: Currency::USD,
        };
        let best = Money {
            minor: own.totals.best_case_forecast,
            currency: Currency::USD,
        };
        app.submit_call(
            &principal,
            quarter,
            (commit, best),
            "demo: my commit and best case forecasts",
        )
        .await?;
    }
    let mut reps = find(Role::Rep);
    if let (Some(manager), Some(leader), Some(first), Some(second)) = (
        find(Role::Manager).next(),
        find(Role::Leader).next(),
        reps.next(),
        reps.next(),
    ) {
        for (adjuster, rep, percent) in [(manager, first, 90), (leader, second, 80)] {
            let call = app
                .get_call(&as_principal(adjuster), quarter, rep.id, None)
                .await?;
            if let Some((commit, best)) = call.own {
                let cut = |m: Money| Money {
                    minor: m.minor * percent / 100,
                    ..m
                };
                let note = format!("demo: {percent}% of the rep's call after inspection");
                app.adjust_call(
                    &as_principal(adjuster),
                    quarter,
                    rep.id,
                    (cut(commit), cut(best)),
                    &note,
                )
                .await?;
            }
        }
    }
    app.snapshot_forecast(None, quarter, Scope::Org, Currency::USD, None, |_| {
        Vec::new()
    })
    .await?;
    Ok(())
}

/// An approval policy per segment: pre-approved discount ceilings rising with deal size, the
/// owner's manager, then the leader above, then finance; big deals add finance, clauses outside
/// the playbook go to legal, payment beyond 45 days to finance.
async fn demo_policies<S: Store>(app: &App<S>, people: &[User]) -> AppResult<()> {
    use crate::domain::approval::{Approver, DiscountTier, Mode, Policy, SizeThreshold, StepSpec};
    use crate::domain::pipeline::Segment;
    let Some(admin) = people.iter().find(|u| u.profile.role == Role::Admin) else {
        return Ok(());
    };
    let step = |name: &str, approver: Approver, sla_hours: u32| StepSpec {
        name: name.into(),
        approvers: vec![approver],
        mode: Mode::Any,
        sla_hours,
    };
    for (segment, pre_approved, manager, leader, big_deal) in [
        (Segment::Smb, 1000, 2000, 3000, 50_000 * 100),
        (Segment::MidMarket, 1500, 2500, 4000, 250_000 * 100),
        (Segment::Enterprise, 2000, 3000, 4500, 1_000_000 * 100),
    ] {
        let policy = Policy {
            segment,
            tiers: vec![
                DiscountTier {
                    ceiling_bps: pre_approved,
                    steps: vec![],
                },
                DiscountTier {
                    ceiling_bps: manager,
                    steps: vec![step("Sales manager", Approver::OwnersManager, 24)],
                },
                DiscountTier {
                    ceiling_bps: leader,
                    steps: vec![step("VP of Sales", Approver::LeaderAboveOwner, 48)],
                },
                DiscountTier {
                    ceiling_bps: 10_000,
                    steps: vec![step("CFO", Approver::Queue(Role::Finance), 72)],
                },
            ],
            size_thresholds: vec![SizeThreshold {
                above: Money {
                    minor: big_deal,
                    currency: Currency::USD,
                },
                step: step("Finance", Approver::Queue(Role::Finance), 48),
            }],
            playbook: vec![
                "MUTUAL_NDA".into(),
                "LOGO_RIGHTS_WAIVED".into(),
                "NET_45".into(),
            ],
            legal_step: step("Legal review", Approver::Queue(Role::Legal), 72),
            payment_days_limit: 45,
            finance_step: step("Finance", Approver::Queue(Role::Finance), 48),
        };
        app.create_policy(
            &Principal {
                user: admin.clone(),
            },
            policy,
        )
        .await?;
    }
    Ok(())
}
