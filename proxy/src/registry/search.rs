//! `GET /images/search`, as dockerd 20.10 answers it: the registry's v1 search API
//! (`/v1/search?q=…&n=…`; Docker Hub's is `index.docker.io`), then dockerd's own filters
//! (`is-official`, `is-automated`, `stars`) over what came back.
//!
//! This module decides everything that needs no network: which index a term goes to,
//! the filters and their errors, the limit, the URLs, and the filtering of the results.
//! `Registries::search` (client.rs) does the requests.

use serde::{Deserialize, Serialize};
use spec::filters::{FilterError, Filters};

/// Docker Hub's v1 index, which dockerd asks without pinging it first.
pub const DOCKER_HUB_INDEX: &str = "https://index.docker.io";
/// dockerd's `registry.DefaultSearchLimit`.
pub const DEFAULT_LIMIT: i64 = 25;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// `limit` is not a number (worded as Go's `strconv.Atoi`).
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    LimitSyntax(String),
    #[error("Limit {0} is outside the range of [1, 100]")]
    LimitRange(i64),
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A term with a scheme (`http://host/name`): dockerd's `ErrInvalidRepositoryName`.
    #[error("Invalid repository name (ex: \"registry.domain.tld/myrepos\")")]
    Scheme,
    /// No v1 endpoint answered the ping (the whole message, worded as dockerd's).
    #[error("{0}")]
    Endpoint(String),
    /// The search request itself failed.
    #[error(transparent)]
    Registry(#[from] super::RegistryError),
    #[error("Unexpected status code {0}")]
    Status(u16),
    #[error("error decoding registry search results: {0}")]
    Decode(String),
}

impl SearchError {
    /// Whether the request was at fault (400) rather than the registry or the network.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::LimitSyntax(_) | Self::LimitRange(_) | Self::Filter(_) | Self::Scheme
        )
    }
}

/// dockerd's message when a secure registry's v1 endpoint does not answer.
pub fn secure_endpoint_error(host: &str, err: &str) -> String {
    format!(
        "invalid registry endpoint https://{host}/v1/: {err}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry {host}` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at /etc/docker/certs.d/{host}/ca.crt"
    )
}

/// dockerd's message when an insecure registry answered neither over HTTPS nor HTTP.
pub fn insecure_endpoint_error(host: &str, https: &str, http: &str) -> String {
    format!(
        "invalid registry endpoint \"http://{host}/v1/\". HTTPS attempt: {https}. HTTP attempt: {http}"
    )
}

/// Where a search goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// Docker Hub (`index.docker.io`): no ping, `library/` dropped from the query.
    DockerHub,
    /// Another registry's `host[:port]`: its v1 endpoint is pinged first (HTTPS, then
    /// HTTP when the registry is insecure), as dockerd's `NewV1Endpoint` does.
    Registry(String),
}

/// dockerd's search filters, checked before anything goes out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilters {
    is_official: Option<bool>,
    is_automated: Option<bool>,
    min_stars: Option<i64>,
}

/// A search, decided: where, what, how many, and which results to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPlan {
    pub index: Index,
    /// The query sent as `q` (the term without its registry).
    pub query: String,
    /// Not yet range-checked: dockerd checks it only once the endpoint answered
    /// ([`check_limit`]).
    pub limit: i64,
    pub filters: SearchFilters,
}

/// One search result, in dockerd's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub star_count: i64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_automated: bool,
    #[serde(default)]
    pub description: String,
}

/// The body of a v1 search answer (only the results matter to the API).
#[derive(Debug, Deserialize)]
pub struct SearchResults {
    #[serde(default)]
    pub results: Vec<SearchResult>,
}

/// `filters.UniqueExactMatch` over `true`/`false`: one value, and a boolean.
fn unique_bool(f: &Filters, key: &str) -> Result<Option<bool>, SearchError> {
    if !f.contains(key) {
        return Ok(None);
    }
    match f.get(key).as_slice() {
        [v] if v == "true" => Ok(Some(true)),
        [v] if v == "false" => Ok(Some(false)),
        _ => Err(f.invalid_value(key).into()),
    }
}

