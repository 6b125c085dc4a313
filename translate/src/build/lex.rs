//! Word processing of the classic builder (moby `builder/dockerfile/shell`): quotes, the
//! escape character and variable substitution (`$V`, `${V}`, `${V:-word}`, `${V:+word}`),
//! on one word ([`process_word`]) or split into words ([`process_words`]).

use crate::Error;

/// Variables as `NAME=value`; the first definition wins.
pub fn lookup<'a>(env: &'a [String], name: &str, windows: bool) -> Option<&'a str> {
    env.iter().find_map(|e| {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        let same = if windows {
            k.eq_ignore_ascii_case(name)
        } else {
            k == name
        };
        same.then_some(v)
    })
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a [String],
    escape: char,
    windows: bool,
    word: &'a str,
}

/// The word with quotes removed, escapes applied and variables substituted.
pub fn process_word(word: &str, env: &[String], escape: char) -> Result<String, Error> {
    let mut l = Lexer::new(word, env, escape, false);
    let (w, _) = l.process(None, false)?;
    Ok(w.concat())
}

/// Like [`process_word`], but split into words on unquoted whitespace.
pub fn process_words(text: &str, env: &[String], escape: char) -> Result<Vec<String>, Error> {
    let mut l = Lexer::new(text, env, escape, false);
    let (w, _) = l.process(None, true)?;
    Ok(w)
}

/// Windows: variable names compare case-insensitively.
pub fn process_word_os(
    word: &str,
    env: &[String],
    escape: char,
    windows: bool,
) -> Result<String, Error> {
    let mut l = Lexer::new(word, env, escape, windows);
    let (w, _) = l.process(None, false)?;
    Ok(w.concat())
}

impl<'a> Lexer<'a> {
    fn new(word: &'a str, env: &'a [String], escape: char, windows: bool) -> Self {
        Self {
            chars: word.chars().collect(),
            pos: 0,
            env,
            escape,
            windows,
            word,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn err(&self, m: &str) -> Error {
        Error::InvalidParameter(format!("{m} in: {:?}", self.word))
    }

    /// Processes until `stop` (consumed) or the end. Returns the words and whether any
    /// quote made the current word exist even if empty.
    fn process(&mut self, stop: Option<char>, split: bool) -> Result<(Vec<String>, bool), Error> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        loop {
            let Some(c) = self.peek() else {
                if stop.is_some() {
                    return Err(
                        self.err("unexpected end of statement while looking for matching }")
                    );
                }
                break;
            };
            if Some(c) == stop {
                self.pos += 1;
                break;
            }
            if split && c.is_whitespace() {
                self.pos += 1;
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            match c {
                '\'' => {
                    self.pos += 1;
                    loop {
                        match self.next() {
                            None => {
                                return Err(self.err(
                                    "unexpected end of statement while looking for matching single-quote",
                                ))
                            }
                            Some('\'') => break,
                            Some(c) => {
                                cur.push(c);
                                in_word = true;
                            }
                        }
                    }
                }
                '"' => {
                    self.pos += 1;
                    let before = cur.len();
                    self.double_quote(&mut cur)?;
                    in_word |= cur.len() > before;
                }
                '$' => {
                    self.pos += 1;
                    let v = self.dollar()?;
                    for ch in v.chars() {
                        if split && ch.is_whitespace() {
                            if in_word {
                                words.push(std::mem::take(&mut cur));
                                in_word = false;
                            }
                        } else {
                            cur.push(ch);
                            in_word = true;
                        }
                    }
                }
                c if c == self.escape => {
                    self.pos += 1;
                    if let Some(n) = self.next() {
                        cur.push(n);
                        in_word = true;
                    }
                }
                c => {
                    self.pos += 1;
                    cur.push(c);
                    in_word = true;
                }
            }
        }
        if in_word || !split {
            words.push(cur);
        }
        Ok((words, in_word))
    }

    fn double_quote(&mut self, cur: &mut String) -> Result<(), Error> {
        loop {
            match self.next() {
                None => {
                    return Err(self.err(
                        "unexpected end of statement while looking for matching double-quote",
                    ))
                }
                Some('"') => return Ok(()),
                Some('$') => {
                    let v = self.dollar()?;
                    cur.push_str(&v);
                }
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        cur.push(n);
                    }
                    _ => cur.push(c),
                },
                Some(c) => cur.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn dollar(&mut self) -> Result<String, Error> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(lookup(self.env, &name, self.windows)
                .unwrap_or_default()
                .to_string());
        }
        self.pos += 1;
        let name = self.name();
        match self.next() {
            Some('}') => Ok(lookup(self.env, &name, self.windows)
                .unwrap_or_default()
                .to_string()),
            Some(':') => {
                let modifier = self.next();
                let (words, _) = self.process(Some('}'), false)?;
                let word = words.concat();
                let value = lookup(self.env, &name, self.windows);
                match modifier {
                    Some('-') => Ok(match value {
                        Some(v) if !v.is_empty() => v.to_string(),
                        _ => word,
                    }),
                    Some('+') => Ok(match value {
                        Some(v) if !v.is_empty() => word,
                        _ => String::new(),
                    }),
                    Some(m) => Err(self.err(&format!("unsupported modifier ({m})"))),
                    None => Err(self.err("missing modifier")),
                }
            }
            Some(c) => Err(self.err(&format!("unsupported modifier ({c})"))),
            None => Err(self.err("missing '}'")),
        }
    }
}

/// Splits instruction arguments into words on unquoted whitespace, keeping quotes and
/// escapes for [`process_word`] (moby `parseWords`, used by ENV, LABEL, ARG).
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (quote, c) {
            (q, c) if c == escape && q != Some('\'') => {
                cur.push(c);
                escaped = true;
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<String> {
        ["A=1", "B=", "C=x y", "PATH=/bin"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn substitution() {
        let e = env();
        let w = |s: &str| process_word(s, &e, '\\').unwrap();
        assert_eq!(w("$A-${A}"), "1-1");
        assert_eq!(w("${B:-dflt}"), "dflt");
        assert_eq!(w("${Z:-${A}z}"), "1z");
        assert_eq!(w("${A:+alt}|${B:+alt}|${Z:+alt}"), "alt||");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$C\""), "x y");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"a\\\"b\\n\""), "a\"b\\n");
        assert_eq!(w("$"), "$");
        assert_eq!(w("${PATH}:/usr/bin"), "/bin:/usr/bin");
        assert!(process_word("${A", &e, '\\').is_err());
        assert!(process_word("\"abc", &e, '\\').is_err());
        assert!(process_word("${A?x}", &e, '\\').is_err());
    }

    #[test]
    fn words_and_escape_token() {
        let e = env();
        assert_eq!(
            process_words("a \"b c\" $C '' \"$C\"", &e, '\\').unwrap(),
            ["a", "b c", "x", "y", "x y"]
        );
        assert_eq!(process_word("C:\\dir `$A", &e, '`').unwrap(), "C:\\dir $A");
        assert_eq!(
            split_words("A=1 B=\"x y\" C='q r'\\ s", '\\'),
            ["A=1", "B=\"x y\"", "C='q r'\\ s"]
        );
        assert!(process_word_os("$path", &e, '\\', true).unwrap() == "/bin");
    }
}
