//! `--coverage`: which Docker Engine API operations (the swagger's operationIds) the cases
//! exercise, from the requests each case sent. Requests the docker CLI makes inside a case
//! are not seen here (the CLI talks to the endpoint itself).

use std::collections::{BTreeMap, BTreeSet};

use crate::runner::RunReport;
use crate::schema::Schema;

/// An operation and the cases whose requests hit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    pub operation_id: String,
    pub method: String,
    pub path: String,
    pub cases: BTreeSet<String>,
}

/// Whether a request path (`/containers/ID/json`, query already stripped) fits a swagger
/// template (`/containers/{id}/json`). A `{param}` takes one segment or more (image names
/// have slashes: `/images/{name}/push`).
pub fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    fn go(t: &[&str], p: &[&str]) -> bool {
        match (t.first(), p.first()) {
            (None, None) => true,
            (None, _) | (_, None) => false,
            (Some(seg), _) if seg.starts_with('{') => (1..=p.len()).any(|n| go(&t[1..], &p[n..])),
            (Some(seg), Some(got)) => seg == got && go(&t[1..], &p[1..]),
        }
    }
    go(&t, &p)
}

/// The operation a request is: among the matching templates, the one with the most
/// literal segments (`/images/json` beats `/images/{name}/json` for `GET /images/json`).
pub fn operation_for<'a>(
    ops: &'a [(String, String, String)],
    method: &str,
    path: &str,
) -> Option<&'a (String, String, String)> {
    let path = path.split('?').next().unwrap_or(path);
    // Versioned paths (`/v1.44/...`) count as their unversioned operation.
    let path = match path.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    ops.iter()
        .filter(|(m, t, _)| m.eq_ignore_ascii_case(method) && path_matches(t, path))
        .max_by_key(|(_, t, _)| t.split('/').filter(|s| !s.starts_with('{')).count())
}

/// Every operation of `schema`, with the cases of `reports` that exercised it: several
/// runs against one engine (e.g. the main run and the default-bridge cases, which run
/// apart) count together.
pub fn coverage(schema: &Schema, reports: &[RunReport]) -> Vec<Covered> {
    let ops = schema.operations();
    let mut by_id: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in reports.iter().flat_map(|report| &report.results) {
        for x in &r.exchanges {
            if let Some((_, _, id)) = operation_for(&ops, &x.method, &x.path) {
                by_id
                    .entry(id.as_str())
                    .or_default()
                    .insert(format!("{}/{}", r.area, r.case));
            }
        }
    }
    ops.iter()
        .map(|(m, t, id)| Covered {
            operation_id: id.clone(),
            method: m.clone(),
            path: t.clone(),
            cases: by_id.get(id.as_str()).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The table `--coverage` prints: per operation the number of cases, then the ones
/// without any.
pub fn render(cov: &[Covered]) -> String {
    let mut out = String::from("OPERATION                          CASES  METHOD PATH\n");
    for c in cov {
        out.push_str(&format!(
            "{:<34} {:>5}  {} {}\n",
            c.operation_id,
            c.cases.len(),
            c.method,
            c.path
        ));
    }
    let none: Vec<&Covered> = cov.iter().filter(|c| c.cases.is_empty()).collect();
    out.push_str(&format!(
        "# {} of {} operations exercised; without a case: {}\n",
        cov.len() - none.len(),
        cov.len(),
        none.iter()
            .map(|c| c.operation_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> Vec<(String, String, String)> {
        [
            ("GET", "/images/json", "ImageList"),
            ("GET", "/images/{name}/json", "ImageInspect"),
            ("POST", "/images/{name}/push", "ImagePush"),
            ("GET", "/containers/{id}/json", "ContainerInspect"),
            ("POST", "/containers/create", "ContainerCreate"),
        ]
        .iter()
        .map(|(m, p, i)| (m.to_string(), p.to_string(), i.to_string()))
        .collect()
    }

    #[test]
    fn templates_match_like_the_router() {
        assert!(path_matches("/containers/{id}/json", "/containers/ID/json"));
        assert!(!path_matches("/containers/{id}/json", "/containers/json"));
        assert!(path_matches(
            "/images/{name}/push",
            "/images/127.0.0.1:5000/a/b/push"
        ));
        assert!(!path_matches("/images/{name}/push", "/images/push"));
    }

    #[test]
    fn literal_templates_win_and_versions_and_queries_go() {
        let ops = ops();
        let id = |m: &str, p: &str| operation_for(&ops, m, p).map(|o| o.2.as_str());
        assert_eq!(id("GET", "/images/json?all=1"), Some("ImageList"));
        assert_eq!(
            id("GET", "/v1.44/images/busybox/json"),
            Some("ImageInspect")
        );
        assert_eq!(id("POST", "/images/r:5/x/y/push?tag=v1"), Some("ImagePush"));
        assert_eq!(
            id("POST", "/containers/create?name=x"),
            Some("ContainerCreate")
        );
        assert_eq!(id("DELETE", "/containers/create"), None);
    }

    fn report(cases: &[(&str, &str, &str)]) -> RunReport {
        let results: Vec<crate::runner::CaseResult> = cases
            .iter()
            .map(|(case, method, path)| crate::runner::CaseResult {
                area: "a".into(),
                case: case.to_string(),
                min_api: "1.24".into(),
                result: crate::runner::Status::Pass,
                detail: String::new(),
                duration_ms: 0,
                exchanges: vec![crate::ctx::Exchange {
                    method: method.to_string(),
                    path: path.to_string(),
                    status: 200,
                    content_type: String::new(),
                    shape: vec![],
                }],
            })
            .collect();
        let text = serde_json::json!({
            "host": "h", "run_id": "r", "server_version": "v", "server_api": "1.44",
            "negotiated_api": "1.44", "passed": 0, "failed": 0, "skipped": 0,
            "duration_ms": 0, "results": results,
        });
        // Through JSON, as --coverage-of reads saved reports.
        serde_json::from_value(text).expect("a report")
    }

    #[test]
    fn several_runs_count_together() {
        let schema = Schema::for_version(crate::version::ApiVersion(1, 44)).expect("schema");
        let main = report(&[("list", "GET", "/images/json")]);
        let bridge = report(&[
            ("net", "POST", "/networks/create"),
            ("list2", "GET", "/v1.44/images/json"),
        ]);
        let cov = coverage(&schema, &[main, bridge]);
        let cases = |id: &str| {
            cov.iter()
                .find(|c| c.operation_id == id)
                .map(|c| c.cases.iter().cloned().collect::<Vec<_>>())
        };
        assert_eq!(
            cases("ImageList"),
            Some(vec!["a/list".to_string(), "a/list2".to_string()])
        );
        assert_eq!(cases("NetworkCreate"), Some(vec!["a/net".to_string()]));
        assert_eq!(cases("NetworkDelete"), Some(vec![]));
    }
}
