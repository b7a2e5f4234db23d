//! The org the suite measures: people, pipelines, policies, exchange rates, the generated book
//! and its approval requests, loaded through the store's bulk inserts; or one kept by an
//! earlier run.

use std::time::Instant;

use chrono::{DateTime, Utc};
use dealdesk::app::App;
use dealdesk::app::ports::{AuditEntry, Created, DealDeskStore, DealStore, ForecastStore};
use dealdesk::domain::approval::{Approver, DiscountTier, Mode, Policy, PolicyVersion, StepSpec};
use dealdesk::domain::approval_request::{ChainMember, RequestState};
use dealdesk::domain::deal::{Deal, DealStatus};
use dealdesk::domain::directory::{Role, User, UserId};
use dealdesk::domain::money::{Currency, ExchangeRate};
use dealdesk::domain::pipeline::{Pipeline, Segment};
use dealdesk::domain::templates;
use dealdesk::generator::{BookSpec, DeskPeople, approval_requests, generate};
use dealdesk::persistence::SqlStore;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::common::{person, token};
use crate::forecast::TO_USD;

/// What loading an org took.
#[derive(Debug, serde::Serialize)]
pub struct Load {
    pub engine: String,
    pub people: usize,
    pub deals: usize,
    pub open_deals: usize,
    pub stage_history: usize,
    pub approval_requests: usize,
    /// Contacts, qualification items, field-history rows and approver queue entries.
    pub child_rows: usize,
    /// Every row above.
    pub rows: usize,
    /// Generating and storing the book and the requests (the people, pipelines and policies
    /// before it take well under a second).
    pub seconds: f64,
    /// Of which in the store's bulk inserts.
    pub insert_seconds: f64,
    pub rows_per_second: f64,
    pub database_mib: f64,
}

impl Load {
    /// One line on what was loaded, how fast and how big.
    pub fn print(&self) {
        println!(
            "[{}] loaded {} deals ({} open), {} stage changes, {} approval requests, \
             {} people: {} rows in {:.1} s ({:.1} s inserting), {:.0} rows/s, {:.0} MiB",
            self.engine,
            self.deals,
            self.open_deals,
            self.stage_history,
            self.approval_requests,
            self.people,
            self.rows,
            self.seconds,
            self.insert_seconds,
            self.rows_per_second,
            self.database_mib
        );
    }
}

/// The loaded org, as the measurements need it.
pub struct Org {
    pub token: String,
    pub manager: UserId,
    pub pipeline: dealdesk::domain::ids::PipelineId,
    pub load: Load,
}

/// The org: a 4-level tree (a leader, 4 directors, managers, reps; about 500 people for the
/// large org), finance and legal for the role queues, the three template pipelines, an approval
/// policy per segment, the generated book with `open` of its `deals` still open, and approval
/// requests on the open deals whose discount needs one.
pub async fn load_org(store: &SqlStore, engine: &str, deals: usize, open: usize) -> Org {
    let app = App::new(store.clone());
    let admin = person(&app, Role::Admin, None, 0).await;
    let token = token(&app, &admin).await;
    let people = people(&app, deals).await;
    let mut pipelines = Vec::new();
    for spec in templates::all() {
        if let Ok(Created::New(p)) = app
            .create_pipeline_as(None, spec, None, |_| Vec::new())
            .await
        {
            pipelines.push(p);
        }
    }
    let policies = policies(&app, admin).await;
    set_exchange_rates(store).await;
    let load = Instant::now();
    let now = Utc::now();
    let mut book = load_book(store, (deals, open), &pipelines, &people.reps, now).await;
    let requests = approval_requests(
        7,
        &book.discounted,
        &pipelines,
        &policies,
        &people.desk,
        now,
    );
    book.child_rows += requests
        .iter()
        .filter(|r| r.state == RequestState::Pending)
        .map(|r| {
            let (users, roles) = r.waiting_on();
            users.len() + roles.len()
        })
        .sum::<usize>();
    let insert = Instant::now();
    store
        .insert_requests(&requests, audit("approvalRequests"))
        .await
        .expect("load the requests");
    let insert_seconds = book.insert_seconds + insert.elapsed().as_secs_f64();
    let seconds = load.elapsed().as_secs_f64();
    let rows = book.deals + book.history + requests.len() + book.child_rows;
    Org {
        token,
        manager: people.managers[0],
        pipeline: pipelines[1].id,
        load: Load {
            engine: engine.into(),
            people: people.reps.len() + people.managers.len() + 8,
            deals: book.deals,
            open_deals: book.open,
            stage_history: book.history,
            approval_requests: requests.len(),
            child_rows: book.child_rows,
            rows,
            seconds,
            insert_seconds,
            rows_per_second: rows as f64 / seconds,
            database_mib: database_mib(store.connection()).await,
        },
    }
}

