//! Docker events, as dockerd produces them: the message model, the attribute sets moby puts
//! on container and image events, the mapping of runtime events (whatever backend reports
//! them), the rules of `docker events --filter`, the `since` / `until` window and the wire
//! encoding per API version.
//!
//! Everything is pure: times come in as nanoseconds since the epoch, the caller stamps them.
//! The sources followed are moby's `daemon/events.go`, `daemon/events/{events,filter}.go`,
//! `daemon/monitor.go`, `api/types/events` and the system router's `getEvents`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use spec::api::ApiVersion;

use crate::Error;

/// The kind of object an event is about (`Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Builder,
    Config,
    Container,
    Daemon,
    Image,
    Network,
    Node,
    Plugin,
    Secret,
    Service,
    Volume,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builder => "builder",
            Self::Config => "config",
            Self::Container => "container",
            Self::Daemon => "daemon",
            Self::Image => "image",
            Self::Network => "network",
            Self::Node => "node",
            Self::Plugin => "plugin",
            Self::Secret => "secret",
            Self::Service => "service",
            Self::Volume => "volume",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What generated the event, with its attributes. Attributes are kept sorted: Go encodes a
/// map with sorted keys, so dockbridge's output reads the same as dockerd's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event on `GET /events`.
///
/// `status`, `id` and `from` are the fields deprecated in API 1.22 that dockerd still sends
/// below API 1.52 (CLIs before 25.0 crash without them); they are `None` in the messages the
/// constructors make and only filled in by [`Message::with_legacy_fields`] when encoding.
/// They come first, where dockerd 20.10's struct had them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub typ: EventType,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// `local` for engine events, `swarm` for cluster ones (dockbridge has none).
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

pub const SCOPE_LOCAL: &str = "local";

