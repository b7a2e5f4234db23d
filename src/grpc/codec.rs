//! The protobuf codec of every service. It is prost's, except that a message that does not
//! decode (a field sent with the wrong wire type, a string that is not UTF-8, a truncated
//! message) is INVALID_ARGUMENT naming the field: tonic's own codec answers INTERNAL, which
//! blames the server for a bad client. Before decoding, the elements of a request's repeated
//! fields are counted on its bytes ([`super::wire_counts`]): a request over a count is refused
//! before prost allocates its elements.

use crate::domain::Problem;
use std::marker::PhantomData;

use prost::bytes::Buf;
use prost::{DecodeError, Message};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use super::error::invalid_argument;
use super::{invalid, request_limits, wire_counts};
use crate::domain::Violations;

/// Reason of the ErrorInfo of a message that does not decode.
pub const MALFORMED_MESSAGE: &str = "MALFORMED_MESSAGE";

/// Encodes `T` and decodes `U` with prost (named by `codec_path` in build.rs).
#[derive(Debug, Clone)]
pub struct WireCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder(PhantomData)
    }
}

/// Decodes `U`; a failure, or a repeated field over its count, is INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct WireDecoder<U>(PhantomData<U>);

impl<U: Message + Default + 'static> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // The whole message, without a copy (tonic buffers it in one `BytesMut`).
        let message = buf.copy_to_bytes(buf.remaining());
        if let Some(shape) = request_limits::shape_of::<U>() {
            let violations = wire_counts::count_violations(&message, shape);
            if !violations.is_empty() {
                return Err(invalid(violations));
            }
        }
        U::decode(message).map(Some).map_err(|error| {
            let violations = Violations::one_as(
                Problem::MalformedMessage,
                field_path(&error),
                format!("does not decode: {error}"),
            );
            invalid_argument(MALFORMED_MESSAGE, &violations)
        })
    }
}

/// The path of the field that failed to decode (`deal.display_name`), empty when the message as
/// a whole is unreadable. prost keeps its (message, field) stack private but prints it,
/// innermost first, as `Message.field: ` parts before the description.
pub fn field_path(error: &DecodeError) -> String {
    let text = error.to_string();
    let text = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    let is_field = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let mut fields: Vec<&str> = text
        .split(": ")
        .map_while(|part| {
            let (message, field) = part.rsplit_once('.')?;
            (!message.is_empty() && !message.contains(' ') && is_field(field)).then_some(field)
        })
        .collect();
    fields.reverse();
    fields.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto as pb;

    #[test]
    fn a_nested_string_that_is_not_utf8_names_its_path() {
        // CreateDealRequest.deal (1) { Deal.display_name (2) = 0xFF }
        let bytes = [0x0a, 0x03, 0x12, 0x01, 0xff];
        let error = pb::CreateDealRequest::decode(&bytes[..]).unwrap_err();
        assert_eq!(field_path(&error), "deal.display_name");
    }

    #[test]
    fn a_field_with_the_wrong_wire_type_names_the_field() {
        // GetUserRequest.name (1) sent as a varint.
        let error = pb::GetUserRequest::decode(&[0x08, 0x01][..]).unwrap_err();
        assert_eq!(field_path(&error), "name");
    }

    #[test]
    fn an_unreadable_message_has_an_empty_path() {
        // Field 1 with wire type 7, which does not exist.
        let error = pb::GetUserRequest::decode(&[0x0f][..]).unwrap_err();
        assert_eq!(field_path(&error), "");
    }
}
