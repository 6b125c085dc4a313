//! The API views of an image: `GET /images/json` items, `GET /images/{name}/json`,
//! `GET /images/{name}/history`, shaped as dockerd shows a loaded image.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use spec::api::models::{
    DriverData, ImageConfig, ImageHistoryResponseItem, ImageInspect, ImageInspectMetadata,
    ImageInspectRootFs, ImageSummary,
};
use spec::api::ApiVersion;
use spec::image::ContainerConfig;

use super::ImageRecord;

/// Go's zero `time.Time`: what dockerd shows as `LastTagTime` of a never-tagged image.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn unix_seconds(nanos: i128) -> i64 {
    i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0)
}

/// An item of `GET /images/json`. `Containers` and `SharedSize` are -1 (not computed), as
/// dockerd answers unless asked for disk usage.
pub fn summary(rec: &ImageRecord) -> ImageSummary {
    ImageSummary {
        id: rec.id.clone(),
        parent_id: String::new(),
        repo_tags: rec.repo_tags.clone(),
        repo_digests: rec.repo_digests.clone(),
        created: unix_seconds(rec.created_nanos),
        size: rec.size,
        shared_size: -1,
        labels: rec.labels.clone(),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// [`summary`] as JSON for a client's API version: before 1.44 dockerd also sent
/// `VirtualSize` and showed an untagged image as `<none>:<none>` / `<none>@<none>`.
pub fn summary_json(rec: &ImageRecord, version: ApiVersion) -> Value {
    let mut v = serde_json::to_value(summary(rec)).unwrap_or(Value::Null);
    if version < ApiVersion::new(1, 44) {
        if let Value::Object(m) = &mut v {
            m.insert("VirtualSize".into(), json!(rec.size));
            if rec.repo_tags.is_empty() && rec.repo_digests.is_empty() {
                m.insert("RepoTags".into(), json!(["<none>:<none>"]));
                m.insert("RepoDigests".into(), json!(["<none>@<none>"]));
            }
        }
    }
    v
}

fn image_config(c: &ContainerConfig) -> ImageConfig {
    ImageConfig {
        user: c.user.clone(),
        exposed_ports: c
            .exposed_ports
            .as_ref()
            .map(|p| p.keys().cloned().collect()),
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        healthcheck: c
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::from_value(h.clone()).ok()),
        args_escaped: c.args_escaped,
        volumes: c.volumes.as_ref().map(|v| v.keys().cloned().collect()),
        working_dir: c.working_dir.clone(),
        entrypoint: c.entrypoint.clone(),
        on_build: c.on_build.clone(),
        labels: c.labels.as_ref().map(|l| l.clone().into_iter().collect()),
        stop_signal: c.stop_signal.clone(),
        shell: c.shell.clone(),
    }
}

fn extra_str(rec: &ImageRecord, key: &str) -> String {
    rec.config
        .extra
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `GET /images/{name}/json` in the current model: `Id` is the config digest, `Config`
/// carries `ArgsEscaped` when the image sets it, `RootFS` lists the diff IDs.
pub fn inspect(rec: &ImageRecord) -> ImageInspect {
    ImageInspect {
        id: Some(rec.id.clone()),
        repo_tags: Some(rec.repo_tags.clone()),
        repo_digests: Some(rec.repo_digests.clone()),
        comment: Some(extra_str(rec, "comment")),
        created: rec.config.created.clone(),
        author: Some(rec.config.author.clone().unwrap_or_default()),
        config: Some(image_config(&rec.config.container_config())),
        architecture: Some(rec.config.architecture.clone()),
        variant: rec.config.variant.clone(),
        os: Some(rec.config.os.clone()),
        os_version: rec.config.os_version.clone(),
        size: Some(rec.size),
        graph_driver: Some(DriverData {
            name: "overlayfs".into(),
            data: HashMap::new(),
        }),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(rec.diff_ids.clone()),
        }),
        metadata: Some(ImageInspectMetadata {
            last_tag_time: Some(
                rec.last_tag_time
                    .clone()
                    .unwrap_or_else(|| ZERO_TIME.into()),
            ),
        }),
        ..Default::default()
    }
}

