//! Error size: violations listed up to twenty, metadata within 8 KiB, oversized messages.

use super::*;

/// Violations an error lists: twenty, then one `and N more`.
const LISTED: usize = 21;

/// The metadata a client accepts (grpc-go and grpc-java: 8 KiB; grpc-core: 16 KiB).
const CLIENT_METADATA_LIMIT: usize = 8 * 1024;

contract_test!(
    an_invalid_policy_lists_twenty_violations_then_how_many_more,
    |app| {
        let channel = channel(&app).await;
        let mut policy = crate::hostile::policy();
        policy.playbook = (0..200).map(|i| format!("bad code {i}")).collect();
        let request = pb::CreateApprovalPolicyRequest {
            policy: Some(policy),
        };
        let status = call(
            &channel,
            "DealDeskService/CreateApprovalPolicy",
            &app.admin_token,
            request.encode_to_vec(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "BAD_TEXT");
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(listed.len(), LISTED);
        assert_eq!(listed[0].field, "policy.playbook[0]");
        assert_eq!(listed[19].field, "policy.playbook[19]");
        assert_eq!(
            (listed[20].field.as_str(), listed[20].description.as_str()),
            ("", "and 180 more")
        );
    }
);

/// An upper bound of the bytes an error takes in the headers a client reads: `grpc-message`
/// is percent-encoded (a byte takes at most three) and `grpc-status-details-bin` is base64 of
/// the details (four bytes per three, rounded up).
fn metadata_bound(status: &Status) -> usize {
    3 * status.message().len() + 4 * status.details().len().div_ceil(3)
}

contract_test!(
    an_error_of_the_longest_violations_fits_in_8_kib_of_metadata,
    |app| {
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        // As many paths as the mask may hold, each echoed in its violation and of 140,000
        // two-byte characters: a message and details of megabytes if nothing capped them.
        let request = pb::UpdateDealRequest {
            deal: Some(pb::Deal {
                name: NO_DEAL.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: (0..14)
                    .map(|i| format!("{i}{}", "é".repeat(140_000)))
                    .collect(),
            }),
        };
        assert!(request.encoded_len() < LIMIT);
        let status = call(
            &channel,
            "DealService/UpdateDeal",
            &rep,
            request.encode_to_vec(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "BAD_UPDATE_MASK");
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert!(!listed.is_empty() && listed.len() <= LISTED);
        assert!(listed.last().unwrap().description.starts_with("and "));
        assert!(status.message().len() <= 512, "{}", status.message().len());
        let bound = metadata_bound(&status);
        assert!(bound < CLIENT_METADATA_LIMIT, "{bound} bytes");
    }
);

contract_test!(
    a_message_over_the_limit_is_resource_exhausted_message_too_large,
    |app| {
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        let request = pb::GetUserRequest {
            name: "u".repeat(LIMIT + 1),
        };
        let status = call(
            &channel,
            "DirectoryService/GetUser",
            &rep,
            request.encode_to_vec(),
        )
        .await
        .unwrap_err();
        assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
        assert!(
            status.message().contains("4194304 bytes"),
            "{}",
            status.message()
        );
    }
);
