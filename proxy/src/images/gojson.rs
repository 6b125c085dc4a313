//! JSON as dockerd (Go's `encoding/json`) writes it, for the documents whose exact bytes
//! matter: an imported image's config (its digest is the image ID) and the legacy v1
//! `json` files of `docker save` (their digests are the layer directory names).
//!
//! Go differs from serde_json in ways that change bytes: struct fields come in declaration
//! order with `omitempty` rules, map keys are sorted, `<`, `>`, `&`, U+2028 and U+2029 are
//! escaped, and a `time.Time` is RFC 3339 with trailing zeros of the fraction dropped. The
//! structs modelled here are moby 20.10's `image.V1Image`, `container.Config` and
//! `container.HealthConfig`, read from JSON the way Go unmarshals them (unknown fields
//! dropped, field names matched case-insensitively).

use serde_json::{Map, Value};

/// Go's zero `time.Time`, as it marshals.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One JSON object being written field by field, in the order they are pushed.
#[derive(Default, Clone)]
pub struct Object {
    fields: Vec<(String, String)>,
}

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    /// A field with a value already encoded as Go JSON; replaces a field of the same name
    /// (as setting a key of a Go map does).
    pub fn raw(&mut self, key: &str, encoded: &str) -> &mut Self {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(f) => f.1 = encoded.to_string(),
            None => self.fields.push((key.to_string(), encoded.to_string())),
        }
        self
    }

    pub fn value(&mut self, key: &str, v: &Value) -> &mut Self {
        let s = encode(v);
        self.raw(key, &s)
    }

    pub fn string(&mut self, key: &str, s: &str) -> &mut Self {
        let mut enc = String::new();
        write_string(&mut enc, s);
        self.raw(key, &enc)
    }

    /// A `string` field tagged `omitempty`.
    pub fn string_omitempty(&mut self, key: &str, s: &str) -> &mut Self {
        if !s.is_empty() {
            self.string(key, s);
        }
        self
    }

    /// As a struct: fields in the order pushed.
    pub fn finish(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(&mut out, k);
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }

    /// As a Go map (`map[string]*json.RawMessage`): keys sorted.
    pub fn finish_sorted(&self) -> String {
        let mut sorted = self.clone();
        sorted.fields.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.finish()
    }
}

/// Any JSON value as Go marshals a `map[string]interface{}` tree: keys sorted.
pub fn encode(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, &m[k]);
            }
            out.push('}');
        }
    }
}

/// Go's string encoding (with `SetEscapeHTML(true)`, the default of `json.Marshal`).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A field of a Go struct read from JSON: Go matches names case-insensitively (an exact
/// match wins).
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn str_field(m: &Map<String, Value>, name: &str) -> String {
    field(m, name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn bool_field(m: &Map<String, Value>, name: &str) -> bool {
    field(m, name).and_then(Value::as_bool).unwrap_or(false)
}

/// `[]string`: null when absent; the strings otherwise.
fn string_slice(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Array(a)) => Value::Array(
            a.iter()
                .map(|x| Value::String(x.as_str().unwrap_or_default().to_string()))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// `strslice.StrSlice`: a string is a one-element list.
fn str_slice(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => Value::Array(vec![Value::String(s.clone())]),
        other => string_slice(other),
    }
}

/// `map[string]struct{}`: every value is `{}`.
fn set_map(v: Option<&Value>) -> Option<Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(
            m.keys()
                .map(|k| (k.clone(), Value::Object(Map::new())))
                .collect(),
        ),
        _ => None,
    }
}

/// `time.Time` as Go marshals it (RFC 3339 with the shortest fraction); `None` when the
/// text is not RFC 3339 (Go would not have parsed it either).
pub fn go_time(text: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(format_go_time(&t))
}

pub fn format_go_time<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    let mut frac = String::new();
    if nanos > 0 {
        frac = format!(".{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    let offset = chrono::Offset::fix(t.offset()).local_minus_utc();
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let a = offset.abs();
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    };
    format!("{base}{frac}{zone}")
}

/// moby's `container.Config` (API 1.41) from JSON, re-encoded as Go marshals it: every
/// field, with zero values, except those tagged `omitempty`.
pub fn container_config(v: Option<&Value>) -> String {
    let empty = Map::new();
    let m = v.and_then(Value::as_object).unwrap_or(&empty);
    let mut o = Object::new();
    o.string("Hostname", &str_field(m, "Hostname"))
        .string("Domainname", &str_field(m, "Domainname"))
        .string("User", &str_field(m, "User"));
    for k in ["AttachStdin", "AttachStdout", "AttachStderr"] {
        o.value(k, &Value::Bool(bool_field(m, k)));
    }
    if let Some(p) = set_map(field(m, "ExposedPorts")).filter(|p| !p.is_empty()) {
        o.value("ExposedPorts", &Value::Object(p));
    }
    for k in ["Tty", "OpenStdin", "StdinOnce"] {
        o.value(k, &Value::Bool(bool_field(m, k)));
    }
    o.value("Env", &string_slice(field(m, "Env")))
        .value("Cmd", &str_slice(field(m, "Cmd")));
    if let Some(Value::Object(h)) = field(m, "Healthcheck") {
        o.raw("Healthcheck", &health_config(h));
    }
    if bool_field(m, "ArgsEscaped") {
        o.value("ArgsEscaped", &Value::Bool(true));
    }
    o.string("Image", &str_field(m, "Image"));
    o.value(
        "Volumes",
        &set_map(field(m, "Volumes")).map_or(Value::Null, Value::Object),
    );
    o.string("WorkingDir", &str_field(m, "WorkingDir"))
        .value("Entrypoint", &str_slice(field(m, "Entrypoint")));
    if bool_field(m, "NetworkDisabled") {
        o.value("NetworkDisabled", &Value::Bool(true));
    }
    o.string_omitempty("MacAddress", &str_field(m, "MacAddress"))
        .value("OnBuild", &string_slice(field(m, "OnBuild")));
    let labels = match field(m, "Labels") {
        Some(Value::Object(l)) => Value::Object(
            l.iter()
                .map(|(k, v)| {
                    let s = v.as_str().unwrap_or_default().to_string();
                    (k.clone(), Value::String(s))
                })
                .collect(),
        ),
        _ => Value::Null,
    };
    o.value("Labels", &labels)
        .string_omitempty("StopSignal", &str_field(m, "StopSignal"));
    if let Some(t) = field(m, "StopTimeout").filter(|t| t.is_number()) {
        o.value("StopTimeout", t);
    }
    let shell = str_slice(field(m, "Shell"));
    if shell.as_array().is_some_and(|a| !a.is_empty()) {
        o.value("Shell", &shell);
    }
    o.finish()
}