impl Message {
    /// A local-scope event stamped at `time_nano`; `time` is derived from it so that the two
    /// always agree (`time == timeNano / 1e9`), as in dockerd where both come from one clock
    /// reading.
    pub fn new(
        typ: EventType,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
        time_nano: i64,
    ) -> Self {
        Self {
            status: None,
            id: None,
            from: None,
            typ,
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: SCOPE_LOCAL.into(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }

    /// moby's `backFillLegacy`: container events get `id`, `status` and `from` (the image),
    /// image events `id` and `status`; other types stay as they are.
    pub fn with_legacy_fields(mut self) -> Self {
        match self.typ {
            EventType::Container => {
                self.id = Some(self.actor.id.clone());
                self.status = Some(self.action.clone());
                self.from = Some(
                    self.actor
                        .attributes
                        .get("image")
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            EventType::Image => {
                self.id = Some(self.actor.id.clone());
                self.status = Some(self.action.clone());
            }
            _ => {}
        }
        self
    }
}

// ---------------------------------------------------------------------------------------
// Container events
// ---------------------------------------------------------------------------------------

/// What every container event carries: the container's ID, and for the attributes its
/// labels, the image it was created from (as given, e.g. `busybox`) and its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerActor {
    pub id: String,
    /// With or without the leading `/`; events carry it without.
    pub name: String,
    pub image: String,
    pub labels: HashMap<String, String>,
}

impl ContainerActor {
    /// moby's `LogContainerEventWithAttributes`: the action's own attributes, then the labels
    /// (which win over them, as `maps.Copy` does), then `image` and `name`.
    pub fn attributes(
        &self,
        extra: impl IntoIterator<Item = (String, String)>,
    ) -> BTreeMap<String, String> {
        let mut attrs: BTreeMap<String, String> = extra.into_iter().collect();
        attrs.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !self.image.is_empty() {
            attrs.insert("image".into(), self.image.clone());
        }
        attrs.insert(
            "name".into(),
            self.name
                .strip_prefix('/')
                .unwrap_or(&self.name)
                .to_string(),
        );
        attrs
    }

    /// A container event with any action string and extra attributes.
    pub fn message(
        &self,
        action: &str,
        extra: impl IntoIterator<Item = (String, String)>,
        time_nano: i64,
    ) -> Message {
        Message::new(
            EventType::Container,
            action,
            self.id.clone(),
            self.attributes(extra),
            time_nano,
        )
    }

    pub fn event(&self, action: &ContainerAction, time_nano: i64) -> Message {
        self.message(&action.action(), action.attributes(), time_nano)
    }
}

/// The container actions dockerd reports, with the attributes each one adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerAction {
    Create,
    Start,
    Restart,
    Stop,
    Pause,
    Unpause,
    Attach,
    Detach,
    Destroy,
    Update,
    Top,
    Export,
    Commit,
    Kill {
        signal: u32,
    },
    /// The init process exited. `exec_duration_secs` is how long the run lasted, whole
    /// seconds, as moby's `int(execDuration.Seconds())`.
    Die {
        exit_code: i64,
        exec_duration_secs: i64,
    },
    Oom,
    Rename {
        /// With the leading `/`, as dockerd reports it.
        old_name: String,
    },
    Resize {
        height: u32,
        width: u32,
    },
    /// `cmd` is the exec's command line (`Cmd` of the exec config).
    ExecCreate {
        exec_id: String,
        cmd: Vec<String>,
    },
    ExecStart {
        exec_id: String,
        cmd: Vec<String>,
    },
    ExecDie {
        exec_id: String,
        exit_code: i64,
    },
    ExecDetach {
        exec_id: String,
    },
}

/// `exec_create: sh -c echo hi`: moby appends `Entrypoint + " " + strings.Join(Args, " ")`,
/// so a command without arguments keeps a trailing space (`exec_start: true `), and
/// `docker events --filter event=exec_start` still matches by prefix (see [`Filter`]).
pub fn exec_action(prefix: &str, cmd: &[String]) -> String {
    let (entrypoint, args) = match cmd.split_first() {
        Some((e, a)) => (e.as_str(), a),
        None => ("", &[][..]),
    };
    format!("{prefix}: {entrypoint} {}", args.join(" "))
}

impl ContainerAction {
    /// The `Action` string.
    pub fn action(&self) -> String {
        match self {
            Self::Create => "create".into(),
            Self::Start => "start".into(),
            Self::Restart => "restart".into(),
            Self::Stop => "stop".into(),
            Self::Pause => "pause".into(),
            Self::Unpause => "unpause".into(),
            Self::Attach => "attach".into(),
            Self::Detach => "detach".into(),
            Self::Destroy => "destroy".into(),
            Self::Update => "update".into(),
            Self::Top => "top".into(),
            Self::Export => "export".into(),
            Self::Commit => "commit".into(),
            Self::Kill { .. } => "kill".into(),
            Self::Die { .. } => "die".into(),
            Self::Oom => "oom".into(),
            Self::Rename { .. } => "rename".into(),
            Self::Resize { .. } => "resize".into(),
            Self::ExecCreate { cmd, .. } => exec_action("exec_create", cmd),
            Self::ExecStart { cmd, .. } => exec_action("exec_start", cmd),
            Self::ExecDie { .. } => "exec_die".into(),
            Self::ExecDetach { .. } => "exec_detach".into(),
        }
    }

    /// The attributes the action adds to the container's own.
    pub fn attributes(&self) -> HashMap<String, String> {
        let kv = |pairs: &[(&str, String)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        match self {
            Self::Kill { signal } => kv(&[("signal", signal.to_string())]),
            Self::Die {
                exit_code,
                exec_duration_secs,
            } => kv(&[
                ("exitCode", exit_code.to_string()),
                ("execDuration", exec_duration_secs.to_string()),
            ]),
            Self::Rename { old_name } => kv(&[("oldName", old_name.clone())]),
            Self::Resize { height, width } => {
                kv(&[("height", height.to_string()), ("width", width.to_string())])
            }
            Self::ExecCreate { exec_id, .. }
            | Self::ExecStart { exec_id, .. }
            | Self::ExecDetach { exec_id } => kv(&[("execID", exec_id.clone())]),
            Self::ExecDie { exec_id, exit_code } => kv(&[
                ("execID", exec_id.clone()),
                ("exitCode", exit_code.to_string()),
            ]),
            _ => HashMap::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runtime events
// ---------------------------------------------------------------------------------------

/// What a runtime backend reports on its own (containerd's `/tasks/*` topics, HCS
/// notifications), reduced to what the Docker events need. Backends map into this, so every
/// backend yields the same Docker events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// A process exited; `exec_id` is `None` for the container's init process.
    Exit {
        exec_id: Option<String>,
        exit_code: i64,
    },
    Oom,
    /// Paused or resumed by someone other than dockbridge (`ctr task pause`).
    Paused,
    Resumed,
}

/// Maps a runtime event to the container action dockerd reports for it (`daemon/monitor.go`):
/// an init exit is `die` with `exitCode` and `execDuration` (from `started_at_nano`, the
/// container's `State.StartedAt`, to `now_nano`), an exec's exit `exec_die`, an OOM `oom`,
/// and outside pauses `pause` / `unpause`.
///
/// Whether the event applies at all (a duplicate exit, a pause already known) is the
/// container manager's call: it owns the state.
pub fn runtime_action(
    ev: &RuntimeEvent,
    started_at_nano: Option<i64>,
    now_nano: i64,
) -> ContainerAction {
    match ev {
        RuntimeEvent::Exit {
            exec_id: None,
            exit_code,
        } => ContainerAction::Die {
            exit_code: *exit_code,
            exec_duration_secs: started_at_nano
                .map(|s| now_nano.saturating_sub(s).max(0) / 1_000_000_000)
                .unwrap_or(0),
        },
        RuntimeEvent::Exit {
            exec_id: Some(exec_id),
            exit_code,
        } => ContainerAction::ExecDie {
            exec_id: exec_id.clone(),
            exit_code: *exit_code,
        },
        RuntimeEvent::Oom => ContainerAction::Oom,
        RuntimeEvent::Paused => ContainerAction::Pause,
        RuntimeEvent::Resumed => ContainerAction::Unpause,
    }
}

/// The Docker event for a runtime event of the container `actor`.
pub fn runtime_event(
    actor: &ContainerActor,
    ev: &RuntimeEvent,
    started_at_nano: Option<i64>,
    now_nano: i64,
) -> Message {
    actor.event(&runtime_action(ev, started_at_nano, now_nano), now_nano)
}

// ---------------------------------------------------------------------------------------
// Image and other events
// ---------------------------------------------------------------------------------------

/// The image actions dockerd reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    Create,
    Delete,
    Import,
    Load,
    Pull,
    Push,
    Save,
    Tag,
    Untag,
}

impl ImageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Import => "import",
            Self::Load => "load",
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Save => "save",
            Self::Tag => "tag",
            Self::Untag => "untag",
        }
    }
}

/// moby's `LogImageEvent(imageID, refName, action)`: the image's labels (while it still
/// exists), then `name` = `ref_name` when there is one. dockerd passes the image ID as the
/// name for load, import, untag and delete, and the new reference for tag.
pub fn image_event(
    image_id: &str,
    ref_name: &str,
    action: ImageAction,
    labels: &HashMap<String, String>,
    time_nano: i64,
) -> Message {
    let mut attrs: BTreeMap<String, String> =
        labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !ref_name.is_empty() {
        attrs.insert("name".into(), ref_name.to_string());
    }
    Message::new(
        EventType::Image,
        action.as_str(),
        image_id,
        attrs,
        time_nano,
    )
}

/// `prune` of containers, images, volumes …: no actor ID, only `reclaimed` (bytes).
pub fn prune_event(typ: EventType, reclaimed: u64, time_nano: i64) -> Message {
    Message::new(
        typ,
        "prune",
        "",
        BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
        time_nano,
    )
}

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

/// `filters` of `GET /events`, with moby's `filters.Args` semantics: values of one key are
/// alternatives, keys must all match; a key with no values filters nothing.
///
/// Values keep the boolean of the `{"key":{"value":true}}` form because moby's matchers treat
/// it inconsistently (exact matches need `true`, prefix and label matches take any key), and
/// dockbridge answers the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    fields: BTreeMap<String, BTreeMap<String, bool>>,
}

