//! `--json`: messages in the proto3 canonical JSON mapping (camelCase names, 64-bit integers
//! as strings, enums by name, defaults left out), as grpcurl prints them, encoded from the
//! descriptor set the build writes for reflection.

use std::io::Write;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage};
use serde::Serialize;

use super::ClientError;

/// The API's descriptors, decoded once.
fn pool() -> Result<&'static DescriptorPool, ClientError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ClientError::Json(e.clone()))
}

/// `message`, of the proto type `full_name` (`dealdesk.v1.Deal`), as a value serde writes in
/// the canonical JSON mapping.
pub fn message<M: prost::Message>(
    full_name: &str,
    message: &M,
) -> Result<DynamicMessage, ClientError> {
    let descriptor = pool()?
        .get_message_by_name(full_name)
        .ok_or_else(|| ClientError::Json(format!("no message type {full_name}")))?;
    DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| ClientError::Json(e.to_string()))
}

/// Writes `value` pretty-printed (two spaces, as grpcurl), then a new line.
pub fn write<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<(), ClientError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| {
        if e.is_io() {
            ClientError::Io(e.into())
        } else {
            ClientError::Json(e.to_string())
        }
    })?;
    writeln!(out)?;
    Ok(())
}

/// Writes one message of the proto type `full_name` as JSON.
pub fn write_message<M: prost::Message>(
    out: &mut dyn Write,
    full_name: &str,
    value: &M,
) -> Result<(), ClientError> {
    write(out, &message(full_name, value)?)
}
