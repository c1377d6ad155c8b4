//! Answers that are already protobuf bytes. GetAsset keeps its encoded
//! responses in a cache, so writing one out should cost a copy, not a
//! decode and re-encode. [`AssetServiceFront`] is the AssetService as
//! mounted on the server: GetAsset goes through tonic's own unary
//! machinery (framing, status, trailers, limits) with [`EncodedCodec`],
//! and every other method to the generated service unchanged. Reflection,
//! the HTTP gateway and clients see the same wire contract as before.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::BoxFuture;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstDecoder;

use super::assets::AssetApi;
use crate::proto::catalog::v1alpha1 as pb;
use pb::asset_service_server::AssetServiceServer;

/// The path of the one method answered from encoded bytes.
const GET_ASSET_PATH: &str = "/catalog.v1alpha1.AssetService/GetAsset";

/// A codec whose responses are bytes already holding an encoded message;
/// requests of type `U` are decoded with prost as usual.
pub struct EncodedCodec<U>(PhantomData<U>);

impl<U> Default for EncodedCodec<U> {
    fn default() -> Self {
        EncodedCodec(PhantomData)
    }
}

impl<U: prost::Message + Default + Send + 'static> Codec for EncodedCodec<U> {
    type Encode = Bytes;
    type Decode = U;
    type Encoder = BytesEncoder;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// Writes an encoded message as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// The AssetService as mounted: GetAsset from encoded answers, the rest
/// through the generated service.
#[derive(Clone)]
pub struct AssetServiceFront {
    api: Arc<AssetApi>,
    generated: AssetServiceServer<AssetApi>,
}

impl AssetServiceFront {
    /// Mounts `api`.
    pub fn new(api: AssetApi) -> Self {
        let api = Arc::new(api);
        AssetServiceFront {
            generated: AssetServiceServer::from_arc(api.clone()),
            api,
        }
    }
}

impl NamedService for AssetServiceFront {
    const NAME: &'static str = <AssetServiceServer<AssetApi> as NamedService>::NAME;
}

impl tower::Service<http::Request<tonic::body::Body>> for AssetServiceFront {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != GET_ASSET_PATH {
            return tower::Service::call(&mut self.generated, request);
        }
        let method = GetAsset(self.api.clone());
        Box::pin(async move {
            // The generated service's defaults: no compression, tonic's
            // message size limits.
            let mut grpc = Grpc::new(EncodedCodec::<pb::GetAssetRequest>::default());
            Ok(grpc.unary(method, request).await)
        })
    }
}

struct GetAsset(Arc<AssetApi>);

impl UnaryService<pb::GetAssetRequest> for GetAsset {
    type Response = Bytes;
    type Future = BoxFuture<Response<Bytes>, Status>;

    fn call(&mut self, request: Request<pb::GetAssetRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move { api.get_asset_encoded(request).await })
    }
}
