//! A lazily connected containerd client whose every call carries the namespace header.

use std::time::Duration;

use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    events_client::EventsClient, images_client::ImagesClient,
    introspection_client::IntrospectionClient, leases_client::LeasesClient,
    namespaces_client::NamespacesClient, snapshots::snapshots_client::SnapshotsClient,
    tasks_client::TasksClient, version_client::VersionClient,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use super::address::Target;
use super::locality::Locality;

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
    #[error(transparent)]
    Connect(#[from] super::connect::ConnectError),
    #[error("{address} answers, but not with containerd's API ({reason}): containerd's own [grpc] tcp_address serves only the CRI services; put a TLS front on containerd's unix socket and point --containerd at that (see the README)")]
    NotContainerdApi { address: String, reason: String },
    #[error("cannot reach containerd at {address}: {reason}")]
    Unreachable { address: String, reason: String },
}

/// How long a network containerd has to answer at start.
const DIAL_LIMIT: Duration = Duration::from_secs(15);

/// A gRPC status with the transport error behind it (a TLS or socket failure is only in
/// the status's source chain).
fn status_reason(s: &tonic::Status) -> String {
    use std::error::Error;
    match s.source() {
        Some(src) => format!("{}: {}", s.message(), super::connect::error_chain(src)),
        None => format!("{:?}: {}", s.code(), s.message()),
    }
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
    /// Connects lazily to a unix socket path (the private containerd): containerd may
    /// still be starting (an eager connect would fail).
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
        Self::with_channel(channel, namespace, address.to_string())
    }

    /// Connects lazily to a `--containerd` target (unix socket, TCP with or without TLS,
    /// or a Windows named pipe); TLS files are read now.
    pub fn connect(target: &Target, namespace: &str) -> Result<Self, ClientError> {
        let channel = super::connect::channel(target)?;
        Self::with_channel(channel, namespace, target.to_string())
    }

    /// Connects to a given `--containerd`. A network one must answer now (a wrong CA, a
    /// refused client certificate or a closed port stops the start with the reason) and is
    /// probed for whether it sees this host's files; a socket or pipe is local by nature
    /// and stays lazy (it may still be starting).
    pub async fn dial(target: &Target, namespace: &str) -> Result<(Self, Locality), ClientError> {
        let cd = Self::connect(target, namespace)?;
        if !target.is_network() {
            return Ok((cd, Locality::SameHost));
        }
        let unreachable = |reason: String| ClientError::Unreachable {
            address: target.to_string(),
            reason,
        };
        let answer = tokio::time::timeout(DIAL_LIMIT, async {
            if let Err(s) = cd.version().version(()).await {
                // The service is unknown to the server: something else speaks gRPC there
                // (containerd's own tcp_address registers only CRI).
                return Err(if s.code() == tonic::Code::Unimplemented {
                    ClientError::NotContainerdApi {
                        address: target.to_string(),
                        reason: s.message().to_string(),
                    }
                } else {
                    unreachable(status_reason(&s))
                });
            }
            super::locality::probe(&cd)
                .await
                .map_err(|s| unreachable(status_reason(&s)))
        })
        .await
        .map_err(|_| unreachable(format!("no answer within {DIAL_LIMIT:?}")))?;
        let locality = answer?;
        Ok((cd, locality))
    }

    fn with_channel(
        channel: Channel,
        namespace: &str,
        address: String,
    ) -> Result<Self, ClientError> {
        let value = namespace
            .parse()
            .map_err(|_| ClientError::Namespace(namespace.to_string()))?;
        Ok(Self {
            channel,
            ns: NamespaceInterceptor(value),
            namespace: namespace.to_string(),
            address,
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
    pub fn introspection(&self) -> IntrospectionClient<Svc> {
        IntrospectionClient::with_interceptor(self.channel(), self.ns.clone())
    }
    pub fn version(&self) -> VersionClient<Svc> {
        VersionClient::with_interceptor(self.channel(), self.ns.clone())
    }
}
