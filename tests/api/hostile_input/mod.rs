//! Hostile input that costs the server: requests near the 4 MiB message limit whose repeated
//! fields hold millions of elements, errors too large for a client to read, messages over the
//! limit, and invalid bodies sent by callers whose role may not make the call. Each answer is
//! exact: the code, the ErrorInfo reason, the violations listed, the metadata's size, and the
//! server's memory (the server runs in this process, so `/proc/self/statm` is its RSS).
//!
//! Run: `cargo test --test api hostile_input`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{WireType, encode_key, encode_varint};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::contract_test;
use crate::helpers::{TestApp, assert_error};

mod errors;
mod repeated;
mod roles;

/// The server's message limit.
const LIMIT: usize = 4 * 1024 * 1024;

/// A deal name that parses but names no deal.
const NO_DEAL: &str = "deals/0190a0a0-0000-7000-8000-000000000000";

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Sends a message's bytes as they are (a `Bytes`, so a retry shares them rather than copying
/// them) and reads no answer but its status.
struct BytesCodec;

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        buf.advance(buf.remaining());
        Ok(Some(()))
    }
}

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;
    fn encoder(&mut self) -> BytesCodec {
        BytesCodec
    }
    fn decoder(&mut self) -> BytesCodec {
        BytesCodec
    }
}

/// Calls `path` (`Service/Method` of `dealdesk.v1`) with `message` as it is, as `token`.
async fn call(
    channel: &Channel,
    path: &str,
    token: &str,
    message: impl Into<Bytes>,
) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = format!("/dealdesk.v1.{path}").try_into().unwrap();
    let mut request = Request::new(message.into());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    grpc.unary(request, path, BytesCodec).await.map(|_| ())
}
