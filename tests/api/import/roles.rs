//! Users and role trees from an export, and existing users.

use super::*;

/// The Latin-American org's full export: Opportunity, OpportunityHistory, User, UserRole and
/// Account.
fn salesforce_latam() -> Vec<Upload> {
    vec![
        upload(
            "Opportunity.csv",
            Kind::SalesforceOpportunity,
            "salesforce-latam/Opportunity.csv",
        ),
        upload(
            "OpportunityHistory.csv",
            Kind::SalesforceOpportunityHistory,
            "salesforce-latam/OpportunityHistory.csv",
        ),
        upload(
            "User.csv",
            Kind::SalesforceUser,
            "salesforce-latam/User.csv",
        ),
        upload(
            "UserRole.csv",
            Kind::SalesforceUserRole,
            "salesforce-latam/UserRole.csv",
        ),
        upload(
            "Account.csv",
            Kind::SalesforceAccount,
            "salesforce-latam/Account.csv",
        ),
    ]
}

fn member(email: &str, role: Role, manager: &str, active: bool) -> (String, Role, String, bool) {
    (email.into(), role, manager.into(), active)
}

contract_test!(
    a_latin_american_salesforce_export_imports_with_its_role_tree_and_every_drop_counted,
    |app| {
        let pipeline = mid_market(&app).await;
        // The files are Windows-1252, as Data Loader writes them, and carry two loss-reason
        // columns, LossReason__c and the empty Loss_Reason__c: without the mapping's `columns`
        // entry they are one column once case and punctuation are ignored, and the import is
        // refused before any row is read, naming both.
        let before = stored(&app).await;
        let mut without_columns: serde_json::Value =
            serde_json::from_str(&mapping("salesforce-latam")).unwrap();
        without_columns.as_object_mut().unwrap().remove("columns");
        let status = import(
            &app,
            pipeline,
            &without_columns.to_string(),
            &salesforce_latam(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "IMPORT_ROWS_INVALID");
        assert!(
            status
                .message()
                .starts_with("1 bad row (1 problem); nothing was imported"),
            "{status:?}"
        );
        assert_eq!(
            violations(&status),
            [(
                "Opportunity.csv:1".to_string(),
                "LossReason__c: \"LossReason__c\" and \"Loss_Reason__c\" are one column once \
                 case and punctuation are ignored: say which feeds loss_reason in the mapping, \
                 e.g. \"columns\": {\"loss_reason\": \"Loss_Reason__c\"}"
                    .to_string()
            )]
        );
        assert_eq!(stored(&app).await, before, "nothing written");

        let report = import(
            &app,
            pipeline,
            &mapping("salesforce-latam"),
            &salesforce_latam(),
        )
        .await
        .unwrap();
        assert_eq!(report.source, "salesforce-latam");
        // 49 opportunities (one deleted) + 302 history rows (one deleted) + 21 users + 8 roles
        // + 15 accounts.
        assert_eq!(counts(&report), (395, 2, 48, 0, 0, 171, 17));
        assert_eq!(
            dropped(&report),
            [
                "account not in the Account file (id kept): '0015e0000BO0099LGB' 1",
                "deal without an account: '' 2",
                "deal without an amount (zero or empty): '' 2",
                "deal without an amount (zero or empty): '0' 2",
                "forecast category of a closed deal ignored (CLOSED kept): 'Omitted' 15",
                "lead source not mapped (left unset): 'LinkedIn' 7",
                "lead source not mapped (left unset): 'Partners' 3",
                "lead source not mapped (left unset): 'Otro' 2",
                "lost deal without a loss reason (\"not recorded\" kept): '' 3",
                "row deleted in the source (IsDeleted) skipped: 'Opportunity.csv' 1",
                "row deleted in the source (IsDeleted) skipped: 'OpportunityHistory.csv' 1",
                "user skipped (not a seller): 'UserType AutomatedProcess' 1",
                "user skipped (not a seller): 'UserType CsnOnly' 1",
                "user skipped (not a seller): 'inactive, owns no deal' 1",
                "user skipped (not a seller): 'integration or automated user' 1",
            ]
        );
        // Brazil's managers' role has two holders and no forecast manager: the earlier one.
        assert_eq!(
            report.manager_choices,
            [pb::ManagerChoice {
                role: "Gerente de Vendas Brasil".into(),
                chosen: "fernanda.oliveira@andescorp.example".into(),
                candidates: vec![
                    "fernanda.oliveira@andescorp.example".into(),
                    "paulo.santos@andescorp.example".into()
                ],
            }]
        );
        assert!(report.user_changes.is_empty());

        // No ManagerId anywhere: the tree is the role hierarchy's. Mexico's role names
        // Alejandra its forecast manager; the mapping names Camila for the Andean region.
        use Role::{Leader, Manager, Rep};
        assert_eq!(
            directory(&app).await,
            [
                member("alejandra.ruiz", Manager, "mariana.castillo", true),
                member("andres.trevino", Rep, "alejandra.ruiz", true),
                member("beatriz.lima", Rep, "fernanda.oliveira", true),
                member("camila.restrepo", Manager, "mariana.castillo", true),
                member("diego.quispe", Rep, "mariana.castillo", true),
                member("fernanda.oliveira", Manager, "mariana.castillo", true),
                member("gabriela.torres", Rep, "camila.restrepo", false),
                member("joao.pereira", Rep, "fernanda.oliveira", true),
                member("jorge.hernandez", Rep, "alejandra.ruiz", true),
                member("lucia.morales", Rep, "alejandra.ruiz", true),
                member("luis.fernandez", Rep, "camila.restrepo", true),
                member("mariana.castillo", Leader, "", true),
                member("paulo.santos", Rep, "mariana.castillo", true),
                member("ricardo.salinas", Rep, "alejandra.ruiz", true),
                member("santiago.gomez", Rep, "camila.restrepo", true),
                member("sofia.navarro", Rep, "mariana.castillo", true),
                member("valentina.rojas", Rep, "camila.restrepo", true),
            ]
        );

        // Spanish stages, a COP amount, the account's name from Account.csv.
        let caribe = deal(&app, "Telecomunicaciones Caribe - Capacitación").await;
        assert_eq!(caribe.stage, "solution-exploring");
        assert_eq!(caribe.account, "Telecomunicaciones Caribe S.A.S.");
        assert_eq!(
            caribe.amount,
            Some(pb::Money {
                currency_code: "COP".into(),
                amount_minor: 62_350_000_000
            })
        );
        // ForecastCategory "Forecast" is COMMIT.
        let vale = deal(&app, "Agropecuária Vale Verde - Licencias ERP").await;
        assert_eq!(
            (vale.stage.as_str(), vale.forecast_category()),
            ("decision-pending", pb::ForecastCategory::Commit)
        );
        assert_eq!(vale.amount.unwrap().currency_code, "BRL");
        // The empty id in AccountId: no account; an account merged away keeps its id.
        let solar = deal(&app, "Energía Solar del Bajío - Renovación").await;
        assert_eq!(
            (solar.account.as_str(), solar.amount),
            ("(no account in the export)", None)
        );
        let cafetero = deal(&app, "Banco Cafetero del Sur - Módulo de nómina").await;
        assert_eq!(cafetero.account, "0015e0000BO0099LGB");
        assert_eq!(cafetero.loss_reason, "Proyecto cancelado");
        // A deal without history rows, won: created, then closed on its close date.
        let minera = deal(&app, "Minera Altiplano - Licencias ERP").await;
        assert_eq!(
            history(&app, &minera).await,
            [
                h("", "problem-recognized", Create, "2026-07-03T13:15"),
                h(
                    "problem-recognized",
                    "closed-won",
                    Close,
                    "2026-10-27T00:00"
                ),
            ]
        );

        // Five currencies: the org's USD forecast needs a rate for each of the other four.
        let q4 = || {
            let app = &app;
            async move {
                app.forecasts()
                    .await
                    .get_forecast(authed(
                        &app.admin_token,
                        pb::GetForecastRequest {
                            period: "2026-Q4".into(),
                            scope: "org".into(),
                            ..Default::default()
                        },
                    ))
                    .await
            }
        };
        assert_eq!(
            q4().await.unwrap_err().code(),
            Code::FailedPrecondition,
            "no rate for MXN, BRL, COP, PEN"
        );
        for (from, rate) in [
            ("MXN", 0.055),
            ("BRL", 0.19),
            ("COP", 0.00025),
            ("PEN", 0.27),
        ] {
            app.forecasts()
                .await
                .set_exchange_rate(authed(
                    &app.admin_token,
                    pb::SetExchangeRateRequest {
                        rate: Some(pb::ExchangeRate {
                            from_currency: from.into(),
                            to_currency: "USD".into(),
                            rate,
                            update_time: None,
                        }),
                    },
                ))
                .await
                .unwrap();
        }
        // Won in Q4, booked on the source's close dates, each converted on its own:
        // 429,500,000 COP (107,375.00), 330,000 PEN (89,100.00), 259,000 BRL (49,210.00),
        // 165,000 and 40,000 USD.
        let totals = q4().await.unwrap().into_inner().totals.unwrap();
        assert_eq!(
            totals.closed_won,
            10_737_500 + 8_910_000 + 4_921_000 + 16_500_000 + 4_000_000
        );

        // The same files again: nothing changes.
        let before = stored(&app).await;
        let again = import(
            &app,
            pipeline,
            &mapping("salesforce-latam"),
            &salesforce_latam(),
        )
        .await
        .unwrap();
        assert_eq!(counts(&again), (395, 2, 0, 0, 48, 0, 0));
        assert_eq!((again.users_updated, again.user_changes.len()), (0, 0));
        let after = stored(&app).await;
        assert_eq!(before[..5], after[..5], "deals, history, users and links");
        assert_eq!(after[5], before[5] + 1, "only the import's audit row");
    }
);

contract_test!(
    existing_users_take_the_sources_tree_only_with_update_users_and_audited,
    |app| {
        use dealdesk::app::ports::AuditEntry;
        let pipeline = mid_market(&app).await;
        import(
            &app,
            pipeline,
            &mapping("salesforce-latam"),
            &salesforce_latam(),
        )
        .await
        .unwrap();
        // Here, Jorge is moved under Mariana and made a manager.
        let store = app.app.store.clone();
        let find = |email: &'static str| {
            let store = store.clone();
            async move { store.find_user_by_email(email).await.unwrap().unwrap() }
        };
        let jorge = find("jorge.hernandez@andescorp.example").await;
        let mariana = find("mariana.castillo@andescorp.example").await;
        let alejandra = find("alejandra.ruiz@andescorp.example").await;
        let mut profile = jorge.profile.clone();
        profile.manager_id = Some(mariana.id);
        profile.role = Role::Manager;
        store
            .update_user(
                jorge.id,
                jorge.version,
                profile,
                chrono::Utc::now(),
                AuditEntry {
                    actor: None,
                    action: "UpdateUser",
                    resource: user_name(&jorge),
                    detail: "manager,role".into(),
                    change: None,
                },
            )
            .await
            .unwrap();
        let changes = |report: &pb::ImportReport| -> Vec<(String, String, String, String, bool)> {
            report
                .user_changes
                .iter()
                .map(|c| {
                    (
                        c.email.clone(),
                        c.field.clone(),
                        c.current_value.clone(),
                        c.source_value.clone(),
                        c.applied,
                    )
                })
                .collect()
        };
        let expected = |applied| {
            vec![
                (
                    "jorge.hernandez@andescorp.example".to_string(),
                    "manager".to_string(),
                    "mariana.castillo@andescorp.example".to_string(),
                    "alejandra.ruiz@andescorp.example".to_string(),
                    applied,
                ),
                (
                    "jorge.hernandez@andescorp.example".to_string(),
                    "role".to_string(),
                    "MANAGER".to_string(),
                    "REP".to_string(),
                    applied,
                ),
            ]
        };

        // Without update_users: listed, not changed.
        let audits = app.count("audit_events WHERE action = 'UpdateUser'").await;
        let listed = import(
            &app,
            pipeline,
            &mapping("salesforce-latam"),
            &salesforce_latam(),
        )
        .await
        .unwrap();
        assert_eq!(changes(&listed), expected(false));
        assert_eq!(listed.users_updated, 0);
        let kept = find("jorge.hernandez@andescorp.example").await;
        assert_eq!(
            (kept.profile.manager_id, kept.profile.role, kept.version),
            (Some(mariana.id), Role::Manager, jorge.version + 1)
        );
        assert_eq!(
            app.count("audit_events WHERE action = 'UpdateUser'").await,
            audits
        );

        // With it: applied, one audit row per field with the old and new value.
        let updating = mapping("salesforce-latam").replacen(
            "\"create_users\": true",
            "\"create_users\": true, \"update_users\": true",
            1,
        );
        let applied = import(&app, pipeline, &updating, &salesforce_latam())
            .await
            .unwrap();
        assert_eq!(changes(&applied), expected(true));
        assert_eq!(applied.users_updated, 1);
        let changed = find("jorge.hernandez@andescorp.example").await;
        assert_eq!(
            (
                changed.profile.manager_id,
                changed.profile.role,
                changed.version
            ),
            (Some(alejandra.id), Role::Rep, jorge.version + 2)
        );
        assert_eq!(
            app.count(&format!(
                "audit_events WHERE action = 'UpdateUser' AND resource = '{}' \
                 AND ((field = 'manager' AND old_value = 'mariana.castillo@andescorp.example' \
                       AND new_value = 'alejandra.ruiz@andescorp.example') \
                   OR (field = 'role' AND old_value = 'MANAGER' AND new_value = 'REP'))",
                user_name(&jorge)
            ))
            .await,
            2
        );
        // And once applied, importing again changes nothing.
        let again = import(&app, pipeline, &updating, &salesforce_latam())
            .await
            .unwrap();
        assert_eq!((again.users_updated, again.user_changes.len()), (0, 0));
    }
);