impl SearchFilters {
    /// `filters` as dockerd validates it: only the three keys, booleans that are exactly
    /// `true` or `false`, and whole numbers of stars (the largest one counts).
    pub fn parse(json: &str) -> Result<Self, SearchError> {
        let f = Filters::from_json(json)?;
        f.validate(&["is-automated", "is-official", "stars"])?;
        let is_automated = unique_bool(&f, "is-automated")?;
        let is_official = unique_bool(&f, "is-official")?;
        let mut min_stars = None;
        if f.contains("stars") {
            let mut max = 0;
            for v in f.get("stars") {
                let n: i64 = v
                    .parse()
                    .map_err(|_| FilterError(format!("Invalid filter 'stars={v}'")))?;
                max = max.max(n);
            }
            min_stars = Some(max);
        }
        Ok(Self {
            is_official,
            is_automated,
            min_stars,
        })
    }

    fn keeps(&self, r: &SearchResult) -> bool {
        self.is_official.is_none_or(|want| want == r.is_official)
            && self.is_automated.is_none_or(|want| want == r.is_automated)
            && self.min_stars.is_none_or(|min| r.star_count >= min)
    }
}

/// `registry.splitReposSearchTerm`: the first component is a registry only when it looks
/// like a host (a `.` or a `:`, or `localhost`).
fn split_term(term: &str) -> (Index, String) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            // `docker.io/x` and `index.docker.io/x` are Docker Hub, as dockerd's
            // `newIndexInfo` normalises them.
            if first == "docker.io" || first == "index.docker.io" {
                (Index::DockerHub, rest.to_string())
            } else {
                (Index::Registry(first.to_string()), rest.to_string())
            }
        }
        _ => (Index::DockerHub, term.to_string()),
    }
}

/// Decides a search from the request's `term`, `limit` and `filters`, in dockerd's order
/// of checks: the limit's syntax, the filters, then the term.
pub fn plan(term: &str, limit: Option<&str>, filters: &str) -> Result<SearchPlan, SearchError> {
    let limit = match limit.filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse()
            .map_err(|_| SearchError::LimitSyntax(l.to_string()))?,
    };
    let filters = SearchFilters::parse(filters)?;
    if term.contains("://") {
        return Err(SearchError::Scheme);
    }
    let (index, mut query) = split_term(term);
    if index == Index::DockerHub {
        // Official images live under `library/` on Hub and are searched without it.
        if let Some(rest) = query.strip_prefix("library/") {
            query = rest.to_string();
        }
    }
    Ok(SearchPlan {
        index,
        query,
        limit,
        filters,
    })
}

/// `SearchRepositories`' range check.
pub fn check_limit(limit: i64) -> Result<(), SearchError> {
    if (1..=100).contains(&limit) {
        Ok(())
    } else {
        Err(SearchError::LimitRange(limit))
    }
}

