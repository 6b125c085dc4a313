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

use containerd_client::services::v1::snapshots::{MountsRequest, MountsResponse};
use containerd_client::services::v1::{
    CreateContainerRequest, CreateContainerResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteContainerRequest, DeleteResponse, DeleteTaskRequest, StartRequest, StartResponse,
    VersionResponse,
};
use containerd_client::types::Mount;
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

/// Serves [`Version`] on `name`.
fn serve(name: &str) {
    serve_with(name, Version);
}

/// Serves `service` on `name`: one pipe instance per connection, a new one created as
/// each is taken (as containerd's go-winio listener does).
fn serve_with<S>(name: &str, service: S)
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
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
            .serve_with_incoming(service, tokio_stream::wrappers::ReceiverStream::new(rx)),
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

/// One unary gRPC call answered by `f` (containerd-client generates no server code).
async fn unary<Req, Resp, F>(
    req: http::Request<tonic::body::Body>,
    f: F,
) -> http::Response<tonic::body::Body>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
    F: FnOnce(Req) -> Result<Resp, tonic::Status> + Send + 'static,
{
    struct Unary<F>(Option<F>);
    impl<Req, Resp, F> tonic::server::UnaryService<Req> for Unary<F>
    where
        Req: Send + 'static,
        Resp: Send + 'static,
        F: FnOnce(Req) -> Result<Resp, tonic::Status> + Send + 'static,
    {
        type Response = Resp;
        type Future = std::future::Ready<Result<tonic::Response<Resp>, tonic::Status>>;
        fn call(&mut self, r: tonic::Request<Req>) -> Self::Future {
            let f = self.0.take().expect("one call");
            std::future::ready(f(r.into_inner()).map(tonic::Response::new))
        }
    }
    let codec = tonic_prost::ProstCodec::<Resp, Req>::default();
    tonic::server::Grpc::new(codec)
        .unary(Unary(Some(f)), req)
        .await
}

/// What the daemon sent, as a Windows containerd would have received it.
#[derive(Default)]
struct Recorded {
    container: Option<containerd_client::services::v1::Container>,
    mounts: Option<MountsRequest>,
    task: Option<CreateTaskRequest>,
    started: Vec<String>,
}

/// The Windows snapshotter's mount for a container's snapshot: the scratch layer as the
/// source, the image's layers (topmost first) in `parentLayerPaths`, as containerd's
/// windows snapshotter returns it.
const SCRATCH: &str =
    r"C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\7";
const PARENTS: [&str; 2] = [
    r"C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\5",
    r"C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\3",
];

/// A containerd that records what it is asked, answers Containers, Snapshots.Mounts and
/// Tasks.Create/Start, and plays the runhcs shim's part of stdio: on Tasks.Create it dials
/// the stdout pipe named in the request and writes into it.
#[derive(Clone)]
struct RecordingContainerd(std::sync::Arc<std::sync::Mutex<Recorded>>);

impl tower::Service<http::Request<tonic::body::Body>> for RecordingContainerd {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let rec = self.0.clone();
        Box::pin(async move {
            let path = req.uri().path().to_string();
            Ok(match path.as_str() {
                "/containerd.services.tasks.v1.Tasks/Delete" => {
                    unary(req, |_: DeleteTaskRequest| {
                        Err::<DeleteResponse, _>(tonic::Status::not_found("no such task"))
                    })
                    .await
                }
                "/containerd.services.containers.v1.Containers/Delete" => {
                    unary(req, |_: DeleteContainerRequest| {
                        Err::<(), _>(tonic::Status::not_found("no such container"))
                    })
                    .await
                }
                "/containerd.services.containers.v1.Containers/Create" => {
                    unary(req, move |r: CreateContainerRequest| {
                        rec.lock().unwrap().container = r.container.clone();
                        Ok(CreateContainerResponse {
                            container: r.container,
                        })
                    })
                    .await
                }
                "/containerd.services.snapshots.v1.Snapshots/Mounts" => {
                    unary(req, move |r: MountsRequest| {
                        rec.lock().unwrap().mounts = Some(r);
                        Ok(MountsResponse {
                            mounts: vec![Mount {
                                r#type: "windows-layer".into(),
                                source: SCRATCH.into(),
                                target: String::new(),
                                options: vec![
                                    "rw".into(),
                                    format!(
                                        "parentLayerPaths={}",
                                        serde_json::to_string(&PARENTS).unwrap()
                                    ),
                                ],
                            }],
                        })
                    })
                    .await
                }
                "/containerd.services.tasks.v1.Tasks/Create" => {
                    unary(req, move |r: CreateTaskRequest| {
                        // The shim's side: connect to the pipes the client serves.
                        let stdout = ClientOptions::new().open(&r.stdout).map_err(|e| {
                            tonic::Status::internal(format!("dialing {}: {e}", r.stdout))
                        })?;
                        let stderr = ClientOptions::new().open(&r.stderr).map_err(|e| {
                            tonic::Status::internal(format!("dialing {}: {e}", r.stderr))
                        })?;
                        tokio::spawn(async move {
                            use tokio::io::AsyncWriteExt;
                            let mut stdout = stdout;
                            let _ = stdout.write_all(b"hello from runhcs\r\n").await;
                            drop((stdout, stderr));
                        });
                        let id = r.container_id.clone();
                        rec.lock().unwrap().task = Some(r);
                        Ok(CreateTaskResponse {
                            container_id: id,
                            pid: 4242,
                        })
                    })
                    .await
                }
                "/containerd.services.tasks.v1.Tasks/Start" => {
                    unary(req, move |r: StartRequest| {
                        rec.lock().unwrap().started.push(r.container_id);
                        Ok(StartResponse { pid: 4242 })
                    })
                    .await
                }
                _ => tonic::Status::unimplemented(path).into_http(),
            })
        })
    }
}