/// Actions that carry a suffix (`exec_start: sh -c …`, `health_status: healthy`): a filter on
/// one of them switches the `event` key to prefix matching (moby #25798).
const PREFIXED_ACTIONS: [&str; 3] = ["health_status", "exec_create", "exec_start"];

impl Filter {
    /// Parses both JSON forms dockerd accepts: `{"type":{"container":true}}` and the older
    /// `{"type":["container"]}`. An empty string is no filter. Unknown keys are accepted and
    /// ignored, as dockerd does for events.
    pub fn from_json(raw: &str) -> Result<Self, Error> {
        if raw.is_empty() {
            return Ok(Self::default());
        }
        if let Ok(m) =
            serde_json::from_str::<Option<BTreeMap<String, Option<BTreeMap<String, bool>>>>>(raw)
        {
            return Ok(Self {
                fields: m
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect(),
            });
        }
        match serde_json::from_str::<BTreeMap<String, Option<Vec<String>>>>(raw) {
            Ok(m) => Ok(Self::from_lists(
                m.into_iter().map(|(k, v)| (k, v.unwrap_or_default())),
            )),
            Err(_) => Err(Error::InvalidParameter("invalid filter".into())),
        }
    }

    /// From already-parsed key → values lists (every value on).
    pub fn from_lists(lists: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        Self {
            fields: lists
                .into_iter()
                .map(|(k, vals)| (k, vals.into_iter().map(|v| (v, true)).collect()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    fn values(&self, key: &str) -> impl Iterator<Item = &str> {
        self.fields
            .get(key)
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }

    /// `ExactMatch`: no values → true; else `source` must be one of them (switched on).
    fn exact(&self, key: &str, source: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(m) if m.is_empty() => true,
            Some(m) => m.get(source).copied().unwrap_or(false),
        }
    }

    /// `FuzzyMatch`: an exact match, or `source` starts with one of the values.
    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.exact(key, source) || self.values(key).any(|p| source.starts_with(p))
    }

    /// `MatchKVList`: every `k` or `k=v` value must hold in `attrs`.
    fn kv_list(&self, key: &str, attrs: &BTreeMap<String, String>) -> bool {
        let Some(m) = self.fields.get(key).filter(|m| !m.is_empty()) else {
            return true;
        };
        if attrs.is_empty() {
            return false;
        }
        m.keys().all(|want| match want.split_once('=') {
            Some((k, v)) => attrs.get(k).is_some_and(|x| x == v),
            None => attrs.contains_key(want.as_str()),
        })
    }

    /// moby's `Filter.Include`.
    pub fn include(&self, ev: &Message) -> bool {
        if self.fields.is_empty() {
            return true;
        }
        self.match_event(ev)
            && self.exact("type", ev.typ.as_str())
            && (!self.contains("scope") || self.exact("scope", &ev.scope))
            && [
                EventType::Daemon,
                EventType::Container,
                EventType::Plugin,
                EventType::Volume,
                EventType::Network,
                EventType::Image,
                EventType::Node,
                EventType::Service,
                EventType::Secret,
                EventType::Config,
            ]
            .into_iter()
            .all(|t| {
                if t == EventType::Image {
                    self.match_image(ev)
                } else {
                    self.match_name(ev, t.as_str())
                }
            })
            && (!self.contains("label") || self.kv_list("label", &ev.actor.attributes))
    }

    fn match_event(&self, ev: &Message) -> bool {
        if self.values("event").any(|v| PREFIXED_ACTIONS.contains(&v)) {
            self.fuzzy("event", &ev.action)
        } else {
            self.exact("event", &ev.action)
        }
    }

    /// `container=`, `network=`, …: the actor's ID or `name` attribute, whole or as a prefix.
    /// Like dockerd this does not look at the event's type: `container=abc` keeps any event
    /// whose actor ID or name starts with `abc`.
    fn match_name(&self, ev: &Message, key: &str) -> bool {
        let name = ev
            .actor
            .attributes
            .get("name")
            .map(String::as_str)
            .unwrap_or("");
        self.fuzzy(key, &ev.actor.id) || self.fuzzy(key, name)
    }

    /// `image=`: the image ID (image events) or the container's image, exactly or without its
    /// tag (`busybox` matches `busybox:latest` and `docker.io/library/busybox:1`).
    fn match_image(&self, ev: &Message) -> bool {
        if !self.contains("image") {
            return true;
        }
        let attr = if ev.typ == EventType::Image {
            "name"
        } else {
            "image"
        };
        let name = ev
            .actor
            .attributes
            .get(attr)
            .map(String::as_str)
            .unwrap_or("");
        self.exact("image", &ev.actor.id)
            || self.exact("image", name)
            || self.exact("image", &strip_tag(&ev.actor.id))
            || self.exact("image", &strip_tag(name))
    }
}

/// `reference.FamiliarName(ParseNormalizedNamed(s))`, or `s` itself when it is no name.
fn strip_tag(s: &str) -> String {
    spec::reference::parse_normalized_named(s)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| s.to_string())
}

// ---------------------------------------------------------------------------------------
// since / until
// ---------------------------------------------------------------------------------------

pub use spec::timestamp::parse_unix as parse_unix_timestamp;

/// The time window of one `GET /events`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Window {
    /// From the raw query values; the errors are dockerd's 400 messages.
    pub fn parse(since: &str, until: &str) -> Result<Self, Error> {
        let since_t = parse_unix_timestamp(since)
            .map_err(|e| Error::InvalidParameter(format!("invalid value for 'since': {e}")))?;
        let until_t = parse_unix_timestamp(until)
            .map_err(|e| Error::InvalidParameter(format!("invalid value for 'until': {e}")))?;
        if let (Some(s), Some(u)) = (since_t, until_t) {
            if u < s {
                return Err(Error::InvalidParameter(format!(
                    "`since` time ({since}) cannot be after `until` time ({until})"
                )));
            }
        }
        Ok(Self {
            since: since_t,
            until: until_t,
        })
    }

