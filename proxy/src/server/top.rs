//! `GET /containers/{id}/top`: the host's `ps`, narrowed to the container's processes, as
//! dockerd does it.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::error::{ApiError, ApiResult};
use super::params;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/containers/{id}/top", get(top))
}

/// Keeps `ps`' header and the lines whose PID column is one of `pids`.
pub fn filter_ps(output: &str, pids: &[u32]) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut lines = output.lines();
    let header = lines.next().ok_or("ps printed nothing")?;
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| format!("Couldn't find PID field in ps output: {header}"))?;
    let mut procs = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        // The last column (the command) may contain spaces: split into as many fields
        // as there are titles.
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<u32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        procs.push(row);
    }
    Ok((titles, procs))
}

async fn top(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<params::Query>,
) -> ApiResult<impl IntoResponse> {
    // The runtime lists the container's processes (containerd: Tasks.ListPids).
    let (_, pids) = d.containers.pids(&id).await?;
    let args = q.get("ps_args").map(String::as_str).unwrap_or("-ef");
    let argv: Vec<&str> = args.split_whitespace().collect();
    let out = tokio::process::Command::new("ps")
        .args(if argv.is_empty() { vec!["-ef"] } else { argv })
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let (titles, procs) =
        filter_ps(&String::from_utf8_lossy(&out.stdout), &pids).map_err(ApiError::internal)?;
    Ok(Json(
        serde_json::json!({ "Titles": titles, "Processes": procs }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_pids_with_spaced_commands() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\n\
                  root 1 0 0 10:00 ? 00:00:01 /sbin/init splash\n\
                  root 4242 4200 0 10:01 ? 00:00:00 sleep 1000\n";
        let (t, p) = filter_ps(ps, &[4242]).unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!(
            p,
            vec![vec![
                "root",
                "4242",
                "4200",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 1000"
            ]]
        );
        assert!(filter_ps("USER CMD\nroot x\n", &[1]).is_err());
    }
}