/// The reporting tree under the leader, and who approves what.
struct People {
    reps: Vec<UserId>,
    managers: Vec<UserId>,
    /// Each rep's approval chain and the finance and legal queues, for the generated requests.
    desk: DeskPeople,
}

/// A leader, 4 directors, their managers and 4 reps under each manager (25 managers per
/// director for the large org: 505 people in the tree), then finance and legal.
async fn people(app: &App<SqlStore>, deals: usize) -> People {
    let reps_wanted = (deals / 2_500).clamp(16, 400);
    let top = person(app, Role::Leader, None, 0).await;
    let mut reps = Vec::new();
    let mut managers = Vec::new();
    let mut desk = DeskPeople::default();
    let member = |user: &User| ChainMember {
        id: user.id,
        role: user.profile.role,
        active: true,
    };
    for d in 0..4 {
        let director = person(app, Role::Leader, Some(top.id), d + 1).await;
        for m in 0..(reps_wanted / 16).max(1) {
            let manager = person(app, Role::Manager, Some(director.id), d * 100 + m).await;
            managers.push(manager.id);
            for r in 0..4 {
                let n = d * 10_000 + m * 10 + r;
                let rep = person(app, Role::Rep, Some(manager.id), n).await.id;
                let chain = vec![member(&manager), member(&director), member(&top)];
                desk.chains.insert(rep, chain);
                reps.push(rep);
            }
        }
    }
    for role in [Role::Finance, Role::Legal] {
        desk.queues
            .push((role, person(app, role, None, 0).await.id));
    }
    People {
        reps,
        managers,
        desk,
    }
}

/// One approval policy per segment: up to 15% approved at once, the owner's manager up to 25%,
/// the leader above beyond; legal for clauses outside the playbook, finance beyond 45 days.
async fn policies(app: &App<SqlStore>, admin: User) -> Vec<PolicyVersion> {
    let admin = dealdesk::app::Principal { user: admin };
    let mut policies = Vec::new();
    for segment in [Segment::Smb, Segment::MidMarket, Segment::Enterprise] {
        let step = |name: &str, approver| StepSpec {
            name: name.into(),
            approvers: vec![approver],
            mode: Mode::Any,
            sla_hours: 24,
        };
        let policy = Policy {
            segment,
            tiers: vec![
                DiscountTier {
                    ceiling_bps: 1500,
                    steps: vec![],
                },
                DiscountTier {
                    ceiling_bps: 2500,
                    steps: vec![step("Sales manager", Approver::OwnersManager)],
                },
                DiscountTier {
                    ceiling_bps: 10_000,
                    steps: vec![step("VP of Sales", Approver::LeaderAboveOwner)],
                },
            ],
            size_thresholds: vec![],
            playbook: vec!["MUTUAL_NDA".into()],
            legal_step: step("Legal review", Approver::Queue(Role::Legal)),
            payment_days_limit: 45,
            finance_step: step("Finance", Approver::Queue(Role::Finance)),
        };
        policies.push(app.create_policy(&admin, policy).await.unwrap());
    }
    policies
}

/// The suite's exchange rates to USD ([`TO_USD`]).
async fn set_exchange_rates(store: &SqlStore) {
    for (from, rate) in TO_USD {
        let rate = ExchangeRate {
            from,
            to: Currency::USD,
            rate,
        };
        let audit = AuditEntry {
            actor: None,
            action: "SetExchangeRate",
            resource: format!("exchangeRates/{from}-USD"),
            detail: "bench".into(),
            change: None,
        };
        store
            .set_exchange_rate(&rate, Utc::now(), audit)
            .await
            .unwrap();
    }
}

