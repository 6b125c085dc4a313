//! Human and machine-readable reports, and the side-by-side comparison.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ctx::Exchange;
use crate::runner::{CaseResult, RunReport, Status};

/// `N passed, N failed, N skipped`: the last line of a run.
pub fn summary_line(r: &RunReport) -> String {
    format!(
        "{} passed, {} failed, {} skipped",
        r.passed, r.failed, r.skipped
    )
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// The result table (area, case, result, detail) plus the summary line.
pub fn table(r: &RunReport) -> String {
    let rows: Vec<[String; 4]> = r
        .results
        .iter()
        .map(|c| {
            [
                c.area.clone(),
                c.case.clone(),
                c.result.as_str().to_string(),
                one_line(&c.detail, 160),
            ]
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# host {}  server {}  API {} (negotiated {})  run {}  {:.1}s",
        r.host,
        r.server_version,
        r.server_api,
        r.negotiated_api,
        r.run_id,
        r.duration_ms as f64 / 1000.0
    );
    out.push_str(&render(&["AREA", "CASE", "RESULT", "DETAIL"], &rows));
    out.push_str(&summary_line(r));
    out.push('\n');
    out
}

fn render(header: &[&str; 4], rows: &[[String; 4]]) -> String {
    let mut w = header.map(|h| h.chars().count());
    for row in rows {
        for (i, c) in row.iter().enumerate().take(3) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        )
    };
    out.push_str(&line([header[0], header[1], header[2], header[3]]));
    for row in rows {
        out.push_str(line([&row[0], &row[1], &row[2], &row[3]]).trim_end());
        out.push('\n');
    }
    out
}

/// Differences between two runs of the same case.
pub fn case_diff(a: &CaseResult, b: &CaseResult) -> Vec<String> {
    let mut d = Vec::new();
    if a.result != b.result {
        d.push(format!(
            "result: {} | {}",
            a.result.as_str(),
            b.result.as_str()
        ));
    }
    // Skipped / failed cases stop at different points: only compare the
    // exchanges both runs made.
    for (i, (x, y)) in a.exchanges.iter().zip(b.exchanges.iter()).enumerate() {
        d.extend(exchange_diff(i, x, y));
    }
    if a.exchanges.len() != b.exchanges.len() && a.result == b.result {
        d.push(format!(
            "requests: {} | {}",
            a.exchanges.len(),
            b.exchanges.len()
        ));
    }
    d
}

fn exchange_diff(i: usize, x: &Exchange, y: &Exchange) -> Vec<String> {
    let mut d = Vec::new();
    let what = format!("#{} {} {}", i + 1, x.method, x.path);
    if x.method != y.method || x.path != y.path {
        d.push(format!(
            "{what}: request {} {} | {} {}",
            x.method, x.path, y.method, y.path
        ));
        return d;
    }
    if x.status != y.status {
        d.push(format!("{what}: status {} | {}", x.status, y.status));
    }
    if x.content_type != y.content_type {
        d.push(format!(
            "{what}: Content-Type {:?} | {:?}",
            x.content_type, y.content_type
        ));
    }
    if x.shape != y.shape && !x.shape.is_empty() && !y.shape.is_empty() {
        let only_a: Vec<&String> = x.shape.iter().filter(|s| !y.shape.contains(s)).collect();
        let only_b: Vec<&String> = y.shape.iter().filter(|s| !x.shape.contains(s)).collect();
        d.push(format!(
            "{what}: JSON shape {} | {}",
            one_line(&fmt_list(&only_a), 200),
            one_line(&fmt_list(&only_b), 200)
        ));
    }
    d
}

fn fmt_list(v: &[&String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// Side-by-side table of the cases whose outcome or traffic differ.
pub fn compare(a: &RunReport, b: &RunReport) -> (String, usize) {
    let bmap: BTreeMap<(String, String), &CaseResult> = b
        .results
        .iter()
        .map(|c| ((c.area.clone(), c.case.clone()), c))
        .collect();
    let mut rows = Vec::new();
    for ca in &a.results {
        let Some(cb) = bmap.get(&(ca.area.clone(), ca.case.clone())) else {
            continue;
        };
        let diffs = case_diff(ca, cb);
        if diffs.is_empty() {
            continue;
        }
        for (i, d) in diffs.iter().enumerate() {
            let (area, case) = if i == 0 {
                (ca.area.clone(), ca.case.clone())
            } else {
                (String::new(), String::new())
            };
            let res = if i == 0 {
                format!("{} | {}", ca.result.as_str(), cb.result.as_str())
            } else {
                String::new()
            };
            rows.push([area, case, res, d.clone()]);
        }
    }
    let differing = a
        .results
        .iter()
        .filter(|ca| {
            bmap.get(&(ca.area.clone(), ca.case.clone()))
                .is_some_and(|cb| !case_diff(ca, cb).is_empty())
        })
        .count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A = {} (server {}, API {})",
        a.host, a.server_version, a.server_api
    );
    let _ = writeln!(
        out,
        "# B = {} (server {}, API {})",
        b.host, b.server_version, b.server_api
    );
    out.push_str(&render(
        &["AREA", "CASE", "A | B", "DIFFERENCE (A | B)"],
        &rows,
    ));
    let _ = writeln!(out, "A: {}", summary_line(a));
    let _ = writeln!(out, "B: {}", summary_line(b));
    let same_result = a
        .results
        .iter()
        .filter(|ca| {
            bmap.get(&(ca.area.clone(), ca.case.clone()))
                .is_some_and(|cb| cb.result == ca.result)
        })
        .count();
    let _ = writeln!(
        out,
        "{differing} cases differ, {} same",
        a.results.len().saturating_sub(differing).min(same_result)
    );
    (out, differing)
}

/// Counts of cases per area (for the README table and `--list`).
pub fn area_counts<'a>(areas: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut m: Vec<(String, usize)> = Vec::new();
    for a in areas {
        match m.iter_mut().find(|(k, _)| k == a) {
            Some(e) => e.1 += 1,
            None => m.push((a.to_string(), 1)),
        }
    }
    m
}

pub fn failed(r: &RunReport) -> bool {
    r.results.iter().any(|c| c.result == Status::Fail)
}
