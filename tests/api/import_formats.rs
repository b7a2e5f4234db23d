//! Real exports through ImportService on both engines (issue 19): a generic export in the shape
//! of the public 8,800-deal CRM sample (its own headers, M/D/YYYY dates, no creation time,
//! agents by display name), a Peruvian org's Windows-1252 export (day-first local times in the
//! org's zone, soles with three decimals, two loss-reason columns), and the same in UTF-16 and
//! with its history reversed. `import_options` has what each option left out does.

use dealdesk::domain::calendar::OrgCalendar;
use dealdesk::domain::directory::{Role, User, UserDraft, UserId};
use dealdesk::domain::period::FiscalCalendar;
use dealdesk::proto as pb;
use dealdesk::proto::import_file_chunk::Kind;
use dealdesk::proto::stage_history_entry::Direction;
use dealdesk::startup::Application;

use super::import::{
    Upload, counts, deal, dropped, fixture, h, history, import, mid_market, stored, upload,
    violations,
};
use crate::contract_test;
use crate::helpers::{TestApp, authed, violated_fields};

use Direction::{Close, Create, Forward};

/// What an export without an account gets.
const NO_ACCOUNT: &str = "(no account in the export)";

pub(crate) fn lima() -> OrgCalendar {
    OrgCalendar::new(
        FiscalCalendar::default(),
        OrgCalendar::parse_zone("America/Lima").unwrap(),
    )
}

/// A user named `name`, e-mail `first.last@acme-sales.example` (accents dropped).
pub(crate) async fn create_user(
    app: &dealdesk::app::App<impl dealdesk::app::ports::Store>,
    name: &str,
    role: Role,
    manager: Option<UserId>,
) -> User {
    let email = format!(
        "{}@acme-sales.example",
        name.to_lowercase()
            .replace(' ', ".")
            .replace('á', "a")
            .replace('é', "e")
            .replace('í', "i")
            .replace('ó', "o")
            .replace('ú', "u")
            .replace('ñ', "n")
    );
    create_user_with_email(app, name, &email, role, manager).await
}

async fn create_user_with_email(
    app: &dealdesk::app::App<impl dealdesk::app::ports::Store>,
    name: &str,
    email: &str,
    role: Role,
    manager: Option<UserId>,
) -> User {
    let email = email.to_string();
    match app
        .create_user_as(
            None,
            UserDraft {
                display_name: name.into(),
                email,
                role: Some(role),
                manager_id: manager,
                active: true,
            },
            None,
            |_| Vec::new(),
        )
        .await
        .unwrap()
    {
        dealdesk::app::ports::Created::New(user) => user,
        dealdesk::app::ports::Created::Replayed(_) => unreachable!("no request id"),
    }
}

/// The sample's agents in two teams, each under its manager; the agents are named in the file
/// by display name only.
async fn sample_teams(app: &TestApp) -> Vec<User> {
    let mut agents = Vec::new();
    for (manager, team) in [
        ("Grace Mbeki", ["Ines Okafor", "Dario Lutz", "Mei Tanaka"]),
        ("Lars Holm", ["Rafael Ortiz", "Hanne Berg", "Tomas Reyes"]),
    ] {
        let manager = create_user(&app.app, manager, Role::Manager, None).await;
        for agent in team {
            agents.push(create_user(&app.app, agent, Role::Rep, Some(manager.id)).await);
        }
    }
    agents
}

fn sample() -> Vec<Upload> {
    vec![upload(
        "sales_pipeline.csv",
        Kind::GenericDeals,
        "crm_sample/sales_pipeline.csv",
    )]
}

fn sample_mapping() -> String {
    String::from_utf8(fixture("crm_sample/mapping.json")).unwrap()
}

