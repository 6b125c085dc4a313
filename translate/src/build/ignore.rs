//! `.dockerignore` (moby `builder/dockerignore` + `pkg/fileutils` `PatternMatcher`):
//! patterns cleaned as paths, `!` exceptions (the last matching pattern wins), `*`, `?`,
//! `[…]`, `\` escapes and `**` across directories; a pattern that matches a parent
//! directory excludes what is below it. Also Go's `filepath.Match`, for COPY sources.

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub exclusion: bool,
    dirs: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub patterns: Vec<Pattern>,
}

/// Lexical `path.Clean` on a slash path.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

impl Matcher {
    /// Reads a `.dockerignore`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err(Error::InvalidParameter(
                        "illegal exclusion pattern: \"!\"".into(),
                    ));
                }
            }
            let mut p = clean(p);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
            // Validate the pattern once (bad character classes).
            glob_match(&p, "", true)?;
            let dirs = p.split('/').count();
            patterns.push(Pattern {
                text: p,
                exclusion,
                dirs,
            });
        }
        Ok(Self { patterns })
    }

    /// Whether `file` (a slash path relative to the context root) is excluded.
    pub fn matches(&self, file: &str) -> bool {
        let file = clean(file);
        let parent = match file.rfind('/') {
            Some(i) => &file[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            let mut m = glob_match(&p.text, &file, true).unwrap_or(false);
            if !m && parent != "." && p.dirs <= parent_dirs.len() {
                let prefix = parent_dirs[..p.dirs].join("/");
                m = glob_match(&p.text, &prefix, true).unwrap_or(false);
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Any exclusion pattern: a whole excluded directory may still have included files.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// Go's `filepath.Match` on slash paths (`double_star`: `**` crosses directories as in
/// `.dockerignore`). Errors on a malformed pattern.
pub fn glob_match(pattern: &str, name: &str, double_star: bool) -> Result<bool, Error> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n, double_star)
}

fn bad() -> Error {
    Error::InvalidParameter("syntax error in pattern".into())
}

fn m(p: &[char], n: &[char], ds: bool) -> Result<bool, Error> {
    let Some(&c) = p.first() else {
        return Ok(n.is_empty());
    };
    match c {
        '*' if ds && p.get(1) == Some(&'*') => {
            // `**/` matches zero or more directories; `**` anything.
            let rest = if p.get(2) == Some(&'/') {
                &p[3..]
            } else {
                &p[2..]
            };
            if p.get(2) == Some(&'/') {
                if m(rest, n, ds)? {
                    return Ok(true);
                }
                for i in 0..n.len() {
                    if n[i] == '/' && m(rest, &n[i + 1..], ds)? {
                        return Ok(true);
                    }
                }
                return Ok(false);
            }
            for i in 0..=n.len() {
                if m(rest, &n[i..], ds)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        '*' => {
            for i in 0..=n.len() {
                if m(&p[1..], &n[i..], ds)? {
                    return Ok(true);
                }
                if i < n.len() && n[i] == '/' {
                    break;
                }
            }
            Ok(false)
        }
        '?' => match n.first() {
            Some(&x) if x != '/' => m(&p[1..], &n[1..], ds),
            _ => {
                check_rest(&p[1..])?;
                Ok(false)
            }
        },
        '[' => {
            let (set, used) = class(&p[1..])?;
            match n.first() {
                Some(&x) if x != '/' && set(x) => m(&p[1 + used..], &n[1..], ds),
                _ => {
                    check_rest(&p[1 + used..])?;
                    Ok(false)
                }
            }
        }
        '\\' => {
            let &e = p.get(1).ok_or_else(bad)?;
            match n.first() {
                Some(&x) if x == e => m(&p[2..], &n[1..], ds),
                _ => Ok(false),
            }
        }
        c => match n.first() {
            Some(&x) if x == c => m(&p[1..], &n[1..], ds),
            _ => {
                check_rest(&p[1..])?;
                Ok(false)
            }
        },
    }
}

/// Go reports a malformed pattern even when the name failed to match earlier.
fn check_rest(p: &[char]) -> Result<(), Error> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '[' => {
                let (_, used) = class(&p[i + 1..])?;
                i += 1 + used;
            }
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(bad());
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

type Set = Box<dyn Fn(char) -> bool>;

/// A character class after `[`: the predicate and the characters it used (with `]`).
fn class(p: &[char]) -> Result<(Set, usize), Error> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = p.get(i) else {
            return Err(bad());
        };
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i).ok_or_else(bad)?
        } else {
            c
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            hi = if p[i] == '\\' {
                i += 1;
                *p.get(i).ok_or_else(bad)?
            } else {
                p[i]
            };
            i += 1;
            if hi < lo {
                return Err(bad());
            }
        }
        ranges.push((lo, hi));
    }
    Ok((
        Box::new(move |x| ranges.iter().any(|(a, b)| *a <= x && x <= *b) != negate),
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match() {
        let g = |p: &str, n: &str| glob_match(p, n, false).unwrap();
        assert!(g("*.txt", "a.txt"));
        assert!(!g("*.txt", "d/a.txt"));
        assert!(g("d/*", "d/a.txt"));
        assert!(g("a?c", "abc"));
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[^a-c]x", "bx"));
        assert!(g("\\*", "*"));
        assert!(glob_match("[", "x", false).is_err());
    }

    #[test]
    fn dockerignore_rules() {
        let m = Matcher::parse(
            "# comment\n*.log\n!keep.log\n/build/\nnode_modules\n**/*.tmp\ndocs/**\n!docs/README.md\n",
        )
        .unwrap();
        assert!(m.matches("a.log"));
        assert!(!m.matches("keep.log"));
        assert!(!m.matches("sub/a.log"));
        assert!(m.matches("build/x/y"));
        assert!(m.matches("node_modules/x/index.js"));
        assert!(m.matches("a/b/c.tmp"));
        assert!(m.matches("c.tmp"));
        assert!(m.matches("docs/x.md"));
        assert!(!m.matches("docs/README.md"));
        assert!(!m.matches("src/main.rs"));
        assert!(m.has_exclusions());
        assert_eq!(m.patterns[2].text, "build");
        assert!(Matcher::parse("!\n").is_err());
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean(""), ".");
    }
}
