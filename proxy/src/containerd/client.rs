//! A lazily connected containerd client whose every call carries the namespace header.

use std::time::Duration;

use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    events_client::EventsClient, images_client::ImagesClient, leases_client::LeasesClient,
    namespaces_client::NamespacesClient, snapshots::snapshots_client::SnapshotsClient,
    tasks_client::TasksClient, version_client::VersionClient,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

/// containerd's default is 4 MiB; image configs and manifests can be read whole, layers never.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid containerd address {address:?}: {source}")]
    Address {
        address: String,
        source: tonic::transport::Error,
    },
    #[error("invalid containerd namespace {0:?}")]
    Namespace(String),
}

/// Adds `containerd-namespace` to every request (containerd 1.6 wants it even on
/// `Namespaces.Create`); cleaner and panic-free compared to the crate's `with_namespace!`.
#[derive(Clone)]
pub struct NamespaceInterceptor(MetadataValue<Ascii>);

impl Interceptor for NamespaceInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert("containerd-namespace", self.0.clone());
        Ok(req)
    }
}

pub type Svc = InterceptedService<Channel, NamespaceInterceptor>;

/// A cheap-to-clone handle on one containerd namespace.
#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    ns: NamespaceInterceptor,
    namespace: String,
    address: String,
}

impl Containerd {
    /// Connects lazily: containerd may still be starting (an eager connect would fail).
    pub fn connect_lazy(address: &str, namespace: &str) -> Result<Self, ClientError> {
        let uri = if address.contains("://") {
            address.to_string()
        } else {
            format!("unix://{address}")
        };
        let channel = Endpoint::from_shared(uri)
            .map_err(|source| ClientError::Address {
                address: address.to_string(),
                source,
            })?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        let value = namespace
            .parse()
            .map_err(|_| ClientError::Namespace(namespace.to_string()))?;
        Ok(Self {
            channel,
            ns: NamespaceInterceptor(value),
            namespace: namespace.to_string(),
            address: address.to_string(),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn content(&self) -> ContentClient<Svc> {
        ContentClient::with_interceptor(self.channel(), self.ns.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }
    pub fn images(&self) -> ImagesClient<Svc> {
        ImagesClient::with_interceptor(self.channel(), self.ns.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }
    pub fn snapshots(&self) -> SnapshotsClient<Svc> {
        SnapshotsClient::with_interceptor(self.channel(), self.ns.clone())
    }
    pub fn diff(&self) -> DiffClient<Svc> {
        DiffClient::with_interceptor(self.channel(), self.ns.clone())
    }
    pub fn leases(&self) -> LeasesClient<Svc> {
        LeasesClient::with_interceptor(self.channel(), self.ns.clone())
    }
    pub fn containers(&self) -> ContainersClient<Svc> {
        ContainersClient::with_interceptor(self.channel(), self.ns.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }
    pub fn tasks(&self) -> TasksClient<Svc> {
        TasksClient::with_interceptor(self.channel(), self.ns.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }
    pub fn events(&self) -> EventsClient<Svc> {
        EventsClient::with_interceptor(self.channel(), self.ns.clone())
    }
    pub fn namespaces(&self) -> NamespacesClient<Svc> {
        NamespacesClient::with_interceptor(self.channel(), self.ns.clone())
    }
    pub fn version(&self) -> VersionClient<Svc> {
        VersionClient::with_interceptor(self.channel(), self.ns.clone())
    }
}