/// Every deal the admin sees.
async fn all_deals(app: &TestApp) -> Vec<pb::Deal> {
    app.deals()
        .await
        .list_deals(authed(
            &app.admin_token,
            pb::ListDealsRequest {
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deals
}

/// The one deal of `name` at `account` in `stage`.
fn the<'d>(deals: &'d [pb::Deal], name: &str, account: &str, stage: &str) -> &'d pb::Deal {
    let found: Vec<&pb::Deal> = deals
        .iter()
        .filter(|d| d.display_name == name && d.account == account && d.stage == stage)
        .collect();
    assert_eq!(found.len(), 1, "{name} at {account} in {stage}");
    found[0]
}

fn owner_of(user: &User) -> String {
    format!("users/{}", user.id.0)
}

contract_test!(
    an_export_shaped_like_the_8800_deal_crm_sample_imports_with_its_mapping_alone,
    |app| {
        let agents = sample_teams(&app).await;
        let agent = |name: &str| {
            agents
                .iter()
                .find(|a| a.profile.display_name.as_str() == name)
                .unwrap()
        };
        let pipeline = mid_market(&app).await;
        let report = import(&app, pipeline, &sample_mapping(), &sample())
            .await
            .unwrap();
        assert_eq!(report.source, "crm-sample");
        // 24 deals: 14 closed without history (created, then closed: 2 rows each), 10 open.
        assert_eq!(counts(&report), (24, 0, 24, 0, 0, 38, 0));
        // What the sample does not say is counted: prospects without an account, open deals
        // without a close value, lost ones with 0 and no reason.
        assert_eq!(
            dropped(&report),
            [
                "deal without an account: '' 4",
                "deal without an amount (zero or empty): '' 10",
                "deal without an amount (zero or empty): '0' 6",
                "lost deal without a loss reason (\"not recorded\" kept): '' 6",
            ]
        );

        let deals = all_deals(&app).await;
        let won = the(&deals, "Vaultkeeper 500", "Orchard Vale Bank", "closed-won");
        assert_eq!(
            won.owner,
            owner_of(agent("Dario Lutz")),
            "found by display name"
        );
        assert_eq!(won.status(), pb::deal::Status::Won);
        assert_eq!(
            won.amount,
            Some(pb::Money {
                currency_code: "USD".into(),
                amount_minor: 2_892_400
            })
        );
        let close = won.close_date.unwrap();
        assert_eq!(
            (close.year, close.month, close.day),
            (2026, 1, 20),
            "1/20/2026"
        );
        // Created on its engage date (10/27/2025), closed on its close date.
        assert_eq!(
            history(&app, won).await,
            [
                h("", "problem-recognized", Create, "2025-10-27T00:00"),
                h(
                    "problem-recognized",
                    "closed-won",
                    Close,
                    "2026-01-20T00:00"
                ),
            ]
        );
        let lost = the(&deals, "Vaultkeeper 500", "Sablecrest", "closed-lost");
        assert_eq!(lost.status(), pb::deal::Status::Lost);
        assert_eq!(lost.amount, None, "a close value of 0 is no amount");
        assert_eq!(lost.loss_reason, "not recorded in crm-sample");

        // Prospecting rows have no date and often no account.
        let prospect = the(&deals, "Routewise", NO_ACCOUNT, "problem-recognized");
        assert_eq!(prospect.stage, "problem-recognized");
        assert_eq!(prospect.owner, owner_of(agent("Mei Tanaka")));
        let engaging = the(
            &deals,
            "Ledgerline Basic",
            "Ashgrove Clinics",
            "solution-exploring",
        );
        assert_eq!(
            history(&app, engaging).await,
            [h("", "solution-exploring", Create, "2026-01-24T00:00")]
        );

        // The same file again changes nothing.
        let before = stored(&app).await;
        let again = import(&app, pipeline, &sample_mapping(), &sample())
            .await
            .unwrap();
        assert_eq!(counts(&again), (24, 0, 0, 0, 24, 0, 0));
        assert_eq!(stored(&app).await[..5], before[..5]);
    }
);

contract_test!(
    an_agent_name_two_users_share_is_refused_naming_both,
    |app| {
        sample_teams(&app).await;
        create_user_with_email(
            &app.app,
            "Mei Tanaka",
            "mei.t@acme-sales.example",
            Role::Rep,
            None,
        )
        .await;
        let pipeline = mid_market(&app).await;
        let status = import(&app, pipeline, &sample_mapping(), &sample())
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            [
                "sales_pipeline.csv:6",
                "sales_pipeline.csv:7",
                "sales_pipeline.csv:16",
                "sales_pipeline.csv:23"
            ],
            "Mei Tanaka's deals"
        );
        assert_eq!(
            violations(&status)[0].1,
            "owner: \"Mei Tanaka\" is the display name of 2 users (mei.tanaka@acme-sales.example, \
             mei.t@acme-sales.example): map it to one of them in \"owners\""
        );
    }
);

/// The Peruvian export: deals, history and mapping as the fixture has them.
pub(crate) fn latam(history_file: &str) -> Vec<Upload> {
    vec![
        upload("deals.csv", Kind::GenericDeals, "latam/deals.csv"),
        Upload {
            name: "stage_history.csv",
            kind: Kind::GenericStageHistory,
            bytes: fixture(&format!("latam/{history_file}")),
        },
    ]
}

pub(crate) fn latam_mapping() -> serde_json::Value {
    serde_json::from_slice(&fixture("latam/mapping.json")).unwrap()
}

pub(crate) async fn latam_sellers(app: &TestApp) {
    for name in ["María José Paredes", "Andrés Núñez"] {
        create_user(&app.app, name, Role::Rep, None).await;
    }
}