/// `container.HealthConfig`: every field `omitempty`.
fn health_config(h: &Map<String, Value>) -> String {
    let mut o = Object::new();
    let test = string_slice(field(h, "Test"));
    if test.as_array().is_some_and(|a| !a.is_empty()) {
        o.value("Test", &test);
    }
    for k in ["Interval", "Timeout", "StartPeriod", "Retries"] {
        if let Some(n) = field(h, k).filter(|n| n.as_i64().is_some_and(|n| n != 0)) {
            o.value(k, n);
        }
    }
    o.finish()
}

/// moby's `image.V1Image` read from an image config (or a `V1Image` being built).
/// `created` overrides the config's `created` (already in Go's format).
pub fn v1_image(cfg: &Map<String, Value>, created: &str) -> Object {
    let mut o = Object::new();
    o.string_omitempty("id", &str_field(cfg, "id"))
        .string_omitempty("parent", &str_field(cfg, "parent"))
        .string_omitempty("comment", &str_field(cfg, "comment"))
        .string("created", created)
        .string_omitempty("container", &str_field(cfg, "container"))
        .raw(
            "container_config",
            &container_config(field(cfg, "container_config")),
        )
        .string_omitempty("docker_version", &str_field(cfg, "docker_version"))
        .string_omitempty("author", &str_field(cfg, "author"));
    if let Some(c) = field(cfg, "config").filter(|c| c.is_object()) {
        o.raw("config", &container_config(Some(c)));
    }
    o.string_omitempty("architecture", &str_field(cfg, "architecture"))
        .string_omitempty("variant", &str_field(cfg, "variant"))
        .string_omitempty("os", &str_field(cfg, "os"));
    if let Some(n) = field(cfg, "Size").filter(|n| n.as_i64().is_some_and(|n| n != 0)) {
        o.value("Size", n);
    }
    o
}

/// The `created` of a config as Go re-marshals it (the zero time when missing).
pub fn created_of(cfg: &Map<String, Value>) -> String {
    field(cfg, "created")
        .and_then(Value::as_str)
        .and_then(go_time)
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(
            encode(&json!("a<b>&\u{1}\n")),
            r#""a\u003cb\u003e\u0026\u0001\n""#
        );
        assert_eq!(
            encode(&json!({"b": 1, "a": [true, null]})),
            r#"{"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn times_like_go() {
        assert_eq!(
            go_time("2024-01-02T03:04:05.120000000Z").unwrap(),
            "2024-01-02T03:04:05.12Z"
        );
        assert_eq!(
            go_time("2024-01-02T03:04:05+00:00").unwrap(),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            go_time("2024-01-02T03:04:05.5+02:00").unwrap(),
            "2024-01-02T03:04:05.5+02:00"
        );
        assert!(go_time("yesterday").is_none());
    }

    #[test]
    fn zero_container_config() {
        assert_eq!(
            container_config(None),
            r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}"#
        );
    }

    #[test]
    fn container_config_fields() {
        let c = json!({"cmd": "sh", "Env": ["A=1"], "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/v": {}}, "Labels": {"b": "2", "a": "1"}, "Shell": [],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 0, "Retries": 3},
            "ArgsEscaped": false, "StopTimeout": 5, "Unknown": 1});
        let s = container_config(Some(&c));
        assert!(s.contains(r#""ExposedPorts":{"80/tcp":{}},"Tty""#), "{s}");
        assert!(
            s.contains(r#""Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Retries":3},"Image""#),
            "{s}"
        );
        assert!(s.contains(r#""Volumes":{"/v":{}}"#), "{s}");
        assert!(
            s.contains(r#""Labels":{"a":"1","b":"2"},"StopTimeout":5}"#),
            "{s}"
        );
        assert!(!s.contains("Unknown") && !s.contains("Shell") && !s.contains("ArgsEscaped"));
    }

    #[test]
    fn v1_image_order() {
        let cfg = json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers"}, "id": "x"});
        let s = v1_image(cfg.as_object().unwrap(), "1970-01-01T00:00:00Z").finish();
        assert!(
            s.starts_with(
                r#"{"id":"x","created":"1970-01-01T00:00:00Z","container_config":{"Hostname":"""#
            ),
            "{s}"
        );
        assert!(
            s.ends_with(r#""Labels":null},"architecture":"amd64","os":"linux"}"#),
            "{s}"
        );
        assert!(!s.contains("rootfs"));
    }
}
