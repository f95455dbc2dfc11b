//! Command-line parsing. Options come first; the first argument that is not an option,
//! or everything after `--`, is the program and its arguments (as with `env` or
//! `nice`), so the program's own options are never taken for ours.

use std::ffi::OsString;
use std::path::PathBuf;

/// `UEPOLL_ENGINE` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    SinglePass,
    MultiPass,
    Seed,
}

impl Engine {
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "singlepass" => Some(Engine::SinglePass),
            "multipass" => Some(Engine::MultiPass),
            "seed" => Some(Engine::Seed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::SinglePass => "singlepass",
            Engine::MultiPass => "multipass",
            Engine::Seed => "seed",
        }
    }
}

/// Which help text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Main,
    Run,
    Ab,
    Trace,
}

/// What the library is told through the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preload {
    /// `UEPOLL_STATS=1`.
    pub stats: bool,
    /// `UEPOLL_ENGINE`.
    pub engine: Option<Engine>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help(Topic),
    Version,
    Run {
        preload: Preload,
        prog: Vec<OsString>,
    },
    Ab {
        runs: u32,
        quiet: bool,
        verbose: bool,
        engine: Option<Engine>,
        prog: Vec<OsString>,
    },
    Trace {
        output: PathBuf,
        preload: Preload,
        prog: Vec<OsString>,
    },
    Dump {
        file: PathBuf,
        file_order: bool,
    },
}

/// A usage error: the message, and which help to point at.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage {
    pub topic: Topic,
    pub msg: String,
}

fn usage<T>(topic: Topic, msg: impl Into<String>) -> Result<T, Usage> {
    Err(Usage {
        topic,
        msg: msg.into(),
    })
}

/// One option a subcommand accepts.
struct Spec {
    short: Option<char>,
    long: &'static str,
    value: bool,
}

const fn flag(short: Option<char>, long: &'static str) -> Spec {
    Spec {
        short,
        long,
        value: false,
    }
}

const fn valued(short: Option<char>, long: &'static str) -> Spec {
    Spec {
        short,
        long,
        value: true,
    }
}

const HELP: Spec = flag(Some('h'), "help");
const RUN_OPTS: &[Spec] = &[HELP, flag(None, "stats"), valued(None, "engine")];
const AB_OPTS: &[Spec] = &[
    HELP,
    valued(Some('n'), "runs"),
    flag(Some('q'), "quiet"),
    flag(Some('v'), "verbose"),
    valued(None, "engine"),
];
const TRACE_OPTS: &[Spec] = &[
    HELP,
    valued(Some('o'), "output"),
    valued(None, "dump"),
    flag(None, "file-order"),
    flag(None, "stats"),
    valued(None, "engine"),
];

/// The options seen (by long name, with their values) and the program's arguments.
type Scanned = (Vec<(&'static str, Option<String>)>, Vec<OsString>);

fn scan(topic: Topic, specs: &[Spec], args: &[OsString]) -> Result<Scanned, Usage> {
    let mut seen = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else {
            break; // not UTF-8, so not one of our options: the program starts here
        };
        if arg == "--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(spec) = specs.iter().find(|s| s.long == name) else {
                return usage(topic, format!("unknown option '--{name}'"));
            };
            let value = if !spec.value {
                if inline.is_some() {
                    return usage(topic, format!("option '--{name}' takes no value"));
                }
                None
            } else if inline.is_some() {
                inline
            } else {
                i += 1;
                match args.get(i).and_then(|a| a.to_str()) {
                    Some(v) => Some(v.to_string()),
                    None => return usage(topic, format!("option '--{name}' needs a value")),
                }
            };
            if spec.long == "help" {
                return Ok((vec![("help", None)], Vec::new()));
            }
            seen.push((spec.long, value));
        } else if arg.len() > 1 && arg.starts_with('-') {
            for (at, c) in arg[1..].char_indices() {
                let Some(spec) = specs.iter().find(|s| s.short == Some(c)) else {
                    return usage(topic, format!("unknown option '-{c}'"));
                };
                if spec.long == "help" {
                    return Ok((vec![("help", None)], Vec::new()));
                }
                if !spec.value {
                    seen.push((spec.long, None));
                    continue;
                }
                let rest = &arg[1 + at + c.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_string()
                } else {
                    i += 1;
                    match args.get(i).and_then(|a| a.to_str()) {
                        Some(v) => v.to_string(),
                        None => return usage(topic, format!("option '-{c}' needs a value")),
                    }
                };
                seen.push((spec.long, Some(value)));
                break;
            }
        } else {
            break; // the program
        }
        i += 1;
    }
    Ok((seen, args[i.min(args.len())..].to_vec()))
}