contract_test!(
    a_windows_1252_export_with_day_first_local_times_imports_in_the_orgs_zone,
    configure = |a: Application| a.with_calendar(lima()),
    |app| {
        latam_sellers(&app).await;
        let pipeline = mid_market(&app).await;
        let report = import(
            &app,
            pipeline,
            &latam_mapping().to_string(),
            &latam("stage_history.csv"),
        )
        .await
        .unwrap();
        assert_eq!(counts(&report), (19, 0, 5, 0, 0, 14, 0));
        // Seven amounts (two deals', five history rows') rounded by `round_amounts`, counted.
        assert_eq!(
            dropped(&report),
            [
                "amount rounded half up to its currency's decimals: '15200.125 PEN' 4",
                "amount rounded half up to its currency's decimals: '22750.3349 PEN' 2",
                "amount rounded half up to its currency's decimals: '14800.004 PEN' 1",
                "deal without an account: '' 1",
            ]
        );

        let minera = deal(&app, "Minera Andina").await;
        assert_eq!(minera.account, "Minera Andina S.A.C.");
        assert_eq!(
            minera.amount,
            Some(pb::Money {
                currency_code: "PEN".into(),
                amount_minor: 1_520_013
            }),
            "15200.125 rounded half up"
        );
        // Lima is UTC-5: 05/01/2023 09:15 there is 14:15 UTC. The creation and the move to
        // Calificación share an instant, as do the last Negociación row and the close: the
        // stages' order decides, though the file lists each pair the other way.
        assert_eq!(
            history(&app, &minera).await,
            [
                h("", "problem-recognized", Create, "2023-01-05T14:15"),
                h(
                    "problem-recognized",
                    "solution-exploring",
                    Forward,
                    "2023-01-05T14:15"
                ),
                h(
                    "solution-exploring",
                    "business-case-built",
                    Forward,
                    "2023-01-20T21:00"
                ),
                h(
                    "business-case-built",
                    "decision-pending",
                    Forward,
                    "2023-02-08T01:47"
                ),
                h("decision-pending", "closed-won", Close, "2023-02-28T23:30"),
            ]
        );
        let close = minera.close_date.unwrap();
        assert_eq!((close.year, close.month, close.day), (2023, 2, 28));

        // The loss reason comes from LossReason, the column the mapping names.
        let pesquera = deal(&app, "Pesquera del Sur").await;
        assert_eq!(pesquera.loss_reason, "Precio: eligió a la competencia");
        let cafe = deal(&app, "Café Tunkimayo").await;
        assert_eq!(cafe.stage, "decision-pending");
        assert_eq!(cafe.amount.unwrap().amount_minor, 2_275_033);
        // No account and no creation time: created at its first history row.
        let cementos = deal(&app, "Cementos Huallaga").await;
        assert_eq!(cementos.account, NO_ACCOUNT);
        assert_eq!(
            history(&app, &cementos).await,
            [
                h("", "problem-recognized", Create, "2023-04-12T14:00"),
                h(
                    "problem-recognized",
                    "business-case-built",
                    Forward,
                    "2023-04-12T14:00"
                ),
            ]
        );
        // "andrés núñez": display names are matched ignoring case.
        let clinica = deal(&app, "Clínica San Borja").await;
        assert_eq!(clinica.owner, cementos.owner);
    }
);

/// The deals file as UTF-16LE with a byte-order mark.
fn utf16_with_bom(windows_1252: &[u8]) -> Vec<u8> {
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(windows_1252);
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

contract_test!(
    a_reversed_history_file_and_a_utf_16_copy_import_the_same_deals_and_history,
    configure = |a: Application| a.with_calendar(lima()),
    |app| {
        latam_sellers(&app).await;
        let pipeline = mid_market(&app).await;
        import(
            &app,
            pipeline,
            &latam_mapping().to_string(),
            &latam("stage_history.csv"),
        )
        .await
        .unwrap();

        let other = crate::helpers::spawn_app_with(app.backend, |a| a.with_calendar(lima()))
            .await
            .unwrap();
        latam_sellers(&other).await;
        let other_pipeline = mid_market(&other).await;
        let mut files = latam("stage_history_reversed.csv");
        files[0].bytes = utf16_with_bom(&files[0].bytes);
        import(&other, other_pipeline, &latam_mapping().to_string(), &files)
            .await
            .unwrap();

        for name in [
            "Minera Andina",
            "Pesquera del Sur",
            "Café Tunkimayo",
            "Cementos Huallaga",
            "Clínica San Borja",
        ] {
            let (one, two) = (deal(&app, name).await, deal(&other, name).await);
            assert_eq!(
                (
                    &one.display_name,
                    &one.account,
                    &one.stage,
                    &one.amount,
                    &one.loss_reason
                ),
                (
                    &two.display_name,
                    &two.account,
                    &two.stage,
                    &two.amount,
                    &two.loss_reason
                ),
                "{name}"
            );
            assert_eq!(
                history(&app, &one).await,
                history(&other, &two).await,
                "{name}"
            );
        }
    }
);
