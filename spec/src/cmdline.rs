//! The Windows command-line codec.
//!
//! A Windows process receives one string, its command line, and splits it into an argv
//! itself (in the C runtime's startup code, or with `CommandLineToArgvW`). A runtime that
//! receives an argv must therefore *join* it, and the joined line is only right if every
//! parser the program might use reads the same argv back. This module joins by the MSVC
//! rules in the one form both parser families agree on, and splits by either family so the
//! result can be checked (and so users can debug quoting with `dockbridge cmdline`).
//!
//! # The two parser families
//!
//! | | program name (argv\[0\]) | arguments |
//! |---|---|---|
//! | [`Rules::CommandLineToArgvW`] | starts with `"`: everything up to the next `"`; otherwise up to the first space or tab | pre-2008 rules: inside quotes `""` is a literal `"` *and ends* the quoted part |
//! | [`Rules::MsvcCrt`] | `"` toggles quoting, quotes are dropped, an unquoted space or tab ends it | post-2008 rules: inside quotes `""` is a literal `"` and quoting *continues* |
//!
//! Both treat `2n` backslashes before a `"` as `n` backslashes and a quote that toggles
//! quoting, `2n+1` backslashes before a `"` as `n` backslashes and a literal `"`, and any
//! other backslash literally. Neither program-name parser knows backslash escapes.
//!
//! # What [`join`] writes
//!
//! * argv\[0\] verbatim, inside `"…"` if it is empty or holds a space or tab. An argv\[0\]
//!   containing `"` has no spelling both program-name parsers read back, so it is an error.
//! * every further argument through [`escape_arg`]: quoted if empty or holding a space or
//!   tab; each `"` written as `\"` after doubling the backslashes before it; the backslashes
//!   before the closing quote doubled; every other backslash untouched. A literal quote is
//!   never written as `""`, the one spelling on which the two families disagree.
//! * NUL cannot be carried by a Windows command line at all: an error wherever it appears.

use std::iter;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    #[error("invalid command line: {0}")]
    Invalid(String),
    /// argv\[0\] (the program) is what a command line starts with; there is nothing to join.
    #[error("an empty argv has no Windows command line: argv[0], the program, is required")]
    EmptyArgv,
    /// The program-name parsers have no escape for `"`: `CommandLineToArgvW` keeps quotes in
    /// an unquoted name while the CRT drops them, so no spelling is read back by both.
    #[error(
        "argv[0] contains a double quote, which a Windows program name cannot contain \
         (no program-name parser has an escape for it): {0}"
    )]
    QuoteInProgramName(String),
    /// The command line is a NUL-terminated string: a NUL would silently cut it short.
    #[error("argv[{index}] contains a NUL character, which a Windows command line cannot carry")]
    Nul { index: usize },
}

/// Which parser reads the command line back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rules {
    /// shell32's `CommandLineToArgvW`; its argument rules are also those of the pre-2008
    /// Microsoft C runtime.
    CommandLineToArgvW,
    /// The current (2008 and later) Microsoft C runtime's startup code (`argv` in `main`).
    MsvcCrt,
}

/// Joins an argv into one command line that splits back into the same argv under both
/// [`Rules`]. Fails on an empty argv, on a `"` in argv\[0\] and on NUL anywhere.
pub fn join(argv: &[impl AsRef<str>]) -> Result<String, CmdlineError> {
    let (program, args) = argv.split_first().ok_or(CmdlineError::EmptyArgv)?;
    let program = program.as_ref();
    if program.contains('\0') {
        return Err(CmdlineError::Nul { index: 0 });
    }
    if program.contains('"') {
        return Err(CmdlineError::QuoteInProgramName(program.to_owned()));
    }
    let mut line = String::with_capacity(argv.iter().map(|a| a.as_ref().len() + 3).sum());
    // An unquoted program name ends at the first character <= ' ' for CommandLineToArgvW
    // (any control character, not only blanks), so argv[0] with one must be quoted.
    if needs_quotes(program) || program.chars().any(|c| c <= ' ') {
        line.push('"');
        line.push_str(program);
        line.push('"');
    } else {
        line.push_str(program);
    }
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.as_ref();
        if arg.contains('\0') {
            return Err(CmdlineError::Nul { index: i + 1 });
        }
        line.push(' ');
        push_escaped(&mut line, arg);
    }
    Ok(line)
}

/// Escapes one argument that is *not* argv\[0\] so that both [`Rules`] read it back
/// unchanged. (NUL is copied as is: [`join`] is where it is rejected.)
pub fn escape_arg(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    push_escaped(&mut out, arg);
    out
}

