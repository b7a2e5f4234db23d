//! Who sits on a step: the requester never does; their step goes to the next person above
//! them, else to the deal desk queue.

use super::*;

#[test]
fn seats_skip_the_requester_and_inactive_people() {
    let member = |n, role, active| ChainMember {
        id: user(n),
        role,
        active,
    };
    // Owner -> manager (inactive) -> VP (the requester) -> CEO (a leader).
    let chain = [
        member(MANAGER, Role::Manager, false),
        member(VP, Role::Leader, true),
        member(7, Role::Leader, true),
    ];
    let seats = resolve_seats(
        &chain,
        user(VP),
        &[
            Approver::OwnersManager,
            Approver::LeaderAboveOwner,
            Approver::Queue(Role::Legal),
        ],
    )
    .unwrap();
    let users: Vec<Option<UserId>> = seats.iter().map(|s| s.user).collect();
    assert_eq!(users, [Some(user(7)), Some(user(7)), None]);
    assert_eq!(seats[2].role(), Some(Role::Legal));
    // Nobody active above the requester: the deal desk queue (this was NO_APPROVER before
    // DESIGN.md sent such steps to the deal desk).
    assert_eq!(
        resolve_seats(&chain[..2], user(VP), &[Approver::LeaderAboveOwner]),
        Ok(vec![Seat::queue(Role::DealDesk)])
    );
}

fn member(n: u128, role: Role) -> ChainMember {
    ChainMember {
        id: user(n),
        role,
        active: true,
    }
}

#[test]
fn a_manager_asking_on_their_reps_deal_goes_to_the_person_above_them() {
    // Owner (a rep) -> manager (the requester) -> VP.
    let chain = [member(MANAGER, Role::Manager), member(VP, Role::Leader)];
    let resolved = resolve_step(&chain, user(MANAGER), &[Approver::OwnersManager]).unwrap();
    assert_eq!(
        resolved,
        [ResolvedSeat {
            seat: Seat::person(Approver::OwnersManager, user(VP)),
            reroute: Some(Reroute::Above(user(VP))),
        }]
    );
}

#[test]
fn a_top_of_tree_leader_asking_goes_to_the_deal_desk_queue() {
    let chain = [member(MANAGER, Role::Manager), member(VP, Role::Leader)];
    let resolved = resolve_step(&chain, user(VP), &[Approver::LeaderAboveOwner]).unwrap();
    assert_eq!(
        resolved,
        [ResolvedSeat {
            seat: Seat::queue(Role::DealDesk),
            reroute: Some(Reroute::DealDeskQueue),
        }]
    );
}

#[test]
fn an_approver_other_than_the_requester_is_not_rerouted() {
    let chain = [member(MANAGER, Role::Manager), member(VP, Role::Leader)];
    let resolved = resolve_step(
        &chain,
        user(REP),
        &[Approver::OwnersManager, Approver::LeaderAboveOwner],
    )
    .unwrap();
    let seats: Vec<_> = resolved.iter().map(|r| (r.seat.user, r.reroute)).collect();
    assert_eq!(seats, [(Some(user(MANAGER)), None), (Some(user(VP)), None)]);
}

#[test]
fn an_approver_the_tree_has_nobody_for_is_still_missing() {
    // A rep without a manager asking: nobody is the owner's manager, and nobody is rerouted.
    assert_eq!(
        resolve_step(&[], user(REP), &[Approver::OwnersManager]),
        Err(Approver::OwnersManager)
    );
}

#[test]
fn a_rerouted_step_says_why() {
    assert_eq!(
        Reroute::Above(user(VP)).reason(Approver::OwnersManager),
        format!(
            "the owner's manager is the requester, who never approves their own request: it \
             goes to the next person above them, users/{}",
            user(VP).0
        )
    );
    assert_eq!(
        Reroute::DealDeskQueue.reason(Approver::LeaderAboveOwner),
        "the leader above the owner is the requester, who never approves their own request, \
         and nobody is above them: it goes to the deal desk queue"
    );
}
