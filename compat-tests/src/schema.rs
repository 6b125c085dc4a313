//! A small Swagger 2.0 definition validator for the Docker Engine API
//! schemas embedded in the binary.
//!
//! It checks what decides whether a client library can decode a response:
//! `$ref`, `allOf`, `type`, `properties`, `required`, `items`,
//! `additionalProperties` and `x-nullable`. It deliberately does not check
//! `enum` or `format`: Docker's enums lag the daemon, and generated clients
//! decode those fields as plain strings / integers.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::version::ApiVersion;

const V141: &str = include_str!("../schema/docker-engine-api-v1.41.yaml");
const V144: &str = include_str!("../schema/docker-engine-api-v1.44.yaml");
const V156: &str = include_str!("../schema/docker-engine-api-v1.56.yaml");

/// The API versions whose schema is embedded, ascending.
pub const EMBEDDED: &[(ApiVersion, &str)] = &[
    (ApiVersion(1, 41), V141),
    (ApiVersion(1, 44), V144),
    (ApiVersion(1, 56), V156),
];

/// A parsed Engine API definition.
#[derive(Debug, Clone)]
pub struct Schema {
    pub version: ApiVersion,
    doc: Value,
}

impl Schema {
    /// The embedded schema closest to `v`: the newest one not newer than
    /// `v`, or the oldest when `v` predates them all.
    pub fn for_version(v: ApiVersion) -> Result<Schema> {
        let mut pick = EMBEDDED[0];
        for e in EMBEDDED {
            if e.0 <= v {
                pick = *e;
            }
        }
        Schema::parse(pick.0, pick.1)
    }

    pub fn parse(version: ApiVersion, text: &str) -> Result<Schema> {
        let y: serde_norway::Value =
            serde_norway::from_str(text).context("parsing embedded API schema")?;
        Ok(Schema {
            version,
            doc: yaml_to_json(y),
        })
    }