/// An argument must be quoted when a parser would otherwise drop it (empty) or cut it in two.
fn needs_quotes(arg: &str) -> bool {
    arg.is_empty() || arg.contains([' ', '\t'])
}

fn push_escaped(out: &mut String, arg: &str) {
    let quote = needs_quotes(arg);
    if quote {
        out.push('"');
    }
    // Backslashes only mean something in front of a quote, so count the current run and
    // only double it when a quote (an embedded one, or our closing one) follows.
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => {
                backslashes += 1;
                out.push('\\');
            }
            '"' => {
                // n backslashes already written; n + 1 more make 2n + 1: a literal quote.
                out.extend(iter::repeat_n('\\', backslashes + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                backslashes = 0;
                out.push(c);
            }
        }
    }
    if quote {
        out.extend(iter::repeat_n('\\', backslashes));
        out.push('"');
    }
}

/// Splits a command line the way a program using `rules` would.
///
/// An empty line has no program name: `CommandLineToArgvW` would substitute the calling
/// module's own path, which cannot be known here, so that gives `[]`; the CRT gives `[""]`.
pub fn split(line: &str, rules: Rules) -> Vec<String> {
    match rules {
        Rules::CommandLineToArgvW => split_with(line, ProgramRules::Shell32, ArgRules::Pre2008),
        Rules::MsvcCrt => split_with(line, ProgramRules::Crt, ArgRules::Post2008),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgramRules {
    /// `CommandLineToArgvW`: a leading `"` runs to the next `"`, otherwise up to whitespace.
    Shell32,
    /// The CRT: `"` toggles quoting anywhere in the name.
    Crt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgRules {
    /// `""` inside quotes: a literal `"`, and the quoted part ends.
    Pre2008,
    /// `""` inside quotes: a literal `"`, and the quoted part continues.
    Post2008,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn split_with(line: &str, program_rules: ProgramRules, arg_rules: ArgRules) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return match program_rules {
            ProgramRules::Shell32 => Vec::new(),
            ProgramRules::Crt => vec![String::new()],
        };
    }
    let mut argv = Vec::new();
    let mut i = 0;

    let mut program = String::new();
    match program_rules {
        ProgramRules::Shell32 => {
            if chars[0] == '"' {
                i = 1;
                while i < chars.len() {
                    let c = chars[i];
                    i += 1;
                    if c == '"' {
                        break;
                    }
                    program.push(c);
                }
            } else {
                while i < chars.len() && !is_blank(chars[i]) {
                    program.push(chars[i]);
                    i += 1;
                }
            }
        }
        ProgramRules::Crt => {
            let mut in_quotes = false;
            while i < chars.len() {
                let c = chars[i];
                if c == '"' {
                    in_quotes = !in_quotes;
                } else if is_blank(c) && !in_quotes {
                    break;
                } else {
                    program.push(c);
                }
                i += 1;
            }
        }
    }
    argv.push(program);

    loop {
        while i < chars.len() && is_blank(chars[i]) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut arg = String::new();
        let mut in_quotes = false;
        loop {
            let mut backslashes = 0usize;
            while i < chars.len() && chars[i] == '\\' {
                backslashes += 1;
                i += 1;
            }
            if i < chars.len() && chars[i] == '"' {
                arg.extend(iter::repeat_n('\\', backslashes / 2));
                if backslashes % 2 == 1 {
                    arg.push('"');
                } else if in_quotes && chars.get(i + 1) == Some(&'"') {
                    arg.push('"');
                    i += 1;
                    if arg_rules == ArgRules::Pre2008 {
                        in_quotes = false;
                    }
                } else {
                    in_quotes = !in_quotes;
                }
                i += 1;
                continue;
            }
            arg.extend(iter::repeat_n('\\', backslashes));
            match chars.get(i) {
                None => break,
                Some(&c) if is_blank(c) && !in_quotes => break,
                Some(&c) => {
                    arg.push(c);
                    i += 1;
                }
            }
        }
        argv.push(arg);
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    const VECTORS: &str = include_str!("../testdata/windows-cmdline-vectors.json");

    #[derive(Debug, Deserialize)]
    struct Vector {
        cmdline: String,
        argv: Vec<String>,
        direction: String,
        rules: Vec<String>,
        source: String,
        #[serde(default)]
        note: Option<String>,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(VECTORS).expect("testdata vectors parse")
    }

    /// Every parser a vector may name, including the pre-2008 CRT (CRT program name,
    /// pre-2008 arguments) which the public [`Rules`] does not offer.
    fn split_named(line: &str, name: &str) -> Vec<String> {
        match name {
            "CommandLineToArgvW" => split(line, Rules::CommandLineToArgvW),
            "msvcrt-2008" => split(line, Rules::MsvcCrt),
            "msvcrt-pre2008" => split_with(line, ProgramRules::Crt, ArgRules::Pre2008),
            other => panic!("unknown rule set {other:?} in vectors"),
        }
    }

    /// Splits a command line into its argv[0] spelling and the rest (from the first
    /// separator on); both program-name parsers agree on this for our lines.
    fn program_and_tail(line: &str) -> (&str, &str) {
        let end = if let Some(rest) = line.strip_prefix('"') {
            rest.find('"').map_or(line.len(), |p| p + 2)
        } else {
            line.find([' ', '\t']).unwrap_or(line.len())
        };
        line.split_at(end)
    }

    #[test]
    fn program_name_with_control_characters_is_quoted() {
        for program in ["a\u{1}b", "tab\there", "x\u{1f}"] {
            let line = join(&[program, "arg"]).expect("joins");
            assert_eq!(line, format!("\"{program}\" arg"));
        }
    }

    #[test]
    fn every_vector_passes() {
        let vectors = vectors();
        assert!(
            vectors.len() >= 90,
            "expected the full vector set, got {}",
            vectors.len()
        );
        let (mut parse, mut escape, mut exact, mut modulo_program_quotes) = (0, 0, 0, 0);
        let (mut inexpressible, mut forced_quotes) = (0, 0);
        for v in &vectors {
            let ctx = format!("{:?} ({}, {})", v.cmdline, v.direction, v.source);
            // Every vector, parse or escape, states what its listed parsers read.
            for rule in &v.rules {
                assert_eq!(split_named(&v.cmdline, rule), v.argv, "{rule}: {ctx}");
            }
            match v.direction.as_str() {
                "parse" => parse += 1,
                "escape" => {
                    escape += 1;
                    if v.argv[0].contains('"') {
                        assert_eq!(
                            join(&v.argv),
                            Err(CmdlineError::QuoteInProgramName(v.argv[0].clone())),
                            "{ctx}"
                        );
                        inexpressible += 1;
                        continue;
                    }
                    let line = join(&v.argv).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    for rules in [Rules::CommandLineToArgvW, Rules::MsvcCrt] {
                        assert_eq!(split(&line, rules), v.argv, "{rules:?}: {line:?} for {ctx}");
                    }
                    if line == v.cmdline {
                        exact += 1;
                    } else if v.note.as_deref() == Some("force_quotes=True") {
                        // Rust's force_quotes style quotes every argument; only the round
                        // trip (checked above) is comparable.
                        forced_quotes += 1;
                    } else {
                        // Sources differ only in whether they quote a plain argv[0].
                        let (ours, our_tail) = program_and_tail(&line);
                        let (theirs, their_tail) = program_and_tail(&v.cmdline);
                        assert_eq!(our_tail, their_tail, "{ctx}: we wrote {line:?}");
                        assert_eq!(ours.trim_matches('"'), theirs.trim_matches('"'), "{ctx}");
                        modulo_program_quotes += 1;
                    }
                }
                other => panic!("unknown direction {other:?}"),
            }
        }
        assert_eq!(parse + escape, vectors.len());
        assert_eq!(
            exact + modulo_program_quotes + inexpressible + forced_quotes,
            escape
        );
        assert_eq!((inexpressible, forced_quotes), (1, 1));
        assert!(
            exact > modulo_program_quotes,
            "most escape vectors should match exactly"
        );
    }

    #[test]
    fn the_parsers_disagree_only_where_documented() {
        let line = r#"EXE a"b"" c d"#;
        assert_eq!(
            split(line, Rules::CommandLineToArgvW),
            ["EXE", "ab\"", "c", "d"]
        );
        assert_eq!(split(line, Rules::MsvcCrt), ["EXE", "ab\" c d"]);
        // Program names: shell32 stops at the next quote, the CRT toggles.
        assert_eq!(
            split(r#"E"X"E t"#, Rules::CommandLineToArgvW),
            ["E\"X\"E", "t"]
        );
        assert_eq!(split(r#"E"X"E t"#, Rules::MsvcCrt), ["EXE", "t"]);
        assert_eq!(
            split(r#""a"b c"#, Rules::CommandLineToArgvW),
            ["a", "b", "c"]
        );
        assert_eq!(split(r#""a"b c"#, Rules::MsvcCrt), ["ab", "c"]);
    }

    #[test]
    fn empty_and_blank_lines() {
        assert_eq!(split("", Rules::CommandLineToArgvW), Vec::<String>::new());
        assert_eq!(split("", Rules::MsvcCrt), [""]);
        for rules in [Rules::CommandLineToArgvW, Rules::MsvcCrt] {
            assert_eq!(split("  ", rules), [""]);
            assert_eq!(split("\"\"", rules), [""]);
            assert_eq!(split("a\t\tb\t", rules), ["a", "b"]);
            // Unterminated quotes run to the end of the line.
            assert_eq!(split("a \"b c", rules), ["a", "b c"]);
            assert_eq!(split("\"C:\\x y", rules), ["C:\\x y"]);
        }
    }

    #[test]
    fn join_quotes_the_program_verbatim() {
        // No backslash escapes exist in a program name: a trailing backslash stays single.
        assert_eq!(
            join(&[r"C:\Program Files\app\", "x"]).unwrap(),
            r#""C:\Program Files\app\" x"#
        );
        assert_eq!(join(&["", "x"]).unwrap(), r#""" x"#);
        assert_eq!(join(&["a\tb"]).unwrap(), "\"a\tb\"");
        assert_eq!(join(&[r"C:\app.exe"]).unwrap(), r"C:\app.exe");
    }

    #[test]
    fn join_rejects_what_cannot_be_expressed() {
        let none: [&str; 0] = [];
        assert_eq!(join(&none), Err(CmdlineError::EmptyArgv));
        assert_eq!(
            join(&["a\"b", "c"]),
            Err(CmdlineError::QuoteInProgramName("a\"b".into()))
        );
        assert_eq!(join(&["a\0"]), Err(CmdlineError::Nul { index: 0 }));
        assert_eq!(
            join(&["a", "b", "c\0"]),
            Err(CmdlineError::Nul { index: 2 })
        );
        let msg = join(&["\"x\""]).unwrap_err().to_string();
        assert!(msg.contains("double quote"), "{msg}");
    }

    #[test]
    fn escape_arg_examples() {
        let cases = [
            ("", r#""""#),
            ("a", "a"),
            ("a b", r#""a b""#),
            ("a\tb", "\"a\tb\""),
            (r"C:\", r"C:\"),
            (r"C:\dir with space\", r#""C:\dir with space\\""#),
            (r"a\\b", r"a\\b"),
            (r#"a"b"#, r#"a\"b"#),
            (r#"a\"b"#, r#"a\\\"b"#),
            (r#"a\\"b"#, r#"a\\\\\"b"#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r#"" "#, r#""\" ""#),
            ("\"", r#"\""#),
            ("\"\"", r#"\"\""#),
            ("Игорь 😀", "\"Игорь 😀\""),
        ];
        for (arg, want) in cases {
            assert_eq!(escape_arg(arg), want, "{arg:?}");
            let line = format!("x {}", escape_arg(arg));
            for rules in [Rules::CommandLineToArgvW, Rules::MsvcCrt] {
                assert_eq!(split(&line, rules), ["x", arg], "{rules:?} {line:?}");
            }
        }
    }

    #[test]
    fn never_writes_a_doubled_quote_inside_quotes() {
        for arg in [r#"a ""b"#, r#"" ""#, r#"x" "#, r#" "" "#, r#"\" "#] {
            let escaped = escape_arg(arg);
            let inner = &escaped[1..escaped.len() - 1];
            // Every quote inside is escaped, i.e. preceded by an odd run of backslashes.
            let bytes = inner.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'"' {
                    let run = bytes[..i].iter().rev().take_while(|c| **c == b'\\').count();
                    assert_eq!(run % 2, 1, "{arg:?} -> {escaped:?}");
                }
            }
        }
    }

    /// Characters that exercise every rule, mixed with arbitrary Unicode.
    fn arg_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[\\\\\" \ta]{0,8}",
            2 => "[\\\\\" \tbé€😀Ж\u{a0}\u{3000}\n]{0,12}",
            2 => any::<String>().prop_map(|s| s.replace('\0', "")),
        ]
    }

    fn program_strategy() -> impl Strategy<Value = String> {
        arg_strategy().prop_map(|s| s.replace('"', ""))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn split_join_round_trips_under_both_rule_sets(
            program in program_strategy(),
            args in proptest::collection::vec(arg_strategy(), 0..6),
        ) {
            let mut argv = vec![program];
            argv.extend(args);
            let line = join(&argv).expect("joinable");
            prop_assert_eq!(&split(&line, Rules::CommandLineToArgvW), &argv, "line {:?}", line);
            prop_assert_eq!(&split(&line, Rules::MsvcCrt), &argv, "line {:?}", line);
            // The pre-2008 CRT reads it back too.
            prop_assert_eq!(&split_with(&line, ProgramRules::Crt, ArgRules::Pre2008), &argv);
        }

        #[test]
        fn split_never_panics(line in any::<String>()) {
            let _ = split(&line, Rules::CommandLineToArgvW);
            let _ = split(&line, Rules::MsvcCrt);
        }
    }
}
