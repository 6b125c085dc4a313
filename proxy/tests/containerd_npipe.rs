//! The Windows build dials containerd over a named pipe (`--containerd
//! npipe:////./pipe/NAME`, the default there) with the connector in
//! `containerd/connect.rs`. Run under Wine (the cargo runner for x86_64-pc-windows-gnu):
//! a tonic server answers containerd's Version service on a real named pipe, the client
//! is dockbridge's own `Containerd` (namespace header included), and a pipe whose only
//! instance is busy is waited for (`ERROR_PIPE_BUSY`), not failed.
#![cfg(windows)]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use containerd_client::services::v1::VersionResponse;
use dockbridge::containerd::address::Target;
use dockbridge::containerd::Containerd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeServer, ServerOptions};
use tonic::codegen::http;

/// A server end of the pipe as tonic's server wants its connections.
struct Conn(NamedPipeServer);

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// containerd's `Version` service, by hand (containerd-client generates no server code):
/// it answers with the namespace header it received, so the test sees the interceptor's
/// work too.
#[derive(Clone)]
struct Version;

impl tower::Service<http::Request<tonic::body::Body>> for Version {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if req.uri().path() != "/containerd.services.version.v1.Version/Version" {
                return Ok(tonic::Status::unimplemented("unknown method").into_http());
            }
            let ns = req
                .headers()
                .get("containerd-namespace")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            struct Unary(String);
            impl tonic::server::UnaryService<()> for Unary {
                type Response = VersionResponse;
                type Future =
                    std::future::Ready<Result<tonic::Response<VersionResponse>, tonic::Status>>;
                fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
                    std::future::ready(Ok(tonic::Response::new(VersionResponse {
                        version: "npipe-test".into(),
                        revision: self.0.clone(),
                    })))
                }
            }
            let codec = tonic_prost::ProstCodec::<VersionResponse, ()>::default();
            Ok(tonic::server::Grpc::new(codec).unary(Unary(ns), req).await)
        })
    }
}

/// Serves [`Version`] on `name`: one pipe instance per connection, a new one created as
/// each is taken (as containerd's go-winio listener does).
fn serve(name: &str) {
    let first = ServerOptions::new()
        .first_pipe_instance(true)
        .create(name)
        .expect("creating the pipe");
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Conn>>(4);
    let name = name.to_string();
    tokio::spawn(async move {
        let mut server = first;
        loop {
            if let Err(e) = server.connect().await {
                let _ = tx.send(Err(e)).await;
                return;
            }
            let next = match ServerOptions::new().create(&name) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if tx
                .send(Ok(Conn(std::mem::replace(&mut server, next))))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .serve_with_incoming(Version, tokio_stream::wrappers::ReceiverStream::new(rx)),
    );
}

fn pipe_name(what: &str) -> String {
    format!(r"\\.\pipe\dockbridge-test-{what}-{}", std::process::id())
}

#[tokio::test]
async fn containerd_client_speaks_grpc_over_a_named_pipe() {
    let name = pipe_name("version");
    serve(&name);
    let address = format!("npipe://{}", name.replace('\\', "/"));
    let target = dockbridge::containerd::address::parse(Some(&address), &Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(target, Target::NamedPipe(name.clone()));
    let (cd, locality) = Containerd::dial(&target, "dockbridge-ns").await.unwrap();
    assert_eq!(
        locality,
        dockbridge::containerd::locality::Locality::SameHost
    );
    // Several calls, also concurrent ones: the channel multiplexes them over HTTP/2 and
    // reconnects through the connector as needed.
    let calls = (0..4).map(|_| {
        let cd = cd.clone();
        async move { cd.version().version(()).await.map(|r| r.into_inner()) }
    });
    for r in futures::future::join_all(calls).await {
        let r = r.expect("Version over the pipe");
        assert_eq!(r.version, "npipe-test");
        assert_eq!(r.revision, "dockbridge-ns");
    }
}

#[tokio::test]
async fn a_missing_pipe_is_an_error_not_a_hang() {
    let target = Target::NamedPipe(pipe_name("absent"));
    let (cd, _) = Containerd::dial(&target, "ns").await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), cd.version().version(()))
        .await
        .expect("the call ends")
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
}

#[tokio::test]
async fn a_busy_pipe_is_waited_for() {
    let name = pipe_name("busy");
    let only = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap();
    // A client takes the only listening instance: the next open meets ERROR_PIPE_BUSY
    // until the server creates another (as a busy containerd does between accepts).
    let taken = ClientOptions::new().open(&name).unwrap();
    only.connect().await.unwrap();
    let busy = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(231), "{busy:?}");
    let waiting = tokio::spawn({
        let name = name.clone();
        async move { dockbridge::containerd::connect::pipe::open(&name, Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the open gave up while the pipe was busy"
    );
    let again = ServerOptions::new().create(&name).unwrap();
    let client = waiting
        .await
        .unwrap()
        .expect("opened once an instance was free");
    again.connect().await.unwrap();
    drop((client, taken, only));
}
