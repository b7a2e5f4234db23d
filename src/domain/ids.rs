//! Identifiers as types, one per kind of record: a deal's id is not a pipeline's, and the
//! compiler says so. Each is a UUIDv7 (so ids sort by creation time), shown as the bare uuid
//! and serialized as one.

use std::fmt;

use uuid::Uuid;

/// An identifier type over a [`Uuid`]: copied, compared, hashed and ordered as its uuid.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type! {
    /// A user's identifier.
    UserId
}

id_type! {
    /// An API token's identifier (its name's last segment, never its secret).
    ApiTokenId
}

id_type! {
    /// A pipeline's identifier.
    PipelineId
}

id_type! {
    /// A deal's identifier.
    DealId
}

id_type! {
    /// A stored win-rate snapshot's identifier (the API names a snapshot by its pipeline and
    /// version instead).
    WinRateSnapshotId
}

id_type! {
    /// An approval request's identifier.
    ApprovalRequestId
}

id_type! {
    /// A delegation's identifier.
    DelegationId
}

id_type! {
    /// A frozen forecast's identifier.
    ForecastSnapshotId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_shows_and_serializes_as_its_bare_uuid() {
        let uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let deal = DealId(uuid);
        assert_eq!(deal.to_string(), uuid.to_string());
        assert_eq!(
            serde_json::to_string(&deal).unwrap(),
            serde_json::to_string(&uuid).unwrap()
        );
        assert_eq!(
            serde_json::from_str::<DealId>(&serde_json::to_string(&uuid).unwrap()).unwrap(),
            deal
        );
    }

    #[test]
    fn a_generated_id_is_a_uuid_v7() {
        assert_eq!(PipelineId::generate().0.get_version_num(), 7);
    }
}