    /// Whether the backlog is replayed at all: dockerd replays when either bound is given
    /// (`until` alone replays everything up to it).
    pub fn replays(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether a past event belongs to the replay.
    pub fn contains(&self, time_nano: i64) -> bool {
        self.since.is_none_or(|s| time_nano >= s) && self.until.is_none_or(|u| time_nano <= u)
    }

    /// With `until` already past, the stream ends after the replay.
    pub fn only_past(&self, now_nano: i64) -> bool {
        self.until.is_some_and(|u| u < now_nano)
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// How the event stream is framed and labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: what dockerd always said below API 1.52 (although the body is a
    /// series of JSON documents, not one).
    Json,
    /// `application/jsonl`: the default from API 1.52.
    JsonLines,
    /// `application/x-ndjson`.
    NdJson,
    /// `application/json-seq` (RFC 7464): every record starts with an ASCII RS.
    JsonSeq,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::JsonLines => "application/jsonl",
            Self::NdJson => "application/x-ndjson",
            Self::JsonSeq => "application/json-seq",
        }
    }
}

/// The API version from which events lose their legacy fields and default to JSON Lines.
pub const JSON_LINES_VERSION: ApiVersion = ApiVersion::new(1, 52);
/// Below this version image `create` events are not sent (they were added in 1.46).
pub const IMAGE_CREATE_VERSION: ApiVersion = ApiVersion::new(1, 46);

/// The stream's content type: by API version, unless `Accept` names one of the streaming
/// types explicitly (moby's `MatchAcceptStrict`: wildcards and `q=0` don't count; the highest
/// `q` wins, ties go to the order jsonl, x-ndjson, json-seq).
pub fn negotiate_media_type(version: ApiVersion, accept: Option<&str>) -> MediaType {
    let default = if version < JSON_LINES_VERSION {
        MediaType::Json
    } else {
        MediaType::JsonLines
    };
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return default;
    };
    let specs: Vec<(String, f64)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let value = parts.next()?.trim().to_ascii_lowercase();
            let mut q = 1.0;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            Some((value, q))
        })
        .collect();
    let mut best: Option<(MediaType, f64)> = None;
    for offer in [MediaType::JsonLines, MediaType::NdJson, MediaType::JsonSeq] {
        for (value, q) in &specs {
            if *q <= 0.0 || value != offer.as_str() {
                continue;
            }
            if best.is_none_or(|(_, b)| *q > b) {
                best = Some((offer, *q));
            }
        }
    }
    best.map(|(m, _)| m).unwrap_or(default)
}

/// Whether a client of `version` is not sent this event at all.
pub fn hidden_from(ev: &Message, version: ApiVersion) -> bool {
    version < IMAGE_CREATE_VERSION && ev.typ == EventType::Image && ev.action == "create"
}

