//! The command-line codec checked against a real Windows parser: every vector's command
//! line is handed verbatim to CreateProcess (`raw_arg`), and the argv-echo program
//! (wine/argv-echo.c) reports what the CRT and `CommandLineToArgvW` made of it. Under Wine
//! (scripts/wine-run.sh, the cargo runner for x86_64-pc-windows-gnu) that is Wine's msvcrt
//! and shell32; on a Windows host, Windows' own.
#![cfg(windows)]
#![forbid(unsafe_code)]

use std::os::windows::process::CommandExt;
use std::process::Command;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Vector {
    cmdline: String,
    argv: Vec<String>,
    direction: String,
    rules: Vec<String>,
}

const VECTORS: &str = include_str!("../testdata/windows-cmdline-vectors.json");

/// The argv-echo output: (CRT argv, CommandLineToArgvW argv), program names dropped since
/// they are the echo program's own path.
fn echo(tail: &str) -> (Vec<String>, Vec<String>) {
    let exe = std::env::var("DOCKBRIDGE_ARGV_ECHO")
        .expect("DOCKBRIDGE_ARGV_ECHO (set by scripts/wine-run.sh) names argv-echo.exe");
    let out = Command::new(exe)
        .raw_arg(tail)
        .output()
        .expect("argv-echo runs");
    assert!(out.status.success(), "argv-echo failed: {out:?}");
    let text = String::from_utf8(out.stdout).expect("argv-echo prints ASCII hex");
    let (mut crt, mut shell) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let (tag, hex) = line.split_at(2);
        let units: Vec<u16> = hex
            .as_bytes()
            .chunks(4)
            .map(|c| u16::from_str_radix(std::str::from_utf8(c).unwrap_or(""), 16).expect("hex"))
            .collect();
        let arg = String::from_utf16(&units).expect("argv is valid UTF-16");
        match tag {
            "c " => crt.push(arg),
            "s " => shell.push(arg),
            other => panic!("unexpected argv-echo line tag {other:?}"),
        }
    }
    assert!(
        !crt.is_empty() && !shell.is_empty(),
        "argv-echo printed {text:?}"
    );
    (crt.split_off(1), shell.split_off(1))
}

/// The part of `line` after its program name (the codec's lines never quote inside it).
fn tail(line: &str) -> &str {
    let end = if let Some(rest) = line.strip_prefix('"') {
        rest.find('"').map_or(line.len(), |p| p + 2)
    } else {
        line.find([' ', '\t']).unwrap_or(line.len())
    };
    line[end..].trim_start_matches([' ', '\t'])
}

#[test]
fn codec_matches_the_real_windows_parsers() {
    let vectors: Vec<Vector> = serde_json::from_str(VECTORS).expect("vectors parse");
    let mut checked = 0;
    let mut failures = Vec::new();
    for v in &vectors {
        // What the CreateProcess caller passes after the program name.
        let (line, want) = match v.direction.as_str() {
            "parse" => {
                // Vectors about parsing the program name itself cannot be replayed: here
                // CreateProcess writes the echo program's path as argv[0].
                let program = &v.cmdline[..v.cmdline.len() - tail(&v.cmdline).len()];
                let program = program.trim_end_matches([' ', '\t']);
                let plain = program.strip_prefix('"').and_then(|p| p.strip_suffix('"'));
                if plain.unwrap_or(program) != v.argv[0] {
                    continue;
                }
                (v.cmdline.clone(), v.argv[1..].to_vec())
            }
            // The codec's own escaping of argv must come back unchanged.
            _ => {
                let mut argv = vec!["X".to_string()];
                argv.extend(v.argv[1..].iter().cloned());
                match spec::cmdline::join(&argv) {
                    Ok(line) => (line, v.argv[1..].to_vec()),
                    Err(_) => continue,
                }
            }
        };
        let (crt, shell) = echo(tail(&line));
        let is_escape = v.direction != "parse";
        if (is_escape || v.rules.iter().any(|r| r == "msvcrt-2008")) && crt != want {
            failures.push(format!("CRT: {line:?} -> {crt:?}, want {want:?}"));
        }
        if (is_escape || v.rules.iter().any(|r| r == "CommandLineToArgvW")) && shell != want {
            failures.push(format!(
                "CommandLineToArgvW: {line:?} -> {shell:?}, want {want:?}"
            ));
        }
        checked += 1;
    }
    assert!(checked >= 85, "only {checked} vectors checked");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
