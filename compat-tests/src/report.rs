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

/// `|` and newlines would break a Markdown table cell.
fn md_cell(s: &str) -> String {
    one_line(&s.replace('|', "\\|"), 300)
}

/// The `--compare` report as Markdown (`--markdown PATH`): every case with both
/// endpoints' status and detail lines, and the first difference of the ones that differ.
pub fn compare_markdown(a: &RunReport, b: &RunReport) -> String {
    let bmap: BTreeMap<(String, String), &CaseResult> = b
        .results
        .iter()
        .map(|c| ((c.area.clone(), c.case.clone()), c))
        .collect();
    let mut out = String::from("# dockbridge-compat: side by side\n\n");
    let _ = writeln!(
        out,
        "- **A**: `{}` (server {}, API {}): {}",
        a.host,
        a.server_version,
        a.server_api,
        summary_line(a)
    );
    let _ = writeln!(
        out,
        "- **B**: `{}` (server {}, API {}): {}\n",
        b.host,
        b.server_version,
        b.server_api,
        summary_line(b)
    );
    out.push_str("| area | case | A | B | first difference |\n|---|---|---|---|---|\n");
    for ca in &a.results {
        let cb = bmap.get(&(ca.area.clone(), ca.case.clone()));
        let status = |c: &CaseResult| {
            let detail = c.detail.lines().next().unwrap_or_default();
            if detail.is_empty() {
                c.result.as_str().to_string()
            } else {
                format!("{}: {}", c.result.as_str(), md_cell(detail))
            }
        };
        let (b_status, diff) = match cb {
            Some(cb) => (
                status(cb),
                case_diff(ca, cb)
                    .first()
                    .map(|d| md_cell(d))
                    .unwrap_or_default(),
            ),
            None => ("(not run)".to_string(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            ca.area,
            ca.case,
            status(ca),
            b_status,
            diff
        );
    }
    out
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

/// XML's five escapes, and nothing a parser would refuse (control characters go).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML (`--junit`): one `testsuite` per run, one `testcase` per case (`classname`
/// the area); a failure carries the detail and the case's requests with their statuses.
pub fn junit(r: &RunReport) -> String {
    let secs = |ms: u128| format!("{:.3}", ms as f64 / 1000.0);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"dockbridge-compat\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">\n",
        r.results.len(),
        r.failed,
        r.skipped,
        secs(r.duration_ms)
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" hostname=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">\n",
        xml_escape(&format!("{} (server {}, API {})", r.host, r.server_version, r.negotiated_api)),
        xml_escape(&r.host),
        r.results.len(),
        r.failed,
        r.skipped,
        secs(r.duration_ms)
    ));
    for c in &r.results {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            xml_escape(&c.area),
            xml_escape(&c.case),
            secs(c.duration_ms)
        ));
        match c.result {
            Status::Pass => out.push_str("/>\n"),
            Status::Skip => out.push_str(&format!(
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                xml_escape(&c.detail)
            )),
            Status::Fail => {
                let requests: Vec<String> = c
                    .exchanges
                    .iter()
                    .map(|x| format!("{} {} -> {} {}", x.method, x.path, x.status, x.content_type))
                    .collect();
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}\n\nrequests:\n{}</failure>\n    </testcase>\n",
                    xml_escape(c.detail.lines().next().unwrap_or_default()),
                    xml_escape(&c.detail),
                    xml_escape(&requests.join("\n"))
                ));
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(case: &str, result: Status, detail: &str) -> CaseResult {
        CaseResult {
            area: "logs".into(),
            case: case.into(),
            min_api: "1.24".into(),
            result,
            detail: detail.into(),
            duration_ms: 1500,
            exchanges: vec![Exchange {
                method: "GET".into(),
                path: "/containers/ID/logs?stdout=1".into(),
                status: 500,
                content_type: "application/json".into(),
                shape: vec![],
            }],
        }
    }

    #[test]
    fn markdown_compare_rows_and_first_difference() {
        let mut a = RunReport {
            host: "unix:///a.sock".into(),
            run_id: "r".into(),
            server_version: "20.10".into(),
            server_api: "1.41".into(),
            negotiated_api: "1.41".into(),
            passed: 1,
            failed: 0,
            skipped: 0,
            duration_ms: 1,
            results: vec![case("a", Status::Pass, "")],
        };
        let mut b = a.clone();
        b.host = "unix:///b.sock".into();
        b.results[0].result = Status::Fail;
        b.results[0].detail = "got 1 | want 2".into();
        b.results[0].exchanges[0].status = 404;
        a.results.push(case("only-a", Status::Pass, ""));
        let md = compare_markdown(&a, &b);
        assert!(
            md.contains("| logs | a | pass | FAIL: got 1 \\| want 2 | result: pass \\| FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("| logs | only-a | pass | (not run) |  |"),
            "{md}"
        );
    }

    #[test]
    fn junit_has_a_testcase_per_case_and_escapes() {
        let r = RunReport {
            host: "unix:///x.sock".into(),
            run_id: "r".into(),
            server_version: "20.10".into(),
            server_api: "1.41".into(),
            negotiated_api: "1.41".into(),
            passed: 1,
            failed: 1,
            skipped: 1,
            duration_ms: 4500,
            results: vec![
                case("a", Status::Pass, ""),
                case("b", Status::Fail, "got <1> & \"2\"\nmore\u{1}"),
                case("c", Status::Skip, "needs API 1.42"),
            ],
        };
        let x = junit(&r);
        assert!(x.contains(r#"<testsuites name="dockbridge-compat" tests="3" failures="1" skipped="1" time="4.500">"#), "{x}");
        assert!(x.contains(r#"<testcase classname="logs" name="a" time="1.500"/>"#));
        assert!(x.contains(r#"<failure message="got &lt;1&gt; &amp; &quot;2&quot;">got &lt;1&gt; &amp; &quot;2&quot;
more

requests:
GET /containers/ID/logs?stdout=1 -&gt; 500 application/json</failure>"#), "{x}");
        assert!(x.contains(r#"<skipped message="needs API 1.42"/>"#));
        assert_eq!(x.matches("<testcase ").count(), 3);
    }
}
