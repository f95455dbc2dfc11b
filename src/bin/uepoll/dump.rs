//! `uepoll trace --dump FILE`: one line per record.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use crate::error;
use crate::trace_format::*;

/// The records of a trace file, and what the reader had to say about it.
#[derive(Debug)]
pub struct Trace {
    pub header: Header,
    pub records: Vec<Record>,
    /// Bytes at the end that do not make a whole record.
    pub trailing: usize,
}

/// Decode a whole file.
pub fn parse(bytes: &[u8]) -> Result<Trace, String> {
    let Some(header) = Header::from_bytes(bytes) else {
        return Err("not a uepoll trace (no UEPTRACE header)".into());
    };
    if header.version != VERSION {
        return Err(format!(
            "trace format version {} (this uepoll reads version {VERSION})",
            header.version
        ));
    }
    if header.record_size as usize != RECORD_SIZE {
        return Err(format!(
            "record size {} (expected {RECORD_SIZE})",
            header.record_size
        ));
    }
    let body = &bytes[RECORD_SIZE..];
    let records = body
        .chunks_exact(RECORD_SIZE)
        .filter(|c| Header::from_bytes(c).is_none()) // a second writer's header
        .filter_map(Record::from_bytes)
        .collect();
    Ok(Trace {
        header,
        records,
        trailing: body.len() % RECORD_SIZE,
    })
}

const EVENT_BITS: &[(u32, &str)] = &[
    (0x001, "IN"),
    (0x002, "PRI"),
    (0x004, "OUT"),
    (0x008, "ERR"),
    (0x010, "HUP"),
    (0x020, "NVAL"),
    (0x040, "RDNORM"),
    (0x080, "RDBAND"),
    (0x100, "WRNORM"),
    (0x200, "WRBAND"),
    (0x400, "MSG"),
    (0x2000, "RDHUP"),
    (1 << 28, "EXCLUSIVE"),
    (1 << 29, "WAKEUP"),
    (1 << 30, "ONESHOT"),
    (1 << 31, "ET"),
];

/// Epoll event bits by name, `IN|ET`; unknown bits in hex; `0` for none.
pub fn events(bits: u32) -> String {
    if bits == 0 {
        return "0".into();
    }
    let mut out = String::new();
    let mut rest = bits;
    for &(bit, name) in EVENT_BITS {
        if bits & bit != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "{rest:#x}");
    }
    out
}

fn errno_name(e: i64) -> String {
    let name = match e as i32 {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::ELOOP => "ELOOP",
        libc::ENOSYS => "ENOSYS",
        _ => return format!("errno {e}"),
    };
    name.into()
}

/// A call's result: the value, or `-1 ENAME` for `-errno`.
fn result(raw: u64) -> String {
    let r = raw as i64;
    if r < 0 {
        format!("-1 {}", errno_name(-r))
    } else {
        r.to_string()
    }
}

fn duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.3}ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1}us", ns as f64 / 1e3)
    } else {
        format!("{ns}ns")
    }
}

fn timeout(raw: u64) -> String {
    let t = raw as i64;
    if t < 0 {
        "inf".into()
    } else if t % 1_000_000 == 0 {
        format!("{}ms", t / 1_000_000)
    } else {
        duration(t as u64)
    }
}

fn op_name(op: u8) -> String {
    match op {
        1 => "ADD".into(),
        2 => "DEL".into(),
        3 => "MOD".into(),
        other => format!("op{other}"),
    }
}

fn call_name(call: u8) -> &'static str {
    match call {
        CALL_WAIT => "epoll_wait",
        CALL_PWAIT => "epoll_pwait",
        CALL_PWAIT2 => "epoll_pwait2",
        _ => "wait?",
    }
}

fn variant_name(v: u8) -> &'static str {
    match v {
        VARIANT_SINGLEPASS => "singlepass",
        VARIANT_SEED => "seed",
        VARIANT_MULTIPASS => "multipass",
        _ => "?",
    }
}

