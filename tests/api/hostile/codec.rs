//! Raw calls: bytes in, bytes out, so that the generator can send what no typed client would.

use super::*;

/// A codec that sends and receives message bytes as they are.
#[derive(Default, Clone)]
pub(crate) struct RawCodec;

pub(crate) struct RawEncoder;

pub(crate) struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

pub(super) async fn send(channel: Channel, case: &Case) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
    let path = http::uri::PathAndQuery::try_from(case.path.as_str())
        .map_err(|e| Status::unavailable(format!("bad path: {e}")))?;
    let authorize = |metadata: &mut tonic::metadata::MetadataMap| match &case.auth {
        Auth::None => {}
        Auth::Bearer(token) => {
            let value = format!("Bearer {token}").parse().unwrap();
            metadata.insert("authorization", value);
        }
        Auth::Raw(bytes) => {
            let value = MetadataValue::try_from(bytes.as_slice()).unwrap();
            metadata.insert("authorization", value);
        }
    };
    match case.shape {
        Shape::Unary => {
            let mut request = Request::new(case.messages[0].clone());
            authorize(request.metadata_mut());
            grpc.unary(request, path, RawCodec).await.map(|_| ())
        }
        // An opened stream is an accepted call; the test drops it at once.
        Shape::ServerStream => {
            let mut request = Request::new(case.messages[0].clone());
            authorize(request.metadata_mut());
            grpc.server_streaming(request, path, RawCodec)
                .await
                .map(|_| ())
        }
        Shape::ClientStream => {
            let mut request = Request::new(tokio_stream::iter(case.messages.clone()));
            authorize(request.metadata_mut());
            grpc.client_streaming(request, path, RawCodec)
                .await
                .map(|_| ())
        }
    }
}
