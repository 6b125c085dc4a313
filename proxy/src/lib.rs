//! dockbridge: a daemon that speaks the Docker Engine API and runs containers on containerd
//! (remote, over gRPC) or on the Windows Host Compute Service (local, in-process).
#![forbid(unsafe_code)]

pub mod archive;
pub mod backend;
pub mod build;
pub mod config;
pub mod containerd;
pub mod containers;
pub mod daemon;
pub mod error_kind;
pub mod events;
pub mod hcs_backend;
pub mod host;
pub mod images;
pub mod listen;
pub mod networks;
pub mod registry;
pub mod server;
pub mod tools;
pub mod volumes;
#[cfg(windows)]
pub mod winservice;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;

/// The snapshotter images are unpacked into: containerd's default on each OS (on Windows the
/// `windows` snapshotter, whose mounts the runhcs shim turns into layer folders).
const SNAPSHOTTER: &str = if cfg!(windows) {
    "windows"
} else {
    "overlayfs"
};

/// The engine version reported by `/version` and the `Server` header.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_COMMIT: &str = "dockbridge";

/// Runs the daemon until SIGTERM or SIGINT (Ctrl+C or Ctrl+Break on Windows).
pub async fn serve(args: config::ServeArgs) -> anyhow::Result<()> {
    serve_until(args, || {}, shutdown_signal()).await
}