fn outcome_name(o: u8) -> &'static str {
    match o {
        CB_QUEUED => "queued",
        CB_LINKED => "merged (already linked)",
        CB_DEAD => "ignored (removed)",
        CB_DISARMED => "ignored (oneshot disarmed)",
        CB_FILTERED => "ignored (not of interest)",
        _ => "?",
    }
}

fn why_name(sub: u8) -> String {
    Why::from_sub(sub).map_or(format!("why{sub}"), |w| w.name().to_string())
}

fn kind_name(kind: u8) -> String {
    match kind {
        KIND_START => "start".into(),
        KIND_CTL => "ctl".into(),
        KIND_WAIT => "wait".into(),
        KIND_WAIT_RET => "wait-ret".into(),
        KIND_CALLBACK => "callback".into(),
        KIND_TRANSFER => "transfer".into(),
        KIND_LOST => "lost".into(),
        KIND_EXIT => "exit".into(),
        KIND_DEMOTE => "demote".into(),
        KIND_KERNEL_ONLY => "kernel-only".into(),
        KIND_PROMOTE => "promote".into(),
        other => format!("kind{other}"),
    }
}

/// Numbers engine instances (`ep=1`, `ep=2`, ...) per process, and remembers the epfd that
/// ctl and wait records tie each one to.
#[derive(Default)]
struct Instances {
    names: HashMap<(u32, u64), (usize, Option<u32>)>,
}

impl Instances {
    fn see(&mut self, pid: u32, id: u64, epfd: Option<u32>) -> String {
        if id == 0 {
            return String::new();
        }
        let next = self.names.len() + 1;
        let entry = self.names.entry((pid, id)).or_insert((next, None));
        if epfd.is_some() {
            entry.1 = epfd;
        }
        match (epfd, entry.1) {
            (None, Some(fd)) => format!(" epfd={fd} ep={}", entry.0),
            _ => format!(" ep={}", entry.0),
        }
    }
}

/// The fields of one record, after its kind.
fn fields(r: &Record, inst: &mut Instances) -> String {
    match r.kind {
        KIND_START => {
            let how = if r.sub == START_FORK { "fork" } else { "exec" };
            let parent = if r.sub == START_FORK {
                "parent"
            } else {
                "ppid"
            };
            format!(
                "{how} comm={} {parent}={} engine={}",
                unpack_name(r.d, r.e),
                r.a,
                variant_name(r.b as u8)
            )
        }
        KIND_CTL => {
            let mut s = format!("epfd={} {} fd={}", r.a as i32, op_name(r.sub), r.b as i32);
            if r.sub != 2 {
                let _ = write!(s, " events={} data={:#x}", events(r.c), r.d);
            }
            let _ = write!(
                s,
                " -> {} {}",
                result(r.e),
                if r.flags & CTL_ENGINE != 0 {
                    "engine"
                } else {
                    "kernel"
                }
            );
            s + &inst.see(r.pid, r.g, Some(r.a))
        }
        KIND_WAIT => format!(
            "epfd={} maxevents={} timeout={} {}{}",
            r.a as i32,
            r.b as i32,
            timeout(r.e),
            call_name(r.sub),
            inst.see(r.pid, r.g, Some(r.a))
        ),
        KIND_WAIT_RET => format!(
            "epfd={} -> {} after {} {}{}",
            r.a as i32,
            result(r.e),
            duration(r.f),
            call_name(r.sub),
            inst.see(r.pid, r.g, Some(r.a))
        ),
        KIND_CALLBACK => format!(
            "{} fd={} key={} events={} data={:#x} {}{}",
            inst.see(r.pid, r.g, None).trim_start(),
            r.a as i32,
            if r.b == 0 { "ALL".into() } else { events(r.b) },
            events(r.c),
            r.d,
            outcome_name(r.sub),
            if r.flags & CB_EWAKE != 0 {
                " ewake"
            } else {
                ""
            }
        ),
        KIND_TRANSFER => format!(
            "{} spliced={} processed={} delivered={} requeued={} maxevents={} left={} {}",
            inst.see(r.pid, r.g, None).trim_start(),
            r.a,
            r.b,
            r.c,
            r.d,
            r.e,
            r.f,
            variant_name(r.sub)
        ),
        KIND_LOST => format!("{} record(s) dropped before this point", r.d),
        KIND_EXIT => "exit()".into(),
        KIND_DEMOTE => format!(
            "fd={} registrations={} why={}",
            r.a as i32,
            r.b,
            why_name(r.sub)
        ),
        KIND_KERNEL_ONLY => format!(
            "epfd={}{} why={}",
            r.a as i32,
            inst.see(r.pid, r.g, Some(r.a)),
            why_name(r.sub)
        ),
        KIND_PROMOTE => {
            let what = if r.g == 0 {
                format!("fd={}", r.a as i32)
            } else {
                format!("epfd={}{}", r.a as i32, inst.see(r.pid, r.g, Some(r.a)))
            };
            let cause = match r.flags {
                PROMOTE_CHILD_EXEC => "child exec'd",
                PROMOTE_CHILD_EXIT => "child exited",
                _ => "?",
            };
            format!(
                "{what} registrations={} was={} after={cause}",
                r.b,
                why_name(r.sub)
            )
        }
        _ => format!(
            "sub={} flags={:#x} a={:#x} b={:#x} c={:#x} d={:#x} e={:#x} f={:#x} g={:#x}",
            r.sub, r.flags, r.a, r.b, r.c, r.d, r.e, r.f, r.g
        ),
    }
}

