//! Docker's JSON progress messages (`jsonmessage.JSONMessage`) as dockerd writes them on
//! `POST /images/create` and `POST /images/{name}/push`, so that the CLI draws its usual
//! per-layer lines and bars.
//!
//! dockerd has two kinds of message: a plain status (`progress.Message`: `Pulling from x`,
//! `Digest: …`, `Status: …`), written without `progressDetail`, and a per-layer update
//! (`progress.Update` and the progress readers: `Pulling fs layer`, `Downloading`, …),
//! written with a `progressDetail` object (empty when there are no counts) and, when there
//! are counts, the pre-rendered `progress` bar. The server renders bars for a 200-column
//! terminal (it has none), which is why the bar is always there and has no time left.

use serde::Serialize;

/// One progress event, before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `{"status": text, "id": id}` (id omitted when `None`).
    Status { id: Option<String>, text: String },
    /// `{"status": action, "progressDetail": {...}, "progress": bar, "id": id}`.
    Update {
        id: String,
        action: String,
        current: u64,
        total: u64,
    },
    /// `{"progressDetail": {}, "aux": {...}}`: the push result the CLI reads.
    Aux(PushResult),
}

/// The push's `aux`, field order as Go's `types.PushResult` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushResult {
    #[serde(rename = "Tag")]
    pub tag: String,
    #[serde(rename = "Digest")]
    pub digest: String,
    #[serde(rename = "Size")]
    pub size: u64,
}

impl Message {
    pub fn status(text: impl Into<String>) -> Self {
        Self::Status {
            id: None,
            text: text.into(),
        }
    }

    pub fn status_for(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self::Status {
            id: Some(id.into()),
            text: text.into(),
        }
    }

    /// A per-layer step without counts (`Pulling fs layer`, `Pull complete`, …).
    pub fn step(id: impl Into<String>, action: impl Into<String>) -> Self {
        Self::Update {
            id: id.into(),
            action: action.into(),
            current: 0,
            total: 0,
        }
    }

    pub fn counts(
        id: impl Into<String>,
        action: impl Into<String>,
        current: u64,
        total: u64,
    ) -> Self {
        Self::Update {
            id: id.into(),
            action: action.into(),
            current,
            total,
        }
    }

    /// The JSON line (without the newline).
    pub fn to_json(&self) -> String {
        let msg = match self {
            Self::Status { id, text } => JsonMessage {
                status: Some(text),
                id: id.as_deref(),
                ..Default::default()
            },
            Self::Update {
                id,
                action,
                current,
                total,
            } => JsonMessage {
                status: Some(action),
                progress_detail: Some(Detail {
                    current: *current,
                    total: *total,
                }),
                progress: Some(bar(*current, *total)).filter(|b| !b.is_empty()),
                id: Some(id),
                ..Default::default()
            },
            Self::Aux(v) => JsonMessage {
                progress_detail: Some(Detail::default()),
                aux: Some(v),
                ..Default::default()
            },
        };
        serde_json::to_string(&msg).unwrap_or_default()
    }
}

/// The error line that ends a failed stream: the CLI prints `message` and exits 1.
pub fn error_json(message: &str) -> String {
    /// Field order as Go's `JSONMessage` writes it: errorDetail before error.
    #[derive(Serialize)]
    struct ErrorLine<'a> {
        #[serde(rename = "errorDetail")]
        detail: Detail<'a>,
        error: &'a str,
    }
    #[derive(Serialize)]
    struct Detail<'a> {
        message: &'a str,
    }
    serde_json::to_string(&ErrorLine {
        detail: Detail { message },
        error: message,
    })
    .unwrap_or_default()
}

/// Field order as Go's `JSONMessage` struct writes it.
#[derive(Serialize, Default)]
struct JsonMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    progress_detail: Option<Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aux: Option<&'a PushResult>,
}