/// The last value given for `name`, if any.
fn value<'a>(seen: &'a [(&'static str, Option<String>)], name: &str) -> Option<&'a str> {
    seen.iter()
        .rev()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.as_deref())
}

fn has(seen: &[(&'static str, Option<String>)], name: &str) -> bool {
    seen.iter().any(|(n, _)| *n == name)
}

fn engine(topic: Topic, seen: &[(&'static str, Option<String>)]) -> Result<Option<Engine>, Usage> {
    match value(seen, "engine") {
        None => Ok(None),
        Some(v) => match Engine::parse(v) {
            Some(e) => Ok(Some(e)),
            None => usage(
                topic,
                format!("unknown engine '{v}' (expected singlepass, multipass or seed)"),
            ),
        },
    }
}

fn need_prog(topic: Topic, prog: &[OsString]) -> Result<(), Usage> {
    if prog.is_empty() {
        return usage(topic, "missing PROG");
    }
    Ok(())
}

/// Parse the arguments after the command's own name.
pub fn parse(args: &[OsString]) -> Result<Command, Usage> {
    let Some(first) = args.first() else {
        return usage(Topic::Main, "missing command (run, ab or trace)");
    };
    let rest = &args[1..];
    match first.to_str().unwrap_or("") {
        "-h" | "--help" => Ok(Command::Help(Topic::Main)),
        "-V" | "--version" => Ok(Command::Version),
        "help" => match rest.first().and_then(|a| a.to_str()) {
            None => Ok(Command::Help(Topic::Main)),
            Some("run") => Ok(Command::Help(Topic::Run)),
            Some("ab") => Ok(Command::Help(Topic::Ab)),
            Some("trace") => Ok(Command::Help(Topic::Trace)),
            Some(other) => usage(Topic::Main, format!("no help for '{other}'")),
        },
        "run" => {
            let (seen, prog) = scan(Topic::Run, RUN_OPTS, rest)?;
            if has(&seen, "help") {
                return Ok(Command::Help(Topic::Run));
            }
            let preload = Preload {
                stats: has(&seen, "stats"),
                engine: engine(Topic::Run, &seen)?,
            };
            need_prog(Topic::Run, &prog)?;
            Ok(Command::Run { preload, prog })
        }
        "ab" => {
            let (seen, prog) = scan(Topic::Ab, AB_OPTS, rest)?;
            if has(&seen, "help") {
                return Ok(Command::Help(Topic::Ab));
            }
            let runs = match value(&seen, "runs") {
                None => 3,
                Some(v) => match v.parse::<u32>() {
                    Ok(n) if (1..=1000).contains(&n) => n,
                    _ => {
                        return usage(
                            Topic::Ab,
                            format!("-n wants a number of runs from 1 to 1000, not '{v}'"),
                        )
                    }
                },
            };
            let engine = engine(Topic::Ab, &seen)?;
            need_prog(Topic::Ab, &prog)?;
            Ok(Command::Ab {
                runs,
                quiet: has(&seen, "quiet"),
                verbose: has(&seen, "verbose"),
                engine,
                prog,
            })
        }
        "trace" => {
            let (seen, prog) = scan(Topic::Trace, TRACE_OPTS, rest)?;
            if has(&seen, "help") {
                return Ok(Command::Help(Topic::Trace));
            }
            if let Some(file) = value(&seen, "dump") {
                if has(&seen, "output") || has(&seen, "stats") || has(&seen, "engine") {
                    return usage(
                        Topic::Trace,
                        "--dump cannot be combined with -o, --stats or --engine",
                    );
                }
                if !prog.is_empty() {
                    return usage(Topic::Trace, "--dump takes a file, not a program");
                }
                return Ok(Command::Dump {
                    file: PathBuf::from(file),
                    file_order: has(&seen, "file-order"),
                });
            }
            if has(&seen, "file-order") {
                return usage(Topic::Trace, "--file-order goes with --dump");
            }
            let Some(output) = value(&seen, "output") else {
                return usage(Topic::Trace, "missing -o FILE (or --dump FILE)");
            };
            if output.is_empty() {
                return usage(Topic::Trace, "-o wants a file name");
            }
            let preload = Preload {
                stats: has(&seen, "stats"),
                engine: engine(Topic::Trace, &seen)?,
            };
            need_prog(Topic::Trace, &prog)?;
            Ok(Command::Trace {
                output: PathBuf::from(output),
                preload,
                prog,
            })
        }
        other => usage(
            Topic::Main,
            format!("unknown command '{other}' (expected run, ab or trace)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&v)
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn err(args: &[&str]) -> (Topic, String) {
        let u = p(args).unwrap_err();
        (u.topic, u.msg)
    }

    #[test]
    fn top_level() {
        assert_eq!(p(&["-h"]), Ok(Command::Help(Topic::Main)));
        assert_eq!(p(&["--help"]), Ok(Command::Help(Topic::Main)));
        assert_eq!(p(&["help"]), Ok(Command::Help(Topic::Main)));
        assert_eq!(p(&["help", "ab"]), Ok(Command::Help(Topic::Ab)));
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(err(&[]).0, Topic::Main);
        assert!(err(&["frobnicate"])
            .1
            .contains("unknown command 'frobnicate'"));
    }

    #[test]
    fn run_options_then_program() {
        assert_eq!(
            p(&[
                "run",
                "--stats",
                "--engine=seed",
                "--",
                "prog",
                "-x",
                "--stats"
            ]),
            Ok(Command::Run {
                preload: Preload {
                    stats: true,
                    engine: Some(Engine::Seed)
                },
                prog: os(&["prog", "-x", "--stats"]),
            })
        );
        // Without `--`, the first non-option starts the program; its options are its own.
        assert_eq!(
            p(&["run", "--engine", "multipass", "prog", "--help"]),
            Ok(Command::Run {
                preload: Preload {
                    stats: false,
                    engine: Some(Engine::MultiPass)
                },
                prog: os(&["prog", "--help"]),
            })
        );
        assert_eq!(p(&["run", "-h"]), Ok(Command::Help(Topic::Run)));
        assert_eq!(p(&["run", "--", "-h"]).map(|_| ()), Ok(()));
    }

    #[test]
    fn run_errors() {
        assert_eq!(err(&["run"]), (Topic::Run, "missing PROG".into()));
        assert_eq!(err(&["run", "--"]), (Topic::Run, "missing PROG".into()));
        assert!(err(&["run", "--engine=fast", "x"])
            .1
            .contains("unknown engine 'fast'"));
        assert!(err(&["run", "--engine"]).1.contains("needs a value"));
        assert!(err(&["run", "--stats=1", "x"]).1.contains("takes no value"));
        assert!(err(&["run", "-q", "x"]).1.contains("unknown option '-q'"));
        assert!(err(&["run", "--bogus", "x"])
            .1
            .contains("unknown option '--bogus'"));
    }

    #[test]
    fn ab() {
        assert_eq!(
            p(&["ab", "--", "build/stress", "-d", "1"]),
            Ok(Command::Ab {
                runs: 3,
                quiet: false,
                verbose: false,
                engine: None,
                prog: os(&["build/stress", "-d", "1"]),
            })
        );
        assert_eq!(
            p(&["ab", "-qn5", "-v", "prog"]),
            Ok(Command::Ab {
                runs: 5,
                quiet: true,
                verbose: true,
                engine: None,
                prog: os(&["prog"]),
            })
        );
        assert!(matches!(
            p(&["ab", "-n", "7", "x"]),
            Ok(Command::Ab { runs: 7, .. })
        ));
        assert!(matches!(
            p(&["ab", "--runs=2", "x"]),
            Ok(Command::Ab { runs: 2, .. })
        ));
        assert!(err(&["ab", "-n", "0", "x"]).1.contains("from 1 to 1000"));
        assert!(err(&["ab", "-n", "many", "x"]).1.contains("not 'many'"));
        assert_eq!(err(&["ab", "-n", "2"]).1, "missing PROG");
    }

    #[test]
    fn trace_and_dump() {
        assert_eq!(
            p(&["trace", "-o", "/tmp/t", "--", "prog", "a"]),
            Ok(Command::Trace {
                output: PathBuf::from("/tmp/t"),
                preload: Preload::default(),
                prog: os(&["prog", "a"]),
            })
        );
        assert!(matches!(
            p(&["trace", "-o/tmp/t", "prog"]),
            Ok(Command::Trace { .. })
        ));
        assert!(matches!(
            p(&["trace", "--output=/tmp/t", "--engine=seed", "prog"]),
            Ok(Command::Trace {
                preload: Preload {
                    engine: Some(Engine::Seed),
                    ..
                },
                ..
            })
        ));
        assert_eq!(
            p(&["trace", "--dump", "/tmp/t"]),
            Ok(Command::Dump {
                file: PathBuf::from("/tmp/t"),
                file_order: false
            })
        );
        assert_eq!(
            p(&["trace", "--file-order", "--dump=/tmp/t"]),
            Ok(Command::Dump {
                file: PathBuf::from("/tmp/t"),
                file_order: true
            })
        );
        assert!(err(&["trace", "prog"]).1.contains("missing -o"));
        assert!(err(&["trace", "-o", "f"]).1.contains("missing PROG"));
        assert!(err(&["trace", "--dump", "f", "-o", "g"])
            .1
            .contains("cannot be combined"));
        assert!(err(&["trace", "--dump", "f", "prog"])
            .1
            .contains("not a program"));
        assert!(err(&["trace", "--dump"]).1.contains("needs a value"));
        assert_eq!(p(&["trace", "--help"]), Ok(Command::Help(Topic::Trace)));
    }
}