    /// Every operation: `(METHOD, path template, operationId)`, in the schema's order.
    pub fn operations(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            return out;
        };
        for (path, item) in paths {
            let Some(methods) = item.as_object() else {
                continue;
            };
            for (method, op) in methods {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    out.push((method.to_uppercase(), path.clone(), id.to_string()));
                }
            }
        }
        out
    }

    pub fn definition(&self, name: &str) -> Option<&Value> {
        self.doc.get("definitions")?.get(name)
    }

    /// The response schema of `method path` for `status` (falling back to
    /// `default`), if the spec declares one.
    pub fn response_schema(&self, method: &str, path: &str, status: u16) -> Option<&Value> {
        let op = self
            .doc
            .get("paths")?
            .get(path)?
            .get(method.to_ascii_lowercase())?;
        let responses = op.get("responses")?;
        let r = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))?;
        r.get("schema")
    }

    /// Whether the spec knows the operation at all (to tell "no schema for
    /// this status" from a typo in a case).
    pub fn has_operation(&self, method: &str, path: &str) -> bool {
        self.doc
            .get("paths")
            .and_then(|p| p.get(path))
            .and_then(|p| p.get(method.to_ascii_lowercase()))
            .is_some()
    }

    /// Validates a decoded response body against the declared schema.
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<()> {
        if !self.has_operation(method, path) {
            bail!("schema v{} has no operation {method} {path}", self.version);
        }
        let Some(s) = self.response_schema(method, path, status) else {
            bail!(
                "schema v{} declares no body for {method} {path} {status}",
                self.version
            );
        };
        self.check(s, body)
            .with_context(|| format!("{method} {path} {status} vs schema v{}", self.version))
    }

    /// Validates a value against `#/definitions/<name>`.
    pub fn validate_definition(&self, name: &str, body: &Value) -> Result<()> {
        let s = self
            .definition(name)
            .ok_or_else(|| anyhow!("no definition {name}"))?;
        self.check(s, body)
            .with_context(|| format!("definition {name} (schema v{})", self.version))
    }

    /// Validates `value` against `schema`, reporting every violation found.
    pub fn check(&self, schema: &Value, value: &Value) -> Result<()> {
        let mut errs = Vec::new();
        self.walk(schema, value, "$", true, &mut errs, 0);
        if errs.is_empty() {
            return Ok(());
        }
        let mut msg = String::new();
        for (i, e) in errs.iter().enumerate() {
            if i == 8 {
                let _ = write!(msg, "; and {} more", errs.len() - 8);
                break;
            }
            if i > 0 {
                msg.push_str("; ");
            }
            msg.push_str(e);
        }
        Err(anyhow!(msg))
    }

    fn resolve<'a>(&'a self, schema: &'a Value, errs: &mut Vec<String>) -> Option<&'a Value> {
        let mut s = schema;
        // Refs may chain (a definition that is just another $ref).
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => match r
                    .strip_prefix("#/definitions/")
                    .and_then(|n| self.definition(n))
                {
                    Some(d) => s = d,
                    None => {
                        errs.push(format!("unresolvable $ref {r}"));
                        return None;
                    }
                },
                None => return Some(s),
            }
        }
        errs.push("$ref chain too long".into());
        None
    }

    /// `required`: whether the value sits in a required property (or is an
    /// array item / the root), which decides how a null decodes.
    fn walk(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        required: bool,
        errs: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 64 {
            errs.push(format!("{at}: schema nesting too deep"));
            return;
        }
        // x-nullable on the referring property applies even when the target
        // definition does not say it.
        let nullable_here = schema.get("x-nullable").and_then(Value::as_bool);
        let Some(s) = self.resolve(schema, errs) else {
            return;
        };
        let nullable = nullable_here.or_else(|| s.get("x-nullable").and_then(Value::as_bool));

        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            if value.is_null() && nullable != Some(false) {
                return;
            }
            for sub in all {
                self.walk(sub, value, at, required, errs, depth + 1);
            }
        }

        let ty = s.get("type").and_then(Value::as_str).or_else(|| {
            if s.get("properties").is_some() || s.get("additionalProperties").is_some() {
                Some("object")
            } else {
                None
            }
        });

        if value.is_null() {
            // Go servers emit nil slices and maps as null, and every client
            // (Go, bollard's Option fields, docker-py dicts) decodes that; a
            // null scalar only decodes where the spec says x-nullable.
            // Generated clients (bollard, the Go types) make optional
            // properties Option / pointers, so null there decodes as absent;
            // dockerd relies on that (HostConfig.MemorySwappiness). Required
            // properties need x-nullable, except for slices and maps, which
            // dockerd sends as null even where the spec says
            // `x-nullable: false` (ImageSummary.Labels in /system/df).
            let ok = !required
                || nullable == Some(true)
                || matches!(ty, Some("array") | Some("object") | None);
            if !ok {
                errs.push(format!(
                    "{at}: null where {} is expected",
                    ty.unwrap_or("a value")
                ));
            }
            return;
        }

        let Some(ty) = ty else { return };
        let type_ok = match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            // "file" (binary bodies) and unknown types are not JSON-checkable.
            _ => true,
        };
        if !type_ok {
            errs.push(format!("{at}: expected {ty}, got {}", kind(value)));
            return;
        }
        match ty {
            "object" => {
                let Some(obj) = value.as_object() else { return };
                let props = s.get("properties").and_then(Value::as_object);
                if let Some(req) = s.get("required").and_then(Value::as_array) {
                    for r in req.iter().filter_map(Value::as_str) {
                        if !obj.contains_key(r) {
                            errs.push(format!("{at}: missing required field {r:?}"));
                        }
                    }
                }
                for (k, v) in obj {
                    let child = format!("{at}.{k}");
                    let is_required = s
                        .get("required")
                        .and_then(Value::as_array)
                        .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(k.as_str())));
                    if let Some(ps) = props.and_then(|p| p.get(k)) {
                        self.walk(ps, v, &child, is_required, errs, depth + 1);
                    } else {
                        match s.get("additionalProperties") {
                            Some(Value::Bool(false)) => {
                                errs.push(format!("{at}: unexpected field {k:?}"))
                            }
                            Some(ap @ Value::Object(_)) => {
                                self.walk(ap, v, &child, true, errs, depth + 1)
                            }
                            _ => {}
                        }
                    }
                }
            }
            "array" => {
                if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
                    for (i, v) in arr.iter().enumerate() {
                        self.walk(items, v, &format!("{at}[{i}]"), true, errs, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// YAML → JSON, stringifying non-string mapping keys (`200:` response codes).
fn yaml_to_json(y: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_embedded_schemas_parse() {
        for (v, _) in EMBEDDED {
            let s = Schema::for_version(*v).expect("parse");
            assert!(s.definition("ContainerConfig").is_some());
            assert!(s.response_schema("get", "/containers/json", 200).is_some());
        }
    }

    #[test]
    fn validator_basics() {
        let s = Schema::for_version(ApiVersion(1, 41)).expect("parse");
        // IdResponse requires Id (string).
        assert!(s
            .validate_definition("IdResponse", &json!({"Id": "abc"}))
            .is_ok());
        assert!(s.validate_definition("IdResponse", &json!({})).is_err());
        assert!(s
            .validate_definition("IdResponse", &json!({"Id": 5}))
            .is_err());
        // Arrays of refs.
        let ok = json!([{"Id": "x", "ParentId": "", "RepoTags": ["a:b"], "RepoDigests": [], "Created": 1,
            "Size": 1, "SharedSize": -1, "VirtualSize": 1, "Labels": {}, "Containers": -1}]);
        assert!(
            s.validate_response("get", "/images/json", 200, &ok).is_ok(),
            "{:?}",
            s.validate_response("get", "/images/json", 200, &ok)
        );
        let bad = json!([{"Id": "x"}]);
        assert!(s
            .validate_response("get", "/images/json", 200, &bad)
            .is_err());
        // A null required scalar does not decode.
        let null_id = json!([{"Id": null, "ParentId": "", "RepoTags": [], "RepoDigests": [], "Created": 1,
            "Size": 1, "SharedSize": -1, "VirtualSize": 1, "Labels": {}, "Containers": -1}]);
        assert!(s
            .validate_response("get", "/images/json", 200, &null_id)
            .is_err());
        // Nil maps encoded as null decode fine.
        let null_labels = json!([{"Id": "x", "ParentId": "", "RepoTags": null, "RepoDigests": null, "Created": 1,
            "Size": 1, "SharedSize": -1, "VirtualSize": 1, "Labels": null, "Containers": -1}]);
        assert!(s
            .validate_response("get", "/images/json", 200, &null_labels)
            .is_ok());
    }

    #[test]
    fn picks_closest_version() {
        assert_eq!(
            Schema::for_version(ApiVersion(1, 43)).expect("s").version,
            ApiVersion(1, 41)
        );
        assert_eq!(
            Schema::for_version(ApiVersion(1, 45)).expect("s").version,
            ApiVersion(1, 44)
        );
        assert_eq!(
            Schema::for_version(ApiVersion(1, 30)).expect("s").version,
            ApiVersion(1, 41)
        );
        assert_eq!(
            Schema::for_version(ApiVersion(1, 60)).expect("s").version,
            ApiVersion(1, 56)
        );
    }
}