/// `seconds.nanoseconds` from `start`, signed.
fn rel_time(t: u64, start: u64) -> String {
    let (sign, d) = if t >= start {
        (" ", t - start)
    } else {
        ("-", start - t)
    };
    format!("{sign}{}.{:09}", d / 1_000_000_000, d % 1_000_000_000)
}

/// The dump of a parsed trace, as lines (sorted by time unless `file_order`).
pub fn render(trace: &Trace, file_order: bool, mut out: impl Write) -> std::io::Result<()> {
    let mut records: Vec<&Record> = trace.records.iter().collect();
    if !file_order {
        records.sort_by_key(|r| r.time); // stable: a thread's own order is kept
    }
    let first = records.iter().map(|r| r.time).min().unwrap_or(0);
    let start = match trace.header.start {
        0 => first,
        s => s.min(first),
    };
    let last = records.iter().map(|r| r.time).max().unwrap_or(start);
    let mut pids: Vec<u32> = records.iter().map(|r| r.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    let mut tids: Vec<(u32, u32)> = records.iter().map(|r| (r.pid, r.tid)).collect();
    tids.sort_unstable();
    tids.dedup();
    writeln!(
        out,
        "# uepoll trace v{}: {} records, {} process{}, {} thread{}, {} s",
        trace.header.version,
        records.len(),
        pids.len(),
        if pids.len() == 1 { "" } else { "es" },
        tids.len(),
        if tids.len() == 1 { "" } else { "s" },
        rel_time(last, start).trim_start()
    )?;
    writeln!(
        out,
        "# {:>14} {:>7} {:>7} {:<9} fields",
        "seconds", "pid", "tid", "kind"
    )?;
    let mut inst = Instances::default();
    for r in records {
        writeln!(
            out,
            "{:>16} {:>7} {:>7} {:<9} {}",
            rel_time(r.time, start),
            r.pid,
            r.tid,
            kind_name(r.kind),
            fields(r, &mut inst)
        )?;
    }
    Ok(())
}

pub fn dump(file: &Path, file_order: bool) -> i32 {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            error(format!("{}: {e}", file.display()));
            return 1;
        }
    };
    let trace = match parse(&bytes) {
        Ok(t) => t,
        Err(e) => {
            error(format!("{}: {e}", file.display()));
            return 1;
        }
    };
    if trace.trailing != 0 {
        error(format!(
            "warning: {}: {} bytes at the end are not a whole record (cut short?)",
            file.display(),
            trace.trailing
        ));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match render(&trace, file_order, &mut out).and_then(|()| out.flush()) {
        Ok(()) => 0,
        // `uepoll trace --dump f | head`: the reader went away, nothing is wrong.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            error(format!("writing the dump: {e}"));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        let base = Record {
            time: 1_000_000_000,
            pid: 100,
            tid: 101,
            ..Record::default()
        };
        let (lo, hi) = pack_name(b"bench-wait");
        vec![
            Record {
                kind: KIND_START,
                sub: START_EXEC,
                a: 99,
                d: lo,
                e: hi,
                ..base
            },
            Record {
                time: base.time + 10,
                kind: KIND_CTL,
                sub: 1,
                flags: CTL_ENGINE,
                a: 4,
                b: 6,
                c: 0x8000_0001,
                d: 6,
                e: 0,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 20,
                kind: KIND_CTL,
                sub: 2,
                a: 4,
                b: 9,
                e: (-(libc::ENOENT as i64)) as u64,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 30,
                tid: 102,
                kind: KIND_CALLBACK,
                sub: CB_QUEUED,
                a: 6,
                b: 0x41,
                c: 0x8000_0001,
                d: 6,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 40,
                kind: KIND_WAIT,
                sub: CALL_WAIT,
                a: 4,
                b: 64,
                e: u64::MAX,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 50,
                kind: KIND_TRANSFER,
                sub: VARIANT_SINGLEPASS,
                a: 1,
                b: 1,
                c: 1,
                d: 0,
                e: 64,
                f: 0,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 1_500,
                kind: KIND_WAIT_RET,
                sub: CALL_WAIT,
                a: 4,
                b: 64,
                e: 1,
                f: 1_460,
                g: 0xdead0,
                ..base
            },
        ]
    }

    fn file(records: &[Record]) -> Vec<u8> {
        let mut bytes = Header::new(999_999_000, 100).to_bytes().to_vec();
        for r in records {
            bytes.extend_from_slice(&r.to_bytes());
        }
        bytes
    }

    #[test]
    fn records_round_trip() {
        let records = sample();
        for r in &records {
            assert_eq!(Record::from_bytes(&r.to_bytes()), Some(*r));
        }
        let all_ones = Record {
            time: u64::MAX,
            pid: u32::MAX,
            tid: u32::MAX,
            kind: u8::MAX,
            sub: u8::MAX,
            flags: u16::MAX,
            a: u32::MAX,
            b: u32::MAX,
            c: u32::MAX,
            d: u64::MAX,
            e: u64::MAX,
            f: u64::MAX,
            g: u64::MAX,
        };
        assert_eq!(Record::from_bytes(&all_ones.to_bytes()), Some(all_ones));
        assert_eq!(Record::from_bytes(&[0u8; RECORD_SIZE - 1]), None);
        let h = Header::new(123, 45);
        assert_eq!(Header::from_bytes(&h.to_bytes()), Some(h));
        assert_eq!(
            unpack_name(pack_name(b"bench-wait").0, pack_name(b"bench-wait").1),
            "bench-wait"
        );
        assert_eq!(
            unpack_name(
                pack_name(b"0123456789abcdefXYZ").0,
                pack_name(b"0123456789abcdefXYZ").1
            ),
            "0123456789abcdef"
        );

        let mut bytes = file(&records);
        // A second writer's header in the middle is skipped; a cut-off tail is reported.
        bytes.extend_from_slice(&Header::new(0, 7).to_bytes());
        bytes.extend_from_slice(&[1, 2, 3]);
        let t = parse(&bytes).unwrap();
        assert_eq!(t.records, records);
        assert_eq!(t.trailing, 3);
        assert_eq!(t.header.pid, 100);
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(parse(b"").unwrap_err().contains("no UEPTRACE header"));
        assert!(parse(&[0u8; 128])
            .unwrap_err()
            .contains("no UEPTRACE header"));
        let mut h = Header::new(0, 1);
        h.version = 99;
        assert!(parse(&h.to_bytes()).unwrap_err().contains("version 99"));
    }

    #[test]
    fn dump_lines() {
        let t = parse(&file(&sample())).unwrap();
        let mut out = Vec::new();
        render(&t, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# uepoll trace v1: 7 records, 1 process, 2 threads"));
        let want = [
            ("0.000001000", "start", "exec comm=bench-wait ppid=99 engine=singlepass"),
            ("0.000001010", "ctl", "epfd=4 ADD fd=6 events=IN|ET data=0x6 -> 0 engine ep=1"),
            ("0.000001020", "ctl", "epfd=4 DEL fd=9 -> -1 ENOENT kernel ep=1"),
            ("0.000001030", "callback", "epfd=4 ep=1 fd=6 key=IN|RDNORM events=IN|ET data=0x6 queued"),
            ("0.000001040", "wait", "epfd=4 maxevents=64 timeout=inf epoll_wait ep=1"),
            ("0.000001050", "transfer", "epfd=4 ep=1 spliced=1 processed=1 delivered=1 requeued=0 maxevents=64 left=0 singlepass"),
            ("0.000002500", "wait-ret", "epfd=4 -> 1 after 1.5us epoll_wait ep=1"),
        ];
        for (line, (time, kind, fields)) in lines[2..].iter().zip(want) {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[0], time, "{line}");
            assert_eq!(words[3], kind, "{line}");
            assert_eq!(words[4..].join(" "), fields, "{line}");
        }
        assert_eq!(lines.len(), 2 + 7);
        assert_eq!(events(0x2019), "IN|ERR|HUP|RDHUP");
        assert_eq!(events(0x0800_0000), "0x8000000");
    }

    /// The hand-over records: a demotion, an instance becoming kernel-only, and the
    /// promotion record (written by the promotion code) of an instance and of a file.
    #[test]
    fn dump_handover_lines() {
        let base = Record {
            time: 1_000_000_000,
            pid: 100,
            tid: 101,
            ..Record::default()
        };
        let records = vec![
            Record {
                kind: KIND_DEMOTE,
                sub: Why::Spawn as u8,
                a: 7,
                b: 2,
                ..base
            },
            Record {
                time: base.time + 10,
                kind: KIND_KERNEL_ONLY,
                sub: Why::Fork as u8,
                a: 4,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 20,
                kind: KIND_PROMOTE,
                sub: Why::Fork as u8,
                flags: PROMOTE_CHILD_EXEC,
                a: 4,
                b: 3,
                g: 0xdead0,
                ..base
            },
            Record {
                time: base.time + 30,
                kind: KIND_PROMOTE,
                sub: Why::Spawn as u8,
                flags: PROMOTE_CHILD_EXIT,
                a: 7,
                b: 1,
                ..base
            },
            Record {
                time: base.time + 40,
                kind: KIND_DEMOTE,
                sub: 200,
                a: 9,
                ..base
            },
        ];
        for r in &records {
            assert_eq!(Record::from_bytes(&r.to_bytes()), Some(*r));
        }
        let t = parse(&file(&records)).unwrap();
        let mut out = Vec::new();
        render(&t, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let want = [
            ("demote", "fd=7 registrations=2 why=spawn"),
            ("kernel-only", "epfd=4 ep=1 why=fork"),
            (
                "promote",
                "epfd=4 ep=1 registrations=3 was=fork after=child exec'd",
            ),
            (
                "promote",
                "fd=7 registrations=1 was=spawn after=child exited",
            ),
            ("demote", "fd=9 registrations=0 why=why200"),
        ];
        for (line, (kind, fields)) in lines[2..].iter().zip(want) {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[3], kind, "{line}");
            assert_eq!(words[4..].join(" "), fields, "{line}");
        }
        assert_eq!(lines.len(), 2 + records.len());
        for why in Why::ALL {
            assert_eq!(Why::from_sub(why as u8), Some(why));
        }
        assert_eq!(Why::from_sub(Why::ALL.len() as u8), None);
    }
}
