//! SLA escalation of a step past its deadline.

use super::*;

// ---------------------------------------------------------------------------------------------
// Escalation.

contract_test!(
    a_step_past_its_sla_escalates_once_even_from_two_replicas,
    |app| {
        let d = Desk::new(&app).await;
        let first = submit(&app, &d.rep, ask(&d.deal, 3000)).await;
        let second = submit(&app, &d.rep, ask(&d.deal, 2000)).await;
        let third = submit(&app, &d.rep, ask(&d.deal, 2400)).await;
        let status = try_approve(&app, &d.vp, &step_of(&first, 1))
            .await
            .unwrap_err();
        assert_error(&status, Code::PermissionDenied, "NOT_AN_APPROVER");
        assert_eq!(
            app.app
                .escalate_overdue(Utc::now() + chrono::Duration::hours(23))
                .await
                .unwrap(),
            0,
            "nothing is overdue before its SLA"
        );

        let here = dealdesk::app::App::new(app.app.store.clone());
        let replica = dealdesk::app::App::new(
            dealdesk::startup::open_store(&app.database_url)
                .await
                .unwrap(),
        );
        let later = Utc::now() + chrono::Duration::hours(25);
        let (a, b) = tokio::join!(
            here.escalate_overdue(later),
            replica.escalate_overdue(later)
        );
        assert_eq!(
            a.unwrap() + b.unwrap(),
            3,
            "each overdue step escalates exactly once"
        );
        let (a, b) = tokio::join!(
            here.escalate_overdue(later),
            replica.escalate_overdue(later)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 0, "and never again");
        assert_eq!(app.app.escalate_overdue(later).await.unwrap(), 0);

        let escalated = stored(&app, &first.name).await;
        assert!(escalated.steps[0].escalate_time.is_some());
        assert_eq!(escalated.steps[0].seats[0].user, d.manager.name());
        assert_eq!(escalated.steps[0].seats[0].escalated_to, [d.vp.name()]);
        assert!(escalated.steps[1].escalate_time.is_none());
        assert_eq!(escalated.state(), State::Pending);
        assert_eq!(
            my_queue(&app, &d.vp).await,
            [third.name.clone(), second.name.clone(), first.name.clone()]
        );

        // The manager it escalated to decides for the approver.
        let approved = approve(&app, &d.vp, &step_of(&first, 1)).await;
        let decided = decisions(&approved, 1);
        assert_eq!(decided[0].decided_by, d.vp.name());
        assert_eq!(decided[0].on_behalf_of, d.manager.name());
        assert_eq!(
            step_states(&approved),
            [StepState::Approved, StepState::Pending]
        );
        // The original approver still decides their own seat elsewhere.
        let approved = approve(&app, &d.manager, &step_of(&second, 1)).await;
        assert_eq!(approved.state(), State::Approved);
        assert_eq!(decisions(&approved, 1)[0].on_behalf_of, "");
    }
);
