//! The Dockerfile parser of the classic builder (moby `builder/dockerfile/parser`): parser
//! directives (`# escape=`, `# syntax=`) at the top, comments, line continuations with the
//! escape character, and one [`Node`] per instruction with its flags split off.

use crate::Error;

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Lower-case keyword (`run`, `copy` …).
    pub keyword: String,
    /// The instruction with continuations joined (what `Step N/M :` prints).
    pub original: String,
    /// `--name=value` flags before the arguments (`--name` alone has an empty value).
    pub flags: Vec<(String, String)>,
    /// The text after the keyword and its flags.
    pub rest: String,
    /// 1-based line where it starts.
    pub line: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub nodes: Vec<Node>,
    /// Warnings to print before the build (ignored directives, empty continuation lines).
    pub warnings: Vec<String>,
}

/// Instructions that take `--flags` before their arguments.
const WITH_FLAGS: &[&str] = &["from", "copy", "add", "run"];

const KNOWN: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\r' | '\n' | '\u{c}')
}

/// A directive line (`# key=value`), lower-cased key.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim_start().strip_prefix('#')?.trim();
    let (k, v) = body.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut escape = '\\';
    let mut warnings = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    // Directives: only at the very top, before any other line.
    let mut seen = std::collections::HashSet::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        if !seen.insert(k.clone()) {
            return Err(Error::InvalidParameter(format!(
                "only one {k} parser directive can be used"
            )));
        }
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(Error::InvalidParameter(format!(
                            "invalid ESCAPE '{v}'. Must be ` or \\"
                        )))
                    }
                };
            }
            // The classic builder has no frontends: the directive is ignored.
            "syntax" => {}
            _ => break,
        }
        i += 1;
    }
    let mut nodes = Vec::new();
    let mut empty_continuations = 0;
    while i < lines.len() {
        let start = i + 1;
        let raw = lines[i].trim_end_matches('\r');
        i += 1;
        let trimmed = raw.trim_start_matches(is_space);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut line = String::new();
        let (mut cur, mut cont) = strip_continuation(trimmed, escape);
        loop {
            line.push_str(&cur);
            if !cont {
                break;
            }
            // Continuation: skip comment lines, warn about empty ones.
            let mut next = None;
            while i < lines.len() {
                let l = lines[i].trim_end_matches('\r');
                i += 1;
                let t = l.trim_start_matches(is_space);
                if t.starts_with('#') {
                    continue;
                }
                if t.is_empty() {
                    empty_continuations += 1;
                    continue;
                }
                next = Some(l);
                break;
            }
            match next {
                Some(l) => {
                    (cur, cont) = strip_continuation(l, escape);
                }
                None => break,
            }
        }
        nodes.push(node(&line, start)?);
    }
    if empty_continuations > 0 {
        warnings.push(
            "[WARNING]: Empty continuation lines will become errors in a future release."
                .to_string(),
        );
    }
    Ok(Dockerfile {
        escape,
        nodes,
        warnings,
    })
}

/// The line without a trailing escape character (and whether it had one).
fn strip_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches(is_space);
    match t.strip_suffix(escape) {
        Some(head) => (head.to_string(), true),
        None => (line.to_string(), false),
    }
}

fn node(line: &str, number: usize) -> Result<Node, Error> {
    let line = line.trim_matches(is_space);
    let end = line.find(is_space).unwrap_or(line.len());
    let keyword = line[..end].to_ascii_lowercase();
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(Error::InvalidParameter(format!(
            "dockerfile parse error line {number}: unknown instruction: {}",
            line[..end].to_ascii_uppercase()
        )));
    }
    let mut rest = line[end..].trim_start_matches(is_space);
    let mut flags = Vec::new();
    if WITH_FLAGS.contains(&keyword.as_str()) {
        while let Some(f) = rest.strip_prefix("--") {
            let e = f.find(is_space).unwrap_or(f.len());
            let word = &f[..e];
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            flags.push((k.to_string(), v.to_string()));
            rest = f[e..].trim_start_matches(is_space);
        }
    }
    Ok(Node {
        keyword,
        original: line.to_string(),
        flags,
        rest: rest.to_string(),
        line: number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_comments_and_continuations() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n# escape=`\n\nFROM busybox AS base\n# c\nRUN echo a `\n  # inside\n  b\nCOPY --chown=1:2 --from=base /a /b\n",
        )
        .unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.nodes.len(), 3);
        assert_eq!(df.nodes[1].original, "RUN echo a   b");
        assert_eq!(df.nodes[1].rest, "echo a   b");
        assert_eq!(df.nodes[2].keyword, "copy");
        assert_eq!(
            df.nodes[2].flags,
            [
                ("chown".into(), "1:2".into()),
                ("from".into(), "base".into())
            ]
        );
        assert_eq!(df.nodes[2].rest, "/a /b");
        assert_eq!(df.nodes[2].line, 9);
    }

    #[test]
    fn directive_only_at_the_top() {
        let df = parse("FROM x\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.nodes[1].rest, "a  b");
        assert!(parse("# escape=x\nFROM a").is_err());
        let e = parse("FROM a\nFOO b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: unknown instruction: FOO"
        );
        let df = parse("FROM a\nRUN a \\\n\n b\n").unwrap();
        assert_eq!(df.warnings.len(), 1);
        assert_eq!(df.nodes[1].original, "RUN a  b");
    }
}