/// An audit row of the bench's own bulk writes.
fn audit(resource: &str) -> AuditEntry {
    AuditEntry {
        actor: None,
        action: "Bench",
        resource: resource.into(),
        detail: String::new(),
        change: None,
    }
}

/// What the generated book put in the store.
struct Book {
    deals: usize,
    open: usize,
    history: usize,
    /// Contacts, qualification items and field-history rows.
    child_rows: usize,
    /// The open deals with a discount, for the approval requests.
    discounted: Vec<Deal>,
    /// Seconds spent in the store's bulk inserts.
    insert_seconds: f64,
}

/// Generates the book in chunks of 25,000 deals (`open` of the `deals` still open, spread
/// evenly over the chunks) and stores each chunk with the store's bulk insert.
async fn load_book(
    store: &SqlStore,
    (deals, open): (usize, usize),
    pipelines: &[Pipeline],
    reps: &[UserId],
    now: DateTime<Utc>,
) -> Book {
    let mut loaded = Book {
        deals: 0,
        open: 0,
        history: 0,
        child_rows: 0,
        discounted: Vec::new(),
        insert_seconds: 0.0,
    };
    const CHUNK: usize = 25_000;
    for (chunk, start) in (0..deals).step_by(CHUNK).enumerate() {
        let end = (start + CHUNK).min(deals);
        let book = generate(
            &BookSpec {
                seed: 7 + chunk as u64,
                deals: end - start,
                open: Some(open * end / deals - open * start / deals),
                history_days: 730,
                now,
            },
            pipelines,
            reps,
        );
        loaded.deals += book.deals.len();
        loaded.history += book.history.len();
        loaded.child_rows += book.field_history.len();
        for deal in &book.deals {
            loaded.child_rows += deal.fields.contacts.len() + deal.fields.qualification.len();
            if deal.status == DealStatus::Open {
                loaded.open += 1;
                if deal.fields.discount_bps > 0 {
                    loaded.discounted.push(deal.clone());
                }
            }
        }
        let insert = Instant::now();
        store
            .insert_book(
                &book.deals,
                &book.history,
                &book.field_history,
                audit("deals"),
            )
            .await
            .expect("load");
        loaded.insert_seconds += insert.elapsed().as_secs_f64();
    }
    loaded
}

/// An org loaded by an earlier run and kept (`--keep-database`), measured again without
/// loading it: a new token for its admin, its first manager and its second pipeline, as
/// [`load_org`] picks them. Its load is not reported.
pub async fn reuse_org(store: &SqlStore) -> (String, UserId, dealdesk::domain::ids::PipelineId) {
    let db = store.connection();
    let backend = db.get_database_backend();
    let id = |sql: String| async move {
        let row = db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .expect("read the kept org")
            .expect("a database loaded by this suite (--keep-database)");
        let id: String = row.try_get("", "id").unwrap();
        uuid::Uuid::parse_str(&id).unwrap()
    };
    let user = |email: &str| format!("SELECT id FROM users WHERE email = '{email}'");
    let admin = id(user("admin0@bench.example")).await;
    let manager = id(user("manager0@bench.example")).await;
    let second = templates::all()[1].display_name.replace('\'', "''");
    let pipeline = id(format!(
        "SELECT id FROM pipelines WHERE display_name = '{second}'"
    ))
    .await;
    let token = App::new(store.clone())
        .issue_token_as(None, UserId(admin), "bench")
        .await
        .unwrap()
        .secret;
    (
        token,
        UserId(manager),
        dealdesk::domain::ids::PipelineId(pipeline),
    )
}

/// The database's size on disk, in MiB (SQLite: pages in use, the WAL included).
async fn database_mib(db: &DatabaseConnection) -> f64 {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT pg_database_size(current_database()) AS bytes"
        }
        _ => "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .ok()
        .flatten();
    let bytes: i64 = row
        .and_then(|r| r.try_get("", "bytes").ok())
        .unwrap_or_default();
    bytes as f64 / (1024.0 * 1024.0)
}
