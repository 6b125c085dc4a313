//! `/_ping`, `/version`, `/info`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use spec::api::models::{
    Commit, SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};
use spec::api::{API_VERSION, MIN_API_VERSION};

use super::AppState;
use crate::containers::record::Status;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
}

async fn ping() -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    (StatusCode::OK, h, "OK")
}

async fn containerd_version(d: &AppState) -> (String, String) {
    let Some(cd) = &d.containerd else {
        return (String::new(), String::new());
    };
    match cd.version().version(()).await {
        Ok(v) => {
            let v = v.into_inner();
            (v.version, v.revision)
        }
        Err(_) => (String::new(), String::new()),
    }
}

async fn version(State(d): State<AppState>) -> impl IntoResponse {
    let (cd_version, cd_rev) = containerd_version(&d).await;
    let os = std::env::consts::OS.to_string();
    let arch = go_arch().to_string();
    let engine = crate::ENGINE_VERSION.to_string();
    let details = HashMap::from([
        ("ApiVersion".to_string(), API_VERSION.to_string()),
        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
        ("GitCommit".to_string(), crate::GIT_COMMIT.to_string()),
        ("GoVersion".to_string(), "n/a (rust)".to_string()),
        ("Os".to_string(), os.clone()),
        ("Arch".to_string(), arch.clone()),
        ("KernelVersion".to_string(), d.host.kernel_version.clone()),
        ("Experimental".to_string(), "false".to_string()),
        ("BuildTime".to_string(), String::new()),
    ]);
    Json(SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "dockbridge".into(),
        }),
        components: Some(vec![
            SystemVersionComponents {
                name: "Engine".into(),
                version: engine.clone(),
                details: Some(details),
            },
            SystemVersionComponents {
                name: "containerd".into(),
                version: cd_version,
                details: Some(HashMap::from([("GitCommit".to_string(), cd_rev)])),
            },
            SystemVersionComponents {
                name: "runc".into(),
                version: d.host.runc_version.clone(),
                details: Some(HashMap::from([(
                    "GitCommit".to_string(),
                    d.host.runc_commit.clone(),
                )])),
            },
        ]),
        version: Some(engine),
        api_version: Some(API_VERSION.to_string()),
        min_api_version: Some(MIN_API_VERSION.to_string()),
        git_commit: Some(crate::GIT_COMMIT.to_string()),
        go_version: Some("n/a (rust)".into()),
        os: Some(os),
        arch: Some(arch),
        kernel_version: Some(d.host.kernel_version.clone()),
        experimental: Some(false),
        build_time: Some(String::new()),
    })
}

/// Docker reports Go's architecture names.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

