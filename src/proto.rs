//! The wire types and service stubs generated from proto/ (the API's documentation).

#![allow(clippy::all, missing_docs)]

/// `dealdesk.v1`: the services and messages of the public API.
pub mod dealdesk {
    /// Version 1 of the API.
    pub mod v1 {
        tonic::include_proto!("dealdesk.v1");
    }
}

/// Vendored Google protos: API annotations (`google.api.field_behavior`), dates.
pub mod google {
    /// `google.api`.
    pub mod api {
        tonic::include_proto!("google.api");
    }

    /// `google.type`: calendar dates.
    pub mod r#type {
        tonic::include_proto!("google.r#type");
    }
}

pub use dealdesk::v1::*;

/// The encoded `FileDescriptorSet` of every proto file, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("dealdesk_descriptor");