/// One record of the stream: the event (with the legacy fields below API 1.52), framed for
/// `media`, newline-terminated.
pub fn encode(ev: &Message, version: ApiVersion, media: MediaType) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    if media == MediaType::JsonSeq {
        out.push(0x1e);
    }
    let written = if version < JSON_LINES_VERSION {
        serde_json::to_writer(&mut out, &ev.clone().with_legacy_fields())
    } else {
        serde_json::to_writer(&mut out, ev)
    };
    // Serialising plain strings and maps cannot fail; an empty record is the safe fallback.
    if written.is_err() {
        out.clear();
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_123_456_789;

    fn actor() -> ContainerActor {
        ContainerActor {
            id: "4f9c1a2b3c".into(),
            name: "/web".into(),
            image: "busybox".into(),
            labels: HashMap::from([("app".to_string(), "shop".to_string())]),
        }
    }

    fn attrs(m: &Message) -> Vec<(&str, &str)> {
        m.actor
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn container_events_carry_labels_image_and_name() {
        let m = actor().event(&ContainerAction::Create, T);
        assert_eq!(m.typ, EventType::Container);
        assert_eq!(m.action, "create");
        assert_eq!(m.actor.id, "4f9c1a2b3c");
        assert_eq!(
            attrs(&m),
            [("app", "shop"), ("image", "busybox"), ("name", "web")]
        );
        assert_eq!(m.scope, "local");
        assert_eq!(m.time, 1_700_000_000);
        assert_eq!(m.time_nano, T);
    }

    #[test]
    fn labels_override_action_attributes_but_not_image_and_name() {
        let mut a = actor();
        a.labels.insert("signal".into(), "label".into());
        a.labels.insert("name".into(), "label".into());
        let m = a.event(&ContainerAction::Kill { signal: 9 }, T);
        assert_eq!(m.actor.attributes["signal"], "label");
        assert_eq!(m.actor.attributes["name"], "web");
    }

    #[test]
    fn every_container_action_maps_like_moby() {
        type Case = (
            ContainerAction,
            &'static str,
            Vec<(&'static str, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            (ContainerAction::Start, "start", vec![]),
            (ContainerAction::Restart, "restart", vec![]),
            (ContainerAction::Stop, "stop", vec![]),
            (ContainerAction::Pause, "pause", vec![]),
            (ContainerAction::Unpause, "unpause", vec![]),
            (ContainerAction::Attach, "attach", vec![]),
            (ContainerAction::Detach, "detach", vec![]),
            (ContainerAction::Destroy, "destroy", vec![]),
            (ContainerAction::Update, "update", vec![]),
            (ContainerAction::Top, "top", vec![]),
            (ContainerAction::Export, "export", vec![]),
            (ContainerAction::Commit, "commit", vec![]),
            (ContainerAction::Oom, "oom", vec![]),
            (
                ContainerAction::Kill { signal: 15 },
                "kill",
                vec![("signal", "15")],
            ),
            (
                ContainerAction::Die {
                    exit_code: 42,
                    exec_duration_secs: 3,
                },
                "die",
                vec![("execDuration", "3"), ("exitCode", "42")],
            ),
            (
                ContainerAction::Rename {
                    old_name: "/old".into(),
                },
                "rename",
                vec![("oldName", "/old")],
            ),
            (
                ContainerAction::Resize {
                    height: 24,
                    width: 80,
                },
                "resize",
                vec![("height", "24"), ("width", "80")],
            ),
            (
                ContainerAction::ExecCreate {
                    exec_id: "e1".into(),
                    cmd: vec!["sh".into(), "-c".into(), "echo hi".into()],
                },
                "exec_create: sh -c echo hi",
                vec![("execID", "e1")],
            ),
            (
                ContainerAction::ExecStart {
                    exec_id: "e1".into(),
                    cmd: vec!["true".into()],
                },
                "exec_start: true ",
                vec![("execID", "e1")],
            ),
            (
                ContainerAction::ExecDie {
                    exec_id: "e1".into(),
                    exit_code: 2,
                },
                "exec_die",
                vec![("execID", "e1"), ("exitCode", "2")],
            ),
            (
                ContainerAction::ExecDetach {
                    exec_id: "e1".into(),
                },
                "exec_detach",
                vec![("execID", "e1")],
            ),
        ];
        for (action, name, extra) in cases {
            let m = actor().event(&action, T);
            assert_eq!(m.action, name, "{action:?}");
            for (k, v) in &extra {
                assert_eq!(m.actor.attributes.get(*k).map(String::as_str), Some(*v));
            }
            // Container attributes on every one.
            assert_eq!(m.actor.attributes.len(), 3 + extra.len(), "{action:?}");
        }
    }

    #[test]
    fn exec_action_keeps_mobys_trailing_space() {
        assert_eq!(
            exec_action("exec_start", &["true".into()]),
            "exec_start: true "
        );
        assert_eq!(
            exec_action("exec_create", &["ls".into(), "-l".into(), "/".into()]),
            "exec_create: ls -l /"
        );
        assert_eq!(exec_action("exec_create", &[]), "exec_create:  ");
    }

    #[test]
    fn runtime_events_map_to_die_exec_die_oom_and_pause() {
        let started = T - 5_500_000_000;
        let die = runtime_event(
            &actor(),
            &RuntimeEvent::Exit {
                exec_id: None,
                exit_code: 42,
            },
            Some(started),
            T,
        );
        assert_eq!(die.action, "die");
        assert_eq!(die.actor.attributes["exitCode"], "42");
        assert_eq!(die.actor.attributes["execDuration"], "5");
        assert_eq!(die.actor.attributes["name"], "web");
        assert_eq!(die.actor.attributes["app"], "shop");

        let never_started = runtime_action(
            &RuntimeEvent::Exit {
                exec_id: None,
                exit_code: 1,
            },
            None,
            T,
        );
        assert_eq!(
            never_started,
            ContainerAction::Die {
                exit_code: 1,
                exec_duration_secs: 0
            }
        );
        // A clock that went backwards does not give a negative duration.
        assert_eq!(
            runtime_action(
                &RuntimeEvent::Exit {
                    exec_id: None,
                    exit_code: 0
                },
                Some(T + 10),
                T
            ),
            ContainerAction::Die {
                exit_code: 0,
                exec_duration_secs: 0
            }
        );

        let exec = runtime_event(
            &actor(),
            &RuntimeEvent::Exit {
                exec_id: Some("x1".into()),
                exit_code: 3,
            },
            Some(started),
            T,
        );
        assert_eq!(exec.action, "exec_die");
        assert_eq!(exec.actor.attributes["execID"], "x1");
        assert_eq!(exec.actor.attributes["exitCode"], "3");
        assert!(!exec.actor.attributes.contains_key("execDuration"));

        assert_eq!(
            runtime_event(&actor(), &RuntimeEvent::Oom, None, T).action,
            "oom"
        );
        assert_eq!(
            runtime_event(&actor(), &RuntimeEvent::Paused, None, T).action,
            "pause"
        );
        assert_eq!(
            runtime_event(&actor(), &RuntimeEvent::Resumed, None, T).action,
            "unpause"
        );
    }

    #[test]
    fn image_and_prune_events() {
        let labels = HashMap::from([("maintainer".to_string(), "me".to_string())]);
        let m = image_event("sha256:abc", "app:1", ImageAction::Tag, &labels, T);
        assert_eq!(m.typ, EventType::Image);
        assert_eq!(m.action, "tag");
        assert_eq!(m.actor.id, "sha256:abc");
        assert_eq!(attrs(&m), [("maintainer", "me"), ("name", "app:1")]);
        let deleted = image_event("sha256:abc", "", ImageAction::Delete, &HashMap::new(), T);
        assert!(deleted.actor.attributes.is_empty());
        for (a, s) in [
            (ImageAction::Create, "create"),
            (ImageAction::Import, "import"),
            (ImageAction::Load, "load"),
            (ImageAction::Pull, "pull"),
            (ImageAction::Push, "push"),
            (ImageAction::Save, "save"),
            (ImageAction::Untag, "untag"),
        ] {
            assert_eq!(a.as_str(), s);
        }
        let p = prune_event(EventType::Container, 0, T);
        assert_eq!(p.action, "prune");
        assert_eq!(p.actor.id, "");
        assert_eq!(attrs(&p), [("reclaimed", "0")]);
    }

    #[test]
    fn legacy_fields_only_below_1_52_and_only_for_containers_and_images() {
        let c = actor().event(&ContainerAction::Start, T);
        let old = String::from_utf8(encode(&c, ApiVersion::new(1, 44), MediaType::Json)).unwrap();
        assert!(old.ends_with('\n'));
        assert!(
            old.starts_with(r#"{"status":"start","id":"4f9c1a2b3c","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"4f9c1a2b3c","Attributes":{"app":"shop","image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#),
            "{old}"
        );
        let new =
            String::from_utf8(encode(&c, ApiVersion::new(1, 52), MediaType::JsonLines)).unwrap();
        assert!(new.starts_with(r#"{"Type":"container""#), "{new}");
        assert!(!new.contains("\"status\""));

        let i = image_event("sha256:abc", "x", ImageAction::Load, &HashMap::new(), T);
        let v: serde_json::Value =
            serde_json::from_slice(&encode(&i, ApiVersion::new(1, 41), MediaType::Json)).unwrap();
        assert_eq!(v["status"], "load");
        assert_eq!(v["id"], "sha256:abc");
        assert!(v.get("from").is_none());

        let n = Message::new(EventType::Network, "create", "n1", BTreeMap::new(), T);
        let v: serde_json::Value =
            serde_json::from_slice(&encode(&n, ApiVersion::new(1, 41), MediaType::Json)).unwrap();
        assert!(v.get("status").is_none() && v.get("id").is_none());
    }

    #[test]
    fn messages_round_trip() {
        let c = actor()
            .event(&ContainerAction::Start, T)
            .with_legacy_fields();
        let back: Message = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn json_seq_records_start_with_rs() {
        let c = actor().event(&ContainerAction::Start, T);
        let b = encode(&c, ApiVersion::new(1, 52), MediaType::JsonSeq);
        assert_eq!(b[0], 0x1e);
        assert_eq!(b[1], b'{');
        assert_eq!(*b.last().unwrap(), b'\n');
    }

    #[test]
    fn media_type_by_version_and_accept() {
        let old = ApiVersion::new(1, 44);
        let new = ApiVersion::new(1, 52);
        assert_eq!(negotiate_media_type(old, None), MediaType::Json);
        assert_eq!(negotiate_media_type(new, None), MediaType::JsonLines);
        assert_eq!(negotiate_media_type(new, Some("*/*")), MediaType::JsonLines);
        assert_eq!(
            negotiate_media_type(old, Some("application/*")),
            MediaType::Json
        );
        assert_eq!(
            negotiate_media_type(old, Some("application/x-ndjson")),
            MediaType::NdJson
        );
        assert_eq!(
            negotiate_media_type(old, Some("application/jsonl")),
            MediaType::JsonLines
        );
        assert_eq!(
            negotiate_media_type(new, Some("application/json-seq")),
            MediaType::JsonSeq
        );
        assert_eq!(
            negotiate_media_type(
                new,
                Some("application/x-ndjson;q=0.5, application/json-seq;q=0.9")
            ),
            MediaType::JsonSeq
        );
        // Equal weights: the offer order decides.
        assert_eq!(
            negotiate_media_type(new, Some("application/json-seq, application/x-ndjson")),
            MediaType::NdJson
        );
        assert_eq!(
            negotiate_media_type(new, Some("application/json-seq;q=0")),
            MediaType::JsonLines
        );
        assert_eq!(
            negotiate_media_type(old, Some("application/json")),
            MediaType::Json
        );
        assert_eq!(
            negotiate_media_type(new, Some("APPLICATION/X-NDJSON")),
            MediaType::NdJson
        );
    }

    #[test]
    fn image_create_hidden_below_1_46() {
        let c = image_event(
            "sha256:a",
            "sha256:a",
            ImageAction::Create,
            &HashMap::new(),
            T,
        );
        assert!(hidden_from(&c, ApiVersion::new(1, 45)));
        assert!(!hidden_from(&c, ApiVersion::new(1, 46)));
        let l = image_event(
            "sha256:a",
            "sha256:a",
            ImageAction::Load,
            &HashMap::new(),
            T,
        );
        assert!(!hidden_from(&l, ApiVersion::new(1, 24)));
    }

    fn f(json: &str) -> Filter {
        Filter::from_json(json).unwrap()
    }

    fn image_ev(id: &str, name: &str) -> Message {
        image_event(id, name, ImageAction::Tag, &HashMap::new(), T)
    }

    #[test]
    fn filters_parse_both_forms() {
        let a = f(r#"{"type":["container"]}"#);
        let b = f(r#"{"type":{"container":true}}"#);
        assert_eq!(a, b);
        assert!(f("").is_empty());
        assert!(f("null").is_empty());
        assert!(f("{}").is_empty());
        // Unknown keys are accepted (and filter nothing), as in dockerd.
        assert!(f(r#"{"whatever":["x"]}"#).include(&actor().event(&ContainerAction::Start, T)));
        for bad in [
            "{not-json",
            "[1]",
            r#"{"type":"container"}"#,
            r#"{"a":[1]}"#,
        ] {
            let e = Filter::from_json(bad).unwrap_err();
            assert_eq!(e.to_string(), "invalid filter", "{bad}");
        }
        // A null list is no values.
        assert!(f(r#"{"type":null}"#).include(&image_ev("sha256:a", "x")));
    }

    #[test]
    fn type_and_scope_filters_are_exact() {
        let start = actor().event(&ContainerAction::Start, T);
        assert!(f(r#"{"type":["container"]}"#).include(&start));
        assert!(f(r#"{"type":["image","container"]}"#).include(&start));
        assert!(!f(r#"{"type":["image"]}"#).include(&start));
        assert!(!f(r#"{"type":["contain"]}"#).include(&start));
        assert!(f(r#"{"scope":["local"]}"#).include(&start));
        assert!(!f(r#"{"scope":["swarm"]}"#).include(&start));
        // An empty list filters nothing.
        assert!(f(r#"{"type":[]}"#).include(&start));
        // A value switched off never matches exactly.
        assert!(!f(r#"{"type":{"container":false}}"#).include(&start));
    }

    #[test]
    fn event_filter_prefix_rules() {
        let a = actor();
        let exec_start = a.event(
            &ContainerAction::ExecStart {
                exec_id: "e".into(),
                cmd: vec!["sh".into(), "-c".into(), "true".into()],
            },
            T,
        );
        let exec_die = a.event(
            &ContainerAction::ExecDie {
                exec_id: "e".into(),
                exit_code: 0,
            },
            T,
        );
        let start = a.event(&ContainerAction::Start, T);
        assert!(f(r#"{"event":["exec_start"]}"#).include(&exec_start));
        assert!(f(r#"{"event":["exec_start: sh -c true"]}"#).include(&exec_start));
        assert!(!f(r#"{"event":["exec_start"]}"#).include(&exec_die));
        assert!(!f(r#"{"event":["exec_start"]}"#).include(&start));
        assert!(f(r#"{"event":["exec_die"]}"#).include(&exec_die));
        // Plain actions match exactly: `start` is not a prefix filter.
        assert!(!f(r#"{"event":["start"]}"#).include(&exec_start));
        assert!(f(r#"{"event":["start","die"]}"#).include(&start));
        assert!(!f(r#"{"event":["sta"]}"#).include(&start));
        // Once a prefixed action is in the filter, moby matches every value by prefix.
        assert!(f(r#"{"event":["exec_create","sta"]}"#).include(&start));
    }

    #[test]
    fn container_filter_by_id_prefix_or_name() {
        let start = actor().event(&ContainerAction::Start, T);
        for yes in ["4f9c1a2b3c", "4f9c", "web", "we"] {
            let j = format!(r#"{{"container":["{yes}"]}}"#);
            assert!(f(&j).include(&start), "{yes}");
        }
        for no in ["4f9d", "/web", "webx", "c1a2"] {
            let j = format!(r#"{{"container":["{no}"]}}"#);
            assert!(!f(&j).include(&start), "{no}");
        }
        assert!(f(r#"{"container":["nope","web"]}"#).include(&start));
        // Other keys of the same family.
        assert!(!f(r#"{"network":["bridge"]}"#).include(&start));
        assert!(!f(r#"{"volume":["v1"]}"#).include(&start));
        assert!(!f(r#"{"daemon":["d1"]}"#).include(&start));
        let net = Message::new(
            EventType::Network,
            "connect",
            "n1234",
            BTreeMap::from([("name".to_string(), "bridge".to_string())]),
            T,
        );
        assert!(f(r#"{"network":["bridge"]}"#).include(&net));
        assert!(f(r#"{"network":["n12"]}"#).include(&net));
        let vol = Message::new(EventType::Volume, "create", "v1", BTreeMap::new(), T);
        assert!(f(r#"{"volume":["v1"]}"#).include(&vol));
        let daemon = Message::new(
            EventType::Daemon,
            "reload",
            "DAEMONID",
            BTreeMap::from([("name".to_string(), "host1".to_string())]),
            T,
        );
        assert!(f(r#"{"daemon":["host1"]}"#).include(&daemon));
        assert!(f(r#"{"daemon":["DAEMONID"]}"#).include(&daemon));
        assert!(!f(r#"{"daemon":["other"]}"#).include(&daemon));
    }

    #[test]
    fn image_filter_by_id_or_name_with_or_without_tag() {
        let tag = image_ev("sha256:abc", "app:1");
        assert!(f(r#"{"image":["sha256:abc"]}"#).include(&tag));
        assert!(f(r#"{"image":["app:1"]}"#).include(&tag));
        assert!(f(r#"{"image":["app"]}"#).include(&tag));
        assert!(!f(r#"{"image":["app:2"]}"#).include(&tag));
        // Image IDs match whole, not by prefix.
        assert!(!f(r#"{"image":["sha256:ab"]}"#).include(&tag));
        // Container events match on the image they were created from.
        let mut a = actor();
        a.image = "docker.io/library/busybox:1.36".into();
        let start = a.event(&ContainerAction::Start, T);
        assert!(f(r#"{"image":["busybox"]}"#).include(&start));
        assert!(f(r#"{"image":["docker.io/library/busybox:1.36"]}"#).include(&start));
        assert!(!f(r#"{"image":["alpine"]}"#).include(&start));
    }

    #[test]
    fn label_filter_needs_every_label() {
        let start = actor().event(&ContainerAction::Start, T);
        assert!(f(r#"{"label":["app"]}"#).include(&start));
        assert!(f(r#"{"label":["app=shop"]}"#).include(&start));
        assert!(!f(r#"{"label":["app=web"]}"#).include(&start));
        assert!(f(r#"{"label":["app=shop","name=web"]}"#).include(&start));
        assert!(!f(r#"{"label":["app=shop","tier"]}"#).include(&start));
        // An event without attributes never matches a label filter.
        let bare = Message::new(EventType::Volume, "create", "v", BTreeMap::new(), T);
        assert!(!f(r#"{"label":["app"]}"#).include(&bare));
    }

    #[test]
    fn keys_are_anded() {
        let start = actor().event(&ContainerAction::Start, T);
        assert!(f(
            r#"{"type":["container"],"event":["start"],"container":["web"],"label":["app"]}"#
        )
        .include(&start));
        assert!(!f(r#"{"type":["container"],"event":["stop"]}"#).include(&start));
        assert!(!f(r#"{"container":["web"],"type":["image"]}"#).include(&start));
    }

    #[test]
    fn timestamps_parse_like_dockerd() {
        assert_eq!(parse_unix_timestamp(""), Ok(None));
        assert_eq!(parse_unix_timestamp("10"), Ok(Some(10_000_000_000)));
        assert_eq!(parse_unix_timestamp("10.5"), Ok(Some(10_500_000_000)));
        assert_eq!(
            parse_unix_timestamp("10.000000001"),
            Ok(Some(10_000_000_001))
        );
        // Extra digits are truncated to nanoseconds.
        assert_eq!(
            parse_unix_timestamp("10.1234567899"),
            Ok(Some(10_123_456_789))
        );
        assert_eq!(parse_unix_timestamp("10."), Ok(Some(10_000_000_000)));
        assert_eq!(parse_unix_timestamp("-1"), Ok(Some(-1_000_000_000)));
        for bad in ["abc", "1.x", "1.-5", "1.123456789012345678901", "1e3"] {
            assert!(parse_unix_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn window_rules() {
        let w = Window::parse("10", "20.5").unwrap();
        assert!(w.replays());
        assert!(w.contains(10_000_000_000));
        assert!(w.contains(20_500_000_000));
        assert!(!w.contains(9_999_999_999));
        assert!(!w.contains(20_500_000_001));
        assert!(w.only_past(21_000_000_000));
        assert!(!w.only_past(20_000_000_000));
        // `until` alone replays everything before it.
        let u = Window::parse("", "20").unwrap();
        assert!(u.replays() && u.contains(0));
        assert!(!Window::parse("", "").unwrap().replays());
        let e = Window::parse("20", "10").unwrap_err().to_string();
        assert_eq!(e, "`since` time (20) cannot be after `until` time (10)");
        let e = Window::parse("x", "").unwrap_err().to_string();
        assert!(e.starts_with("invalid value for 'since'"), "{e}");
        let e = Window::parse("", "1.y").unwrap_err().to_string();
        assert!(e.starts_with("invalid value for 'until'"), "{e}");
        // Equal bounds are allowed.
        assert!(Window::parse("10", "10").is_ok());
    }
}