/// The containerd backend on Windows, against a recording containerd on a real named pipe:
/// the Windows spec from the daemon's translation (an `ArgsEscaped` image: its command line
/// verbatim in `process.commandLine`), the runhcs runtime, the windows snapshotter's mounts
/// as the task's rootfs with no `layerFolders` in the spec (runhcs refuses both), and the
/// task's stdio as named pipes the "shim" dials.
#[tokio::test]
async fn windows_containers_go_to_containerd_with_runhcs_a_windows_spec_and_pipe_stdio() {
    use dockbridge::backend::{Backend, CreateRequest, Rootfs, StdioConfig};
    use tokio::io::AsyncReadExt;

    let name = pipe_name("recording");
    let recorded = RecordingContainerd(Default::default());
    serve_with(&name, recorded.clone());
    let (cd, _) = Containerd::dial(&Target::NamedPipe(name), "moby")
        .await
        .unwrap();
    let fifo_root = std::env::temp_dir().join(format!("dockbridge-ctd-win-{}", std::process::id()));
    let backend = dockbridge::containerd::ContainerdBackend::new(cd, fifo_root);

    // What the manager translates for a container of an ArgsEscaped Windows image.
    let line = r#"cmd /S /C "echo "two words" & exit 3""#;
    let image = spec::image::ImageConfigFile::from_slice(
        serde_json::to_vec(&serde_json::json!({
            "os": "windows",
            "architecture": "amd64",
            "config": {"Cmd": [line], "ArgsEscaped": true},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap()
        .as_slice(),
    )
    .unwrap();
    let body: spec::api::models::ContainerCreateBody = serde_json::from_value(
        serde_json::json!({"Image": "win", "HostConfig": {"NetworkMode": "none"}}),
    )
    .unwrap();
    let ctx = translate::windows::WindowsContext::for_audit("c-win", 2);
    let windows_spec = translate::windows::windows_spec(&body, &image, &ctx).unwrap();

    let io = backend
        .create(CreateRequest {
            id: "c-win".into(),
            spec: windows_spec,
            rootfs: Rootfs::Snapshot {
                snapshotter: "windows".into(),
                key: "c-win".into(),
            },
            stdio: StdioConfig::default(),
            labels: Default::default(),
        })
        .await
        .expect("create");
    assert_eq!(backend.start("c-win").await.expect("start"), 4242);
    let mut out = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        io.stdout.expect("stdout").read_to_string(&mut out),
    )
    .await
    .expect("stdout ends")
    .unwrap();
    assert_eq!(out, "hello from runhcs\r\n");

    let rec = recorded.0.lock().unwrap();
    let container = rec.container.as_ref().expect("container created");
    assert_eq!(
        container.runtime.as_ref().map(|r| r.name.as_str()),
        Some("io.containerd.runhcs.v1")
    );
    assert_eq!(
        (
            container.snapshotter.as_str(),
            container.snapshot_key.as_str()
        ),
        ("windows", "c-win")
    );
    let sent: serde_json::Value =
        serde_json::from_slice(&container.spec.as_ref().expect("spec").value).unwrap();
    assert_eq!(sent["process"]["commandLine"], line, "{sent}");
    assert!(
        sent["process"].get("args").is_none_or(|a| a.is_null()),
        "{sent}"
    );
    assert_eq!(sent["process"]["cwd"], "C:\\", "{sent}");
    assert!(sent["windows"].is_object(), "{sent}");
    assert!(sent.get("linux").is_none(), "{sent}");
    assert!(
        sent["windows"].get("layerFolders").is_none(),
        "the layers come from the rootfs mounts: {sent}"
    );
    let mounts = rec.mounts.as_ref().expect("mounts asked");
    assert_eq!(
        (mounts.snapshotter.as_str(), mounts.key.as_str()),
        ("windows", "c-win")
    );
    let task = rec.task.as_ref().expect("task created");
    assert_eq!(task.rootfs.len(), 1);
    assert_eq!(task.rootfs[0].r#type, "windows-layer");
    assert_eq!(task.rootfs[0].source, SCRATCH);
    assert!(
        task.stdout
            .starts_with(r"\\.\pipe\dockbridge-c-win-init-stdout"),
        "{}",
        task.stdout
    );
    assert!(task.stderr.starts_with(r"\\.\pipe\"), "{}", task.stderr);
    assert!(task.stdin.is_empty());
    assert!(!task.terminal);
    assert_eq!(rec.started, ["c-win"]);
}
