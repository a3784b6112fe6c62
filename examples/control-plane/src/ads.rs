//! The gRPC Aggregated Discovery Service: one task per stream, feeding
//! Envoy's requests and snapshot changes to a [`StreamState`].

use std::pin::Pin;
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::log;
use crate::registry::Registry;
use crate::snapshot::Snapshot;
use crate::stream::StreamState;

/// Responses queued per stream before the task waits for Envoy to read.
const STREAM_BUFFER: usize = 4;

/// The ADS service: state-of-the-world ECDS for every connecting node.
#[derive(Debug, Clone)]
pub struct AdsService {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: Arc<Registry>,
    shutdown: watch::Receiver<bool>,
}

impl AdsService {
    /// Serves the latest snapshot of `snapshots`, records in `registry`, and
    /// ends every stream when `shutdown` becomes true.
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        registry: Arc<Registry>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            snapshots,
            registry,
            shutdown,
        }
    }
}

type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsService {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown peer".to_string(), |a| a.to_string());
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let task = StreamTask {
            inbound: request.into_inner(),
            outbound: sender,
            snapshots: self.snapshots.clone(),
            registry: Arc::clone(&self.registry),
            shutdown: self.shutdown.clone(),
            peer,
        };
        tokio::spawn(task.run());
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "wasmesh-cp serves state-of-the-world ADS only (ads_config.api_type: GRPC)",
        ))
    }
}

struct StreamTask {
    inbound: Streaming<DiscoveryRequest>,
    outbound: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: Arc<Registry>,
    shutdown: watch::Receiver<bool>,
    peer: String,
}

impl StreamTask {
    async fn run(mut self) {
        let mut state = StreamState::new();
        let why = self.serve(&mut state).await;
        match state.node() {
            Some(node) => self.registry.disconnected(&node.id, &why),
            None => log::info(&format!(
                "ADS stream from {} ended before naming its node ({why})",
                self.peer
            )),
        }
    }

    /// Serves the stream until it ends; returns why it ended.
    async fn serve(&mut self, state: &mut StreamState) -> String {
        // A snapshot published before this stream started is not a change for it.
        self.snapshots.mark_unchanged();
        if *self.shutdown.borrow_and_update() {
            return "control plane stopping".to_string();
        }
        loop {
            let response = tokio::select! {
                message = self.inbound.message() => match message {
                    Ok(Some(request)) => {
                        let snapshot = Arc::clone(&self.snapshots.borrow());
                        match state.on_request(&request, &snapshot, &self.registry) {
                            Ok(response) => response,
                            Err(reason) => {
                                let _ = self
                                    .outbound
                                    .send(Err(Status::invalid_argument(reason.clone())))
                                    .await;
                                return reason;
                            }
                        }
                    }
                    Ok(None) => return "stream closed by the node".to_string(),
                    Err(status) => return format!("stream error: {}", status.message()),
                },
                changed = self.snapshots.changed() => {
                    if changed.is_err() {
                        return "control plane stopping".to_string();
                    }
                    let snapshot = Arc::clone(&self.snapshots.borrow_and_update());
                    state.on_snapshot(&snapshot, &self.registry)
                }
                _ = self.shutdown.changed() => return "control plane stopping".to_string(),
            };
            if let Some(response) = response {
                if self.outbound.send(Ok(response)).await.is_err() {
                    return "stream closed by the node".to_string();
                }
            }
        }
    }
}