/// Runs the daemon until `stop` completes, then shuts it down gracefully (listeners, open
/// streams, every backend's containers and handles). `ready` is called once every listener
/// is bound (a Windows service reports itself running then).
pub async fn serve_until(
    args: config::ServeArgs,
    ready: impl FnOnce(),
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // Flags are checked and TLS files read before anything is created or started.
    let tls = args.tls_settings();
    let addrs = config::listen_addrs(&args.hosts, tls.is_some())?;
    let bind_opts = bind_options(&args, tls.as_ref(), &addrs)?;
    let (seccomp_profile, seccomp) = config::seccomp_profile(args.seccomp_profile.as_deref())?;
    // A pipe another daemon serves is refused before anything under the data root is
    // opened (bind checks again: the name may be taken meanwhile).
    #[cfg(windows)]
    for addr in &addrs {
        if let config::ListenAddr::Npipe(name) = addr {
            listen::npipe::ensure_unserved(name)?;
        }
    }
    let hcs_only = config::hcs_only(&args)?;
    // `--containerd none` (HCS-only) names no containerd to dial.
    let containerd_target = if hcs_only {
        None
    } else {
        containerd::address::parse(args.containerd.as_deref(), &args.containerd_tls())?
    };
    for dir in [&args.data_root, &args.exec_root] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(p) = &args.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pidfile {}", p.display()))?;
    }
    let (supervisor, cd, locality) = match &containerd_target {
        _ if hcs_only => (None, None, containerd::locality::Locality::SameHost),
        Some(target) => {
            let (cd, locality) =
                containerd::Containerd::dial(target, &args.containerd_namespace).await?;
            (None, Some(cd), locality)
        }
        None => {
            let layout = containerd::supervisor::Layout::new(&args.data_root, &args.exec_root);
            let (sup, _) = containerd::supervisor::Supervisor::start(layout.clone())
                .await
                .context("starting containerd")?;
            let cd = containerd::Containerd::connect_lazy(
                &layout.socket.display().to_string(),
                &args.containerd_namespace,
            )?;
            (
                Some(sup),
                Some(cd),
                containerd::locality::Locality::SameHost,
            )
        }
    };
    if let (Some(cd), containerd::locality::Locality::OtherHost(why)) = (&cd, &locality) {
        tracing::warn!(
            "containerd at {} is not on this host ({why}): images only, containers cannot run",
            cd.address()
        );
    }
    let spool = args.data_root.join("tmp");
    let images = Arc::new(match &cd {
        Some(cd) => images::ImageStore::new(cd.clone(), SNAPSHOTTER, spool)
            .await
            .context("opening the image store")?,
        None => {
            // Layers are imported through HCS's storage calls, from the same library.
            let storage = hcs::storage::Storage::load(args.hcs_library.as_deref())
                .context("loading HCS storage (computestorage.dll)")?;
            let local = images::local::LocalStore::open(&args.data_root, Arc::new(storage))
                .context("opening the image store")?;
            images::ImageStore::local(local, spool).context("opening the image store")?
        }
    });
    let mut backends: HashMap<&'static str, Arc<dyn backend::Backend>> = HashMap::new();
    // On Windows this runs Windows containers: containerd's runhcs shim, the windows
    // snapshotter's layers, stdio over named pipes.
    if let Some(cd) = &cd {
        let backend = containerd::ContainerdBackend::new(cd.clone(), args.exec_root.join("fifo"));
        backends.insert(
            "containerd",
            Arc::new(match locality {
                containerd::locality::Locality::SameHost => backend,
                containerd::locality::Locality::OtherHost(why) => backend.on_other_host(why),
            }),
        );
    }
    // The HCS backend is live when asked for, or when a library is given (a migration runs
    // both side by side).
    let default_backend: &'static str = if args.backend == "hcs" {
        "hcs"
    } else {
        "containerd"
    };
    let mut hns = None;
    if args.backend == "hcs" || args.hcs_library.is_some() {
        let mut hcs = hcs_backend::HcsBackend::new(hcs_backend::HcsBackendConfig {
            library: args.hcs_library.clone(),
            ..Default::default()
        })
        .context("starting the hcs backend")?;
        hns = start_hns(args.hcs_library.as_deref()).await;
        if let Some(h) = &hns {
            hcs.set_hns(h.hns().clone());
        }
        backends.insert("hcs", Arc::new(hcs));
    }
    let registries = Arc::new(registry::Registries::new(registry::RegistryConfig::new(
        &args.insecure_registries,
        &args.registry_mirrors,
        Some(&args.registry_certs_dir),
    )?));
    let host = Arc::new(host::HostInfo::read());
    let events = Arc::new(events::EventBus::new());
    let paths = containers::Paths {
        data_root: args.data_root.clone(),
        exec_root: args.exec_root.clone(),
        init_path: config::init_path(args.init_path.as_deref()),
        seccomp_profile: seccomp_profile.map(Arc::new),
    };
    let volumes = Arc::new(
        volumes::VolumeStore::new(args.data_root.join("volumes"))
            .context("opening the volume store")?,
    );
    let networks = start_networks(&args).await?;
    networks.set_events(events.clone());
    let provider: Arc<dyn containers::providers::NetworkProvider> = if backends.contains_key("hcs")
    {
        Arc::new(networks::hns::PlatformNetworks {
            linux: networks.clone(),
            windows: hns.clone(),
        })
    } else {
        networks.clone()
    };
    let providers = containers::Manager::runtime_providers(
        images.clone(),
        volumes.clone(),
        events.clone(),
        &paths,
        host.clone(),
        provider,
    );
    let containers = containers::Manager::new(
        paths,
        providers,
        backends,
        default_backend,
        events.clone(),
        host.clone(),
    )?;
    containers.restore().await?;
    // Endpoints a crash left for containers that no longer run go now.
    let running = containers
        .all()
        .into_iter()
        .filter(|c| c.record().state.status.is_live())
        .map(|c| c.id.clone())
        .collect();
    networks.sweep(&running).await;
    let daemon = Arc::new(daemon::Daemon {
        data_root: args.data_root.clone(),
        exec_root: args.exec_root.clone(),
        containerd: cd,
        images,
        containers,
        events,
        host,
        volumes,
        networks,
        hns,
        registries,
        seccomp,
        builds: Arc::default(),
        build_context_limit: args.max_build_context,
        id: daemon_id(&args.data_root)?,
        limits: server::limits::Limits::new(
            args.max_request_body,
            args.max_concurrent_requests,
            args.header_read_timeout,
        ),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for addr in &addrs {
        let listener = listen::bind(addr, &bind_opts).await?;
        tracing::info!("API listening on {}", listen::describe(addr, &bind_opts));
        let mut rx = stop_rx.clone();
        let shutdown = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        servers.spawn(listen::serve(listener, daemon.clone(), shutdown));
    }
    ready();
    stop.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // Open `/events` streams end now rather than holding the servers open.
    daemon.events.close();
    // Hijacked streams would keep the servers alive; give them a moment, then go.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    for addr in &addrs {
        if let config::ListenAddr::Unix(p) = addr {
            let _ = std::fs::remove_file(p);
        }
    }
    daemon.containers.shutdown_backends().await;
    // The HCS backend stopped its compute systems: their HNS endpoints go too.
    if let Some(h) = &daemon.hns {
        h.shutdown().await;
    }
    if let Some(s) = supervisor {
        s.shutdown().await;
    }
    if let Some(p) = &args.pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// The TLS configuration (its files read now) and the unix sockets' group.
fn bind_options(
    args: &config::ServeArgs,
    tls: Option<&config::TlsSettings>,
    addrs: &[config::ListenAddr],
) -> anyhow::Result<listen::BindOptions> {
    if !tls.is_some_and(config::TlsSettings::verifies_clients) {
        for addr in addrs
            .iter()
            .filter(|a| matches!(a, config::ListenAddr::Tcp(_)))
        {
            // As dockerd warns (and pauses) for a TCP listener without --tlsverify.
            tracing::warn!(
                "{addr}: without --tlsverify, anyone who can reach this address controls the daemon (root on this host)"
            );
        }
    }
    let tls = tls.map(listen::tls::server_config).transpose()?;
    #[cfg(unix)]
    let socket_group = {
        let group = listen::group::resolve(args.group.as_deref())?;
        if let listen::group::SocketGroup::Missing(msg) = &group {
            if addrs
                .iter()
                .any(|a| matches!(a, config::ListenAddr::Unix(_)))
            {
                tracing::warn!("{msg}");
            }
        }
        group.gid()
    };
    // As dockerd on Windows: no default group; each named account must exist.
    #[cfg(windows)]
    let pipe_group_sids = if addrs
        .iter()
        .any(|a| matches!(a, config::ListenAddr::Npipe(_)))
    {
        listen::npipe::group_sids(args.group.as_deref())?
    } else {
        Vec::new()
    };
    Ok(listen::BindOptions {
        tls,
        #[cfg(unix)]
        socket_group,
        #[cfg(windows)]
        pipe_group_sids,
    })
}

fn daemon_id(data_root: &std::path::Path) -> anyhow::Result<String> {
    let p = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&p) {
        return Ok(id.trim().to_string());
    }
    let id = containers::names::new_id();
    std::fs::write(&p, &id).with_context(|| format!("writing {}", p.display()))?;
    Ok(id)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            // Without signal handlers the daemon can only be killed; run forever.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(windows)]
    {
        // The console events dockerd stops on (Go maps Ctrl+C and Ctrl+Break to an
        // interrupt, closing the console and shutdown to a terminate).
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown};
        let (Ok(mut c), Ok(mut brk), Ok(mut close), Ok(mut shut)) =
            (ctrl_c(), ctrl_break(), ctrl_close(), ctrl_shutdown())
        else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = c.recv() => {}
            _ = brk.recv() => {}
            _ = close.recv() => {}
            _ = shut.recv() => {}
        }
    }
}