async fn info(State(d): State<AppState>) -> impl IntoResponse {
    let (_, cd_rev) = containerd_version(&d).await;
    let (mut running, mut paused, mut stopped) = (0i64, 0i64, 0i64);
    let all = d.containers.all();
    for c in &all {
        match c.record().state.status {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            _ => stopped += 1,
        }
    }
    let images = d.images.list().await.map(|l| l.len() as i64).unwrap_or(0);
    let backends = d.containers.backend_names();
    let mut runtimes = HashMap::new();
    runtimes.insert(
        "io.containerd.runc.v2".to_string(),
        spec::api::models::Runtime {
            path: Some("runc".into()),
            ..Default::default()
        },
    );
    Json(SystemInfo {
        // Without swarm mode dockerd reports an inactive node, which the CLI prints as
        // `Swarm: inactive`.
        swarm: Some(spec::api::models::SwarmInfo {
            node_id: Some(String::new()),
            node_addr: Some(String::new()),
            local_node_state: Some(spec::api::models::LocalNodeState::INACTIVE),
            control_available: Some(false),
            error: Some(String::new()),
            remote_managers: None,
            ..Default::default()
        }),
        id: Some(d.id.clone()),
        containers: Some(all.len() as i64),
        containers_running: Some(running),
        containers_paused: Some(paused),
        containers_stopped: Some(stopped),
        images: Some(images),
        driver: Some(d.images.snapshotter().to_string()),
        driver_status: Some(vec![
            vec!["driver-type".into(), "io.containerd.snapshotter.v1".into()],
            vec!["Backends".into(), backends.join(", ")],
            vec![
                "Default Backend".into(),
                d.containers.default_backend().into(),
            ],
        ]),
        docker_root_dir: Some(d.data_root.display().to_string()),
        memory_limit: Some(true),
        swap_limit: Some(false),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(d.host.cgroup_version == 1),
        ipv4_forwarding: Some(false),
        debug: Some(false),
        nfd: Some(
            std::fs::read_dir("/proc/self/fd")
                .map(|r| r.count() as i64)
                .unwrap_or(0),
        ),
        n_goroutines: Some(0),
        system_time: Some(
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
        ),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if d.host.cgroup_version == 2 {
            SystemInfoCgroupVersionEnum::_2
        } else {
            SystemInfoCgroupVersionEnum::_1
        }),
        n_events_listener: Some(0),
        kernel_version: Some(d.host.kernel_version.clone()),
        operating_system: Some(d.host.operating_system.clone()),
        os_version: Some(d.host.os_version.clone()),
        os_type: Some(std::env::consts::OS.into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: Some(d.host.ncpu),
        mem_total: Some(d.host.mem_total),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        name: Some(d.host.hostname.clone()),
        labels: Some(Vec::new()),
        experimental_build: Some(false),
        server_version: Some(crate::ENGINE_VERSION.into()),
        runtimes: Some(runtimes),
        default_runtime: Some("io.containerd.runc.v2".into()),
        live_restore_enabled: Some(true),
        containerd_commit: Some(Commit { id: Some(cd_rev) }),
        runc_commit: Some(Commit {
            id: Some(d.host.runc_commit.clone()),
        }),
        init_commit: Some(Commit {
            id: Some(String::new()),
        }),
        security_options: Some(
            translate::linux::lsm::info_option(&d.host.lsm)
                .map(String::from)
                .into_iter()
                .chain([format!("name=seccomp,profile={}", d.seccomp)])
                .collect(),
        ),
        warnings: Some(
            (d.seccomp == "unconfined")
                .then(|| {
                    "WARNING: containers run without a seccomp filter (no profile: see dockbridge serve --seccomp-profile)".to_string()
                })
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    })
}

/// `docker system df`: images with their container counts, containers with their
/// writable-layer sizes, volumes with their usage, the builder's intermediate images as
/// the build cache.
async fn df(
    State(d): State<AppState>,
    axum::Extension(version): axum::Extension<spec::api::ApiVersion>,
) -> Result<impl IntoResponse, super::ApiError> {
    let images = d.images.list().await?;
    let containers = d.containers.all();
    let recs: Vec<_> = containers.iter().map(|c| c.record()).collect();
    let mut layers_size: i64 = 0;
    let mut image_json = Vec::new();
    // The classic builder's cache: untagged intermediate images (the parent of another),
    // hidden from `docker images` as from here, and freed by `docker builder prune`.
    let parents: std::collections::HashSet<&str> = images
        .iter()
        .filter_map(|i| i.config.extra.get("parent").and_then(|p| p.as_str()))
        .collect();
    let mut build_cache = Vec::new();
    for img in &images {
        if img.dangling
            && img.repo_digests.is_empty()
            && img.config.extra.contains_key("parent")
            && parents.contains(img.id.as_str())
            && !recs.iter().any(|r| r.image_id == img.id)
        {
            let last = img.config.history.as_ref().and_then(|h| h.last());
            let empty = last
                .and_then(|h| h.get("empty_layer"))
                .and_then(|e| e.as_bool())
                .unwrap_or(false);
            let size = if empty {
                0
            } else {
                img.layer_sizes.last().copied().unwrap_or(0)
            };
            build_cache.push(serde_json::json!({
                "ID": img.id.trim_start_matches("sha256:").get(..25).unwrap_or_default(),
                "Parent": img.config.extra.get("parent").and_then(|p| p.as_str()).unwrap_or_default().trim_start_matches("sha256:").get(..25).unwrap_or_default(),
                "Type": "regular",
                "Description": last.and_then(|h| h.get("created_by")).and_then(|c| c.as_str()).unwrap_or_default(),
                "InUse": false,
                "Shared": false,
                "Size": size,
                "CreatedAt": img.created.clone().unwrap_or_default(),
                "LastUsedAt": serde_json::Value::Null,
                "UsageCount": 0,
            }));
            continue;
        }
        layers_size = layers_size.saturating_add(img.size);
        let mut v = crate::images::models::summary_json(img, version);
        let users = recs.iter().filter(|r| r.image_id == img.id).count();
        v["Containers"] = serde_json::json!(users);
        v["SharedSize"] = serde_json::json!(0);
        image_json.push(v);
    }
    let now = chrono::Utc::now();
    let mut container_json = Vec::new();
    for r in &recs {
        let mut s = crate::containers::inspect::summary(r, r.image_ref.clone(), now);
        if let Some((rw, root)) = d.containers.sizes(r).await {
            s.size_rw = Some(rw);
            s.size_root_fs = Some(root);
        }
        container_json.push(s);
    }
    // Volumes with their usage, as `docker system df -v` shows them.
    let volume_json: Vec<serde_json::Value> = d
        .volumes
        .list()
        .iter()
        .map(|v| {
            let refs = i64::try_from(d.containers.volume_users(&v.name).len()).unwrap_or(0);
            d.volumes.to_json(v, Some((d.volumes.size(&v.name), refs)))
        })
        .collect();
    Ok(Json(serde_json::json!({
        "LayersSize": layers_size,
        "Images": image_json,
        "Containers": container_json,
        "Volumes": volume_json,
        "BuildCache": build_cache,
    })))
}