#[derive(Serialize, Default)]
struct Detail {
    #[serde(skip_serializing_if = "is_zero")]
    current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    total: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `JSONProgress.String()` for a 200-column terminal: `[==>   ]  1.2MB/3.4MB`.
pub fn bar(current: u64, total: u64) -> String {
    if current == 0 && total == 0 {
        return String::new();
    }
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let percentage = ((current as f64 / total as f64 * 100.0) as u64 / 2).min(50) as usize;
    let bar = format!(
        "[{}>{}] ",
        "=".repeat(percentage),
        " ".repeat(50 - percentage)
    );
    let numbers = if current > total {
        // Go drops the total when the count overshoots it.
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    bar + &numbers
}

/// go-units' `HumanSize`: decimal units, four significant digits (`%.4g`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g4(size), UNITS[unit])
}

/// Go's `%.4g` for the values `human_size` produces (0 ≤ v < 1000): four significant
/// digits, trailing zeros dropped.
fn format_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // Round to 4 significant digits first: that decides the exponent (999.95 → 1000).
    let sci = format!("{v:.3e}");
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-4..4).contains(&exp) {
        let (mant, _) = sci.split_once('e').unwrap_or((&sci, ""));
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(3 - exp).unwrap_or(0);
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// The short layer ID dockerd shows: 12 hex digits of the blob digest.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(32768), "32.77kB");
        assert_eq!(human_size(1_084_925), "1.085MB");
        assert_eq!(human_size(1_048_576), "1.049MB");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(999_950), "1000kB");
        assert_eq!(human_size(209_715_200), "209.7MB");
        assert_eq!(human_size(12_300_000_000), "12.3GB");
    }

    /// Lines captured from dockerd 20.10 pulling from a local registry.
    #[test]
    fn golden_pull_lines() {
        assert_eq!(
            Message::status_for("latest", "Pulling from busybox").to_json(),
            r#"{"status":"Pulling from busybox","id":"latest"}"#
        );
        assert_eq!(
            Message::step("331c429ed260", "Pulling fs layer").to_json(),
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"331c429ed260"}"#
        );
        assert_eq!(
            Message::counts("331c429ed260", "Downloading", 32768, 1_084_925).to_json(),
            r#"{"status":"Downloading","progressDetail":{"current":32768,"total":1084925},"progress":"[=>                                                 ]  32.77kB/1.085MB","id":"331c429ed260"}"#
        );
        assert_eq!(
            Message::counts("331c429ed260", "Extracting", 1_048_576, 1_084_925).to_json(),
            r#"{"status":"Extracting","progressDetail":{"current":1048576,"total":1084925},"progress":"[================================================>  ]  1.049MB/1.085MB","id":"331c429ed260"}"#
        );
        assert_eq!(
            Message::counts("331c429ed260", "Extracting", 1_084_925, 1_084_925).to_json(),
            r#"{"status":"Extracting","progressDetail":{"current":1084925,"total":1084925},"progress":"[==================================================>]  1.085MB/1.085MB","id":"331c429ed260"}"#
        );
        assert_eq!(
            Message::status("Status: Image is up to date for 127.0.0.1:5055/busybox:latest")
                .to_json(),
            r#"{"status":"Status: Image is up to date for 127.0.0.1:5055/busybox:latest"}"#
        );
        assert_eq!(
            Message::Aux(PushResult {
                tag: "v1".into(),
                digest: "sha256:ab".into(),
                size: 527
            })
            .to_json(),
            r#"{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:ab","Size":527}}"#
        );
        assert_eq!(
            error_json("manifest unknown"),
            r#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#
        );
    }

    #[test]
    fn bars_without_total_or_overshooting() {
        assert_eq!(bar(0, 0), "");
        assert_eq!(bar(2048, 0), " 2.048kB");
        assert!(
            bar(3000, 2000).ends_with("]      3kB"),
            "{}",
            bar(3000, 2000)
        );
        assert_eq!(
            short_id("sha256:331c429ed2602a7d4d9ea57a3e5e0b0d"),
            "331c429ed260"
        );
    }
}