/// The v1 search URL below an endpoint's base (`https://host`).
pub fn search_url(base: &str, query: &str, limit: i64) -> String {
    format!("{base}/v1/search?q={}&n={limit}", query_escape(query))
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The results dockerd returns: the index's, filtered, in the index's order.
pub fn filter_results(plan: &SearchPlan, results: Vec<SearchResult>) -> Vec<SearchResult> {
    results
        .into_iter()
        .filter(|r| plan.filters.keeps(r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, stars: i64, official: bool, automated: bool) -> SearchResult {
        SearchResult {
            star_count: stars,
            is_official: official,
            name: name.into(),
            is_automated: automated,
            description: String::new(),
        }
    }

    #[test]
    fn terms_go_to_hub_unless_they_name_a_registry() {
        let p = |t: &str| {
            plan(t, None, "")
                .map(|p| (p.index, p.query))
                .map_err(|e| e.to_string())
        };
        assert_eq!(p("busybox"), Ok((Index::DockerHub, "busybox".into())));
        assert_eq!(
            p("library/busybox"),
            Ok((Index::DockerHub, "busybox".into()))
        );
        assert_eq!(
            p("samalba/hipache"),
            Ok((Index::DockerHub, "samalba/hipache".into()))
        );
        assert_eq!(p("docker.io/library/x"), Ok((Index::DockerHub, "x".into())));
        assert_eq!(
            p("127.0.0.1:5000/library/x"),
            Ok((Index::Registry("127.0.0.1:5000".into()), "library/x".into()))
        );
        assert_eq!(
            p("localhost/a"),
            Ok((Index::Registry("localhost".into()), "a".into()))
        );
        assert_eq!(
            p("reg.example/a/b"),
            Ok((Index::Registry("reg.example".into()), "a/b".into()))
        );
        assert_eq!(p("http://reg/a"), Err(SearchError::Scheme.to_string()));
    }

    #[test]
    fn limits_as_dockerd() {
        let limit = |l| plan("x", l, "").map(|p| p.limit).map_err(|e| e.to_string());
        assert_eq!(limit(None), Ok(25));
        assert_eq!(limit(Some("")), Ok(25));
        assert_eq!(limit(Some("7")), Ok(7));
        assert!(matches!(
            plan("x", Some("abc"), ""),
            Err(SearchError::LimitSyntax(l)) if l == "abc"
        ));
        assert_eq!(
            SearchError::LimitSyntax("abc".into()).to_string(),
            r#"strconv.Atoi: parsing "abc": invalid syntax"#
        );
        assert!(check_limit(1).is_ok() && check_limit(100).is_ok());
        assert_eq!(
            check_limit(0).map_err(|e| e.to_string()),
            Err("Limit 0 is outside the range of [1, 100]".into())
        );
        assert!(check_limit(101).is_err());
    }

    #[test]
    fn filter_errors_are_dockerds() {
        let err = |f: &str| SearchFilters::parse(f).map_err(|e| e.to_string());
        assert_eq!(
            err(r#"{"bogus":["x"]}"#),
            Err("Invalid filter 'bogus'".into())
        );
        assert_eq!(
            err(r#"{"is-official":["yes"]}"#),
            Err("Invalid filter 'is-official=[yes]'".into())
        );
        assert_eq!(
            err(r#"{"is-automated":["true","false"]}"#),
            Err("Invalid filter 'is-automated=[false true]'".into())
        );
        assert_eq!(
            err(r#"{"stars":["x"]}"#),
            Err("Invalid filter 'stars=x'".into())
        );
        assert!(err("notjson").is_err());
        // A limit that does not parse is reported before a bad filter.
        assert!(matches!(
            plan("x", Some("z"), r#"{"bogus":["x"]}"#),
            Err(SearchError::LimitSyntax(_))
        ));
    }

    #[test]
    fn results_filtered_in_order() {
        let p = plan("x", None, r#"{"stars":["3","10"],"is-official":["true"]}"#).expect("plan");
        let got = filter_results(
            &p,
            vec![
                r("a", 50, true, false),
                r("b", 50, false, false),
                r("c", 9, true, false),
                r("d", 10, true, true),
            ],
        );
        let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "d"]);
        let all = plan("x", None, "").expect("plan");
        assert_eq!(filter_results(&all, vec![r("a", 0, false, false)]).len(), 1);
    }

    #[test]
    fn results_serialise_in_dockerds_field_order() {
        let text = serde_json::to_string(&r("a", 1, true, false)).expect("json");
        assert_eq!(
            text,
            r#"{"star_count":1,"is_official":true,"name":"a","is_automated":false,"description":""}"#
        );
        assert_eq!(
            search_url("https://h", "a b/c", 25),
            "https://h/v1/search?q=a+b%2Fc&n=25"
        );
    }
}