/// HNS for Windows containers' `nat` network: from the `--hcs-library` when it exports the
/// HCN functions (the simulator does), else computenetwork.dll on Windows. Without it
/// Windows containers need `--network none` (said at create).
async fn start_hns(
    library: Option<&std::path::Path>,
) -> Option<std::sync::Arc<networks::hns::HnsNetworks>> {
    let hns = match hcs::network::Hns::load(library) {
        Ok(h) => std::sync::Arc::new(h),
        Err(e) => {
            tracing::warn!("no HNS, Windows containers need --network none: {e}");
            return None;
        }
    };
    match networks::hns::HnsNetworks::start(hns, "dockbridge").await {
        Ok(n) => Some(std::sync::Arc::new(n)),
        Err(e) => {
            tracing::warn!(
                "HNS nat network unavailable, Windows containers need --network none: {e:#}"
            );
            None
        }
    }
}

/// The default bridge (`--bridge`, `--bip`), set up before any container starts.
async fn start_networks(
    args: &config::ServeArgs,
) -> anyhow::Result<std::sync::Arc<networks::bridge::BridgeNetworks>> {
    use networks::bridge::{BridgeConfig, BridgeNetworks};
    let mut cfg = BridgeConfig::parse(&args.bridge, args.bip.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    #[cfg(target_os = "linux")]
    let ops: std::sync::Arc<dyn networks::ops::NetOps> =
        std::sync::Arc::new(networks::ops::SystemOps);
    #[cfg(not(target_os = "linux"))]
    let ops: std::sync::Arc<dyn networks::ops::NetOps> = {
        cfg.name = None;
        std::sync::Arc::new(networks::ops::NoBridges)
    };
    if cfg.name.is_none() {
        cfg.bip = None;
    }
    BridgeNetworks::start(cfg, ops, &args.data_root, &args.exec_root)
        .await
        .context("setting up the default bridge (`--bridge none` runs without one)")
}