/// The whole `container.Config` dockerd prints as an image's `Config` (every field, zero
/// values included; optional ones only when set), from the image config's `config`.
fn docker_config_json(c: &ContainerConfig) -> Value {
    let mut m = Map::new();
    let s = |v: &Option<String>| json!(v.clone().unwrap_or_default());
    m.insert("Hostname".into(), s(&c.hostname));
    m.insert("Domainname".into(), s(&c.domainname));
    m.insert("User".into(), s(&c.user));
    for k in ["AttachStdin", "AttachStdout", "AttachStderr"] {
        m.insert(k.into(), c.extra.get(k).cloned().unwrap_or(json!(false)));
    }
    if let Some(p) = &c.exposed_ports {
        m.insert("ExposedPorts".into(), json!(p));
    }
    for k in ["Tty", "OpenStdin", "StdinOnce"] {
        m.insert(k.into(), c.extra.get(k).cloned().unwrap_or(json!(false)));
    }
    m.insert("Env".into(), json!(c.env));
    m.insert("Cmd".into(), json!(c.cmd));
    if let Some(h) = &c.healthcheck {
        m.insert("Healthcheck".into(), h.clone());
    }
    if let Some(a) = c.args_escaped {
        m.insert("ArgsEscaped".into(), json!(a));
    }
    m.insert(
        "Image".into(),
        c.extra.get("Image").cloned().unwrap_or(json!("")),
    );
    m.insert("Volumes".into(), json!(c.volumes));
    m.insert("WorkingDir".into(), s(&c.working_dir));
    m.insert("Entrypoint".into(), json!(c.entrypoint));
    for k in ["NetworkDisabled", "MacAddress"] {
        if let Some(v) = c.extra.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("OnBuild".into(), json!(c.on_build));
    m.insert("Labels".into(), json!(c.labels));
    if let Some(sig) = &c.stop_signal {
        m.insert("StopSignal".into(), json!(sig));
    }
    if let Some(t) = c.extra.get("StopTimeout") {
        m.insert("StopTimeout".into(), t.clone());
    }
    if let Some(sh) = &c.shell {
        m.insert("Shell".into(), json!(sh));
    }
    Value::Object(m)
}

/// `GET /images/{name}/json` as dockerd sends it to a client of `version`: [`inspect`]
/// plus the fields the current model dropped (`Parent`, `DockerVersion`, the full
/// `Config`; `Container`/`ContainerConfig` before 1.45; `VirtualSize` before 1.44).
pub fn inspect_json(rec: &ImageRecord, version: ApiVersion) -> Value {
    let mut v = serde_json::to_value(inspect(rec)).unwrap_or(Value::Null);
    let Value::Object(m) = &mut v else {
        return v;
    };
    m.insert("Parent".into(), json!(extra_str(rec, "parent")));
    m.insert(
        "DockerVersion".into(),
        json!(extra_str(rec, "docker_version")),
    );
    m.insert(
        "Config".into(),
        docker_config_json(&rec.config.container_config()),
    );
    if version < ApiVersion::new(1, 45) {
        m.insert("Container".into(), json!(extra_str(rec, "container")));
        let cc = rec
            .config
            .extra
            .get("container_config")
            .and_then(|c| serde_json::from_value::<ContainerConfig>(c.clone()).ok())
            .unwrap_or_default();
        m.insert("ContainerConfig".into(), docker_config_json(&cc));
    }
    if version < ApiVersion::new(1, 44) {
        m.insert("VirtualSize".into(), json!(rec.size));
    }
    v
}

/// `GET /images/{name}/history`: the config's history, newest first; layer sizes for
/// entries that made a layer; the image's ID and tags on the newest entry only, the
/// others `<missing>` (a loaded image has no local parent images).
pub fn history(rec: &ImageRecord) -> Vec<ImageHistoryResponseItem> {
    history_with_parents(rec, &[])
}

/// [`history`], with the IDs and tags of the local parent chain (`parent` in the config,
/// as builds and commits write it) on the entries they made, as dockerd fills them in.
pub fn history_with_parents(
    rec: &ImageRecord,
    all: &[ImageRecord],
) -> Vec<ImageHistoryResponseItem> {
    let mut out = Vec::new();
    let mut layer = 0usize;
    for h in rec.config.history.iter().flatten() {
        let field = |k: &str| {
            h.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let empty = h
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut size = 0;
        if !empty {
            size = rec.layer_sizes.get(layer).copied().unwrap_or(0);
            layer += 1;
        }
        let created = chrono::DateTime::parse_from_rfc3339(&field("created"))
            .map(|t| t.timestamp())
            .unwrap_or(0);
        out.push(ImageHistoryResponseItem {
            id: "<missing>".into(),
            created,
            created_by: field("created_by"),
            tags: Vec::new(),
            size,
            comment: field("comment"),
        });
    }
    out.reverse();
    let mut cur = Some(rec);
    for item in out.iter_mut() {
        let Some(img) = cur else {
            break;
        };
        item.id = img.id.clone();
        item.tags = img.repo_tags.clone();
        let parent = extra_str(img, "parent");
        cur = (!parent.is_empty())
            .then(|| all.iter().find(|r| r.id == parent))
            .flatten();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::image::ImageConfigFile;

    fn rec() -> ImageRecord {
        let config = ImageConfigFile::from_slice(
            br#"{"architecture":"amd64","os":"windows","created":"2000-01-01T00:00:00Z",
            "config":{"Cmd":["cmd /S /C echo hi"],"ArgsEscaped":true,"Env":["A=1"]},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},
            "history":[{"created":"2000-01-01T00:00:00Z","created_by":"base"},
                       {"created":"2000-01-01T00:00:01Z","created_by":"env","empty_layer":true},
                       {"created":"2000-01-01T00:00:02Z","created_by":"top"}]}"#,
        )
        .unwrap();
        ImageRecord {
            id: "sha256:abc".into(),
            repo_tags: vec!["win:latest".into()],
            created: config.created.clone(),
            created_nanos: 946_684_800_000_000_000,
            size: 30,
            layer_sizes: vec![10, 20],
            diff_ids: config.diff_ids().to_vec(),
            config: config.into(),
            ..Default::default()
        }
    }

    #[test]
    fn summary_shape() {
        let v = serde_json::to_value(summary(&rec())).unwrap();
        assert_eq!(v["Created"], 946_684_800);
        assert_eq!(v["Containers"], -1);
        assert_eq!(v["SharedSize"], -1);
        assert_eq!(v["RepoTags"], json!(["win:latest"]));
        let old = summary_json(&ImageRecord::default(), ApiVersion::new(1, 41));
        assert_eq!(old["RepoTags"], json!(["<none>:<none>"]));
        assert_eq!(old["VirtualSize"], 0);
        let new = summary_json(&ImageRecord::default(), ApiVersion::new(1, 44));
        assert_eq!(new["RepoTags"], json!([]));
        assert!(new.get("VirtualSize").is_none());
    }

    #[test]
    fn inspect_keeps_args_escaped() {
        let v = serde_json::to_value(inspect(&rec())).unwrap();
        assert_eq!(v["Config"]["ArgsEscaped"], true);
        assert_eq!(
            v["RootFS"],
            json!({"Type": "layers", "Layers": ["sha256:aa", "sha256:bb"]})
        );
        assert_eq!(v["Os"], "windows");
        assert_eq!(v["Created"], "2000-01-01T00:00:00Z");
        assert_eq!(v["Metadata"]["LastTagTime"], ZERO_TIME);
        let full = inspect_json(&rec(), ApiVersion::new(1, 41));
        assert_eq!(full["Config"]["ArgsEscaped"], true);
        assert_eq!(full["Config"]["Hostname"], "");
        assert_eq!(full["Config"]["Entrypoint"], Value::Null);
        assert_eq!(full["VirtualSize"], 30);
        assert_eq!(full["Parent"], "");
        let plain = ImageRecord::default();
        let v = inspect_json(&plain, ApiVersion::new(1, 44));
        assert!(v["Config"].get("ArgsEscaped").is_none());
    }

    #[test]
    fn history_newest_first() {
        let h = history(&rec());
        let by: Vec<&str> = h.iter().map(|e| e.created_by.as_str()).collect();
        assert_eq!(by, ["top", "env", "base"]);
        assert_eq!(h[0].id, "sha256:abc");
        assert_eq!(h[0].tags, ["win:latest"]);
        assert_eq!(h[1].id, "<missing>");
        let sizes: Vec<i64> = h.iter().map(|e| e.size).collect();
        assert_eq!(sizes, [20, 0, 10]);
    }
}
