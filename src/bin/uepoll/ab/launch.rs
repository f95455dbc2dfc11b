//! One run: PROG with its output in a log file, stopped by a signal after a time or
//! when the client ends, escalating to SIGTERM and SIGKILL; the client started when
//! PROG is ready. Exits are watched through pidfds, so that one poll() waits for
//! PROG, the client and the next deadline at once, and a signal can never reach a
//! recycled pid.

use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Exit(i32),
    Signal(i32),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            End::Exit(c) => write!(f, "exit status {c}"),
            End::Signal(s) => write!(f, "killed by {}", signal_name(s)),
        }
    }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        _ => return format!("signal {sig}"),
    };
    format!("{name} (signal {sig})")
}

/// When the client may start.
#[derive(Clone, Copy, Debug)]
pub enum Ready {
    Port(u16),
    Delay(f64),
}

/// How long PROG has to become ready (--ready-port).
const READY_LIMIT: Duration = Duration::from_secs(30);

/// The running PROG's pidfd and the running client's process group, for the handler
/// of a signal that stops `uepoll ab` itself (-1: none).
static PROG_PIDFD: AtomicI32 = AtomicI32::new(-1);
static CLIENT_GROUP: AtomicI32 = AtomicI32::new(-1);

/// `uepoll ab` stopped by ^C (SIGINT), SIGTERM or SIGHUP: the client runs in a process
/// group of its own, which the terminal's ^C does not reach, and a SIGTERM sent to
/// `uepoll` alone reaches neither. Both get SIGTERM, then the signal takes its default
/// course (the shell sees `uepoll` killed by it). Only async-signal-safe calls.
extern "C" fn stop_children_and_die(sig: libc::c_int) {
    let group = CLIENT_GROUP.load(Ordering::SeqCst);
    if group > 0 {
        // SAFETY: our unreaped client's group (cleared before the reap).
        unsafe { libc::kill(-group, libc::SIGTERM) };
    }
    let pidfd = PROG_PIDFD.load(Ordering::SeqCst);
    if pidfd >= 0 {
        // SAFETY: a pidfd we hold open until the flag is cleared; no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd,
                libc::SIGTERM,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    // SAFETY: back to the default action, then the same signal again.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Clears the handler's view of this run's processes however `run` returns.
struct Forget;

impl Drop for Forget {
    fn drop(&mut self) {
        PROG_PIDFD.store(-1, Ordering::SeqCst);
        CLIENT_GROUP.store(-1, Ordering::SeqCst);
    }
}

/// Installs the handlers once per process. `ab::run` calls it before anything else
/// (its first placement probe comes before the first run), `run` again for callers
/// of its own: a stop signal must find them in place from the start, not only once a
/// run begins, or one sent that early is lost where the shell started `uepoll` with
/// SIGINT ignored (a background job of a script).
pub fn install_stop_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a plain extern "C" handler, installed with the libc wrapper.
            unsafe {
                libc::signal(
                    sig,
                    stop_children_and_die as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            };
        }
    });
}

pub struct Client<'a> {
    pub cmd: &'a str,
    pub ready: Ready,
    pub log: PathBuf,
    pub env: Vec<(&'static str, OsString)>,
}

pub struct Plan<'a> {
    pub path: &'a Path,
    pub prog: &'a [OsString],
    /// Variables to set in PROG's environment.
    pub env: Vec<(&'static str, OsString)>,
    /// Variables to remove from it.
    pub env_remove: Vec<&'static str>,
    pub log: PathBuf,
    pub duration: Option<f64>,
    pub signal: i32,
    pub grace: f64,
    pub client: Option<Client<'a>>,
}

pub struct Outcome {
    pub wall: f64,
    pub user: f64,
    pub sys: f64,
    pub end: End,
    /// The last signal uepoll sent PROG (SIG, SIGTERM or SIGKILL), if any.
    pub sent: Option<i32>,
    pub client_end: Option<End>,
    /// Why the run failed, beyond PROG's own exit (escalation, client trouble).
    pub problems: Vec<String>,
}

impl Outcome {
    /// PROG exited with 0, or through the stop signal uepoll sent it (killed by it, or
    /// the shell convention 128+SIG), with no escalation and a client that succeeded.
    pub fn ok(&self, signal: i32) -> bool {
        let prog_ok = match (self.end, self.sent) {
            (End::Exit(0), _) => true,
            (End::Signal(s), Some(sent)) => s == sent && sent == signal,
            (End::Exit(c), Some(sent)) => sent == signal && c == 128 + signal,
            _ => false,
        };
        prog_ok && self.problems.is_empty() && self.client_end.is_none_or(|e| e == End::Exit(0))
    }
}

fn pidfd_open(pid: libc::pid_t) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a descriptor the kernel just gave us, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Signal through a pidfd: an exited (even reaped) process gives ESRCH, never a
/// process that reused the number.
fn pidfd_signal(fd: &OwnedFd, sig: i32) {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

fn tv_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// Reap `pid` with its resource usage.
fn wait4(pid: libc::pid_t) -> std::io::Result<(End, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to our own locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    let end = if libc::WIFSIGNALED(status) {
        End::Signal(libc::WTERMSIG(status))
    } else {
        End::Exit(libc::WEXITSTATUS(status))
    };
    Ok((end, usage))
}

/// Wait until one of `fds` is readable (a pidfd is when its process has exited) or
/// `timeout` passes. Returns which are readable.
fn poll(fds: &[&OwnedFd], timeout: Option<Duration>) -> Vec<bool> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Round up, so that a deadline a fraction of a millisecond away is not polled
    // for in a busy loop.
    let ms = timeout.map_or(-1, |t| {
        t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
    });
    // SAFETY: p is a valid array of p.len() pollfds.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if r <= 0 {
        return vec![false; fds.len()];
    }
    p.iter().map(|x| x.revents != 0).collect()
}

fn log_file(path: &Path) -> std::io::Result<(Stdio, Stdio)> {
    let f = File::create(path)?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

enum ClientState {
    Waiting,
    Running { pid: libc::pid_t, fd: OwnedFd },
    Done,
}

/// Run the plan. Err: PROG could not be started (or its pidfd opened).
pub fn run(plan: &Plan, note: &mut dyn FnMut(String)) -> std::io::Result<Outcome> {
    install_stop_handlers();
    let (out, err) = log_file(&plan.log)?;
    let mut cmd = Command::new(plan.path);
    cmd.arg0(&plan.prog[0])
        .args(&plan.prog[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for v in &plan.env_remove {
        cmd.env_remove(v);
    }
    cmd.envs(plan.env.iter().map(|(k, v)| (k, v)));
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let fd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait4(pid);
            return Err(e);
        }
    };
    // Declared after `fd`, so dropped (and the handler's copy cleared) before it.
    let _forget = Forget;
    PROG_PIDFD.store(fd.as_raw_fd(), Ordering::SeqCst);
    let grace = Duration::from_secs_f64(plan.grace);
    let mut problems = Vec::new();
    let mut sent: Option<i32> = None;
    let mut stop_at = plan.duration.map(|d| start + Duration::from_secs_f64(d));
    let mut client = match plan.client {
        Some(_) => ClientState::Waiting,
        None => ClientState::Done,
    };
    let mut client_end = None;
    let (end, usage) = loop {
        let now = Instant::now();
        if stop_at.is_some_and(|t| t <= now) {
            let (sig, next) = match sent {
                None => (plan.signal, Some(now + grace)),
                Some(s) if s != libc::SIGTERM && s != libc::SIGKILL => {
                    note(format!(
                        "PROG has not exited {:.0} s after {}: sending SIGTERM",
                        plan.grace,
                        signal_name(s)
                    ));
                    problems.push(format!(
                        "did not exit after {}; sent SIGTERM",
                        signal_name(s)
                    ));
                    (libc::SIGTERM, Some(now + grace))
                }
                Some(s) if s == libc::SIGTERM => {
                    note(format!(
                        "PROG has not exited {:.0} s after SIGTERM: sending SIGKILL",
                        plan.grace
                    ));
                    problems.push("did not exit after SIGTERM; sent SIGKILL".into());
                    (libc::SIGKILL, None)
                }
                Some(_) => (libc::SIGKILL, None),
            };
            pidfd_signal(&fd, sig);
            sent = Some(sig);
            stop_at = next;
        }
        if let (ClientState::Waiting, Some(c)) = (&client, &plan.client) {
            let ready = match c.ready {
                Ready::Delay(d) => now >= start + Duration::from_secs_f64(d),
                Ready::Port(port) => TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_millis(200),
                )
                .is_ok(),
            };
            if ready {
                match spawn_client(c) {
                    Ok((pid, fd)) => {
                        client = ClientState::Running { pid, fd };
                    }
                    Err(e) => {
                        problems.push(format!("cannot start the client: {e}"));
                        client = ClientState::Done;
                        stop_at.get_or_insert(now);
                    }
                }
                continue;
            } else if now >= start + READY_LIMIT {
                if let Ready::Port(port) = c.ready {
                    problems.push(format!(
                        "PROG did not accept connections on 127.0.0.1:{port} within {} s",
                        READY_LIMIT.as_secs()
                    ));
                }
                client = ClientState::Done;
                stop_at.get_or_insert(now);
                continue;
            }
        }
        let mut timeout = stop_at.map(|t| t.saturating_duration_since(now));
        if let (ClientState::Waiting, Some(c)) = (&client, &plan.client) {
            let wait = match c.ready {
                Ready::Port(_) => Duration::from_millis(50),
                Ready::Delay(d) => {
                    (start + Duration::from_secs_f64(d)).saturating_duration_since(now)
                }
            };
            timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
        }
        let readable = match &client {
            ClientState::Running { fd: cfd, .. } => poll(&[&fd, cfd], timeout),
            _ => poll(&[&fd], timeout),
        };
        if readable[0] {
            PROG_PIDFD.store(-1, Ordering::SeqCst);
            break wait4(pid)?;
        }
        if readable.get(1) == Some(&true) {
            if let ClientState::Running { pid: cpid, .. } = client {
                CLIENT_GROUP.store(-1, Ordering::SeqCst);
                client_end = Some(wait4(cpid)?.0);
                client = ClientState::Done;
                // The client is done: stop PROG now (unless it is already stopping).
                if sent.is_none() {
                    stop_at = Some(Instant::now());
                }
            }
        }
    };
    let wall = start.elapsed().as_secs_f64();
    match client {
        ClientState::Running { pid: cpid, fd: cfd } => {
            problems.push(format!(
                "PROG ended ({}) while the client was still running; the client was stopped",
                display_end(end)
            ));
            client_end = Some(stop_group(cpid, &cfd, grace)?);
        }
        ClientState::Waiting => {
            problems.push(format!(
                "PROG ended ({}) before it was ready",
                display_end(end)
            ));
        }
        ClientState::Done => {}
    }
    Ok(Outcome {
        wall,
        user: tv_secs(usage.ru_utime),
        sys: tv_secs(usage.ru_stime),
        end,
        sent,
        client_end,
        problems,
    })
}

fn display_end(end: End) -> String {
    end.to_string()
}

/// Start the client through `sh -c` in its own process group (so that stopping it
/// reaches what it started), its output in its own log.
fn spawn_client(c: &Client) -> std::io::Result<(libc::pid_t, OwnedFd)> {
    let (out, err) = log_file(&c.log)?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(c.cmd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env_remove("LD_PRELOAD")
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .process_group(0);
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    CLIENT_GROUP.store(pid, Ordering::SeqCst);
    match pidfd_open(pid) {
        Ok(fd) => Ok((pid, fd)),
        Err(e) => {
            // SAFETY: our own child's group, not yet reaped.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            CLIENT_GROUP.store(-1, Ordering::SeqCst);
            let _ = wait4(pid);
            Err(e)
        }
    }
}

/// Stop a client's process group: SIGTERM, then SIGKILL after `grace`; reap it.
fn stop_group(pid: libc::pid_t, fd: &OwnedFd, grace: Duration) -> std::io::Result<End> {
    // SAFETY: pid is our unreaped child, so its group id is still ours to signal.
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    if !poll(&[fd], Some(grace))[0] {
        // SAFETY: as above.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    CLIENT_GROUP.store(-1, Ordering::SeqCst);
    Ok(wait4(pid)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(prog: &'a [OsString], log: PathBuf) -> Plan<'a> {
        Plan {
            path: Path::new("/bin/sh"),
            prog,
            env: Vec::new(),
            env_remove: Vec::new(),
            log,
            duration: None,
            signal: libc::SIGINT,
            grace: 0.5,
            client: None,
        }
    }

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn runs_stop_and_escalate() {
        let dir = std::env::temp_dir().join(format!("uepoll-launch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut notes = Vec::new();
        let mut note = |s: String| notes.push(s);

        // Ends by itself; output in the log.
        let prog = args(&["sh", "-c", "echo out; echo err >&2; exit 0"]);
        let o = run(&plan(&prog, dir.join("a")), &mut note).unwrap();
        assert_eq!((o.end, o.sent), (End::Exit(0), None));
        assert!(o.ok(libc::SIGINT));
        assert_eq!(
            std::fs::read_to_string(dir.join("a")).unwrap(),
            "out\nerr\n"
        );

        // Stopped by SIGINT after 0.2 s: a trap that exits 0.
        let prog = args(&[
            "sh",
            "-c",
            "trap 'echo got; exit 0' INT; while :; do sleep 0.05; done",
        ]);
        let mut p = plan(&prog, dir.join("b"));
        p.duration = Some(0.2);
        let o = run(&p, &mut note).unwrap();
        assert_eq!((o.end, o.sent), (End::Exit(0), Some(libc::SIGINT)));
        assert!(o.wall >= 0.2 && o.wall < 5.0, "{}", o.wall);
        assert!(o.ok(libc::SIGINT));

        // Ignores SIGINT: escalation to SIGTERM, and the run is not ok.
        let prog = args(&["sh", "-c", "trap '' INT; while :; do sleep 0.05; done"]);
        let mut p = plan(&prog, dir.join("c"));
        p.duration = Some(0.1);
        let o = run(&p, &mut note).unwrap();
        assert_eq!(o.sent, Some(libc::SIGTERM));
        assert_eq!(o.end, End::Signal(libc::SIGTERM));
        assert!(!o.ok(libc::SIGINT));
        assert!(
            notes.iter().any(|n| n.contains("sending SIGTERM")),
            "{notes:?}"
        );

        // A client: PROG is stopped when it ends, and the client's output is its own.
        let prog = args(&[
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 0.05; done",
        ]);
        let mut p = plan(&prog, dir.join("d"));
        p.signal = libc::SIGTERM;
        p.client = Some(Client {
            cmd: "echo \"client $UEPOLL_AB_RUN\"",
            ready: Ready::Delay(0.1),
            log: dir.join("d.client"),
            env: vec![("UEPOLL_AB_RUN", OsString::from("7"))],
        });
        let o = run(&p, &mut |_| {}).unwrap();
        assert_eq!(o.client_end, Some(End::Exit(0)));
        assert_eq!((o.end, o.sent), (End::Exit(0), Some(libc::SIGTERM)));
        assert!(o.ok(libc::SIGTERM));
        assert_eq!(
            std::fs::read_to_string(dir.join("d.client")).unwrap(),
            "client 7\n"
        );

        // PROG gone before it is ready: a problem, not a hang.
        let prog = args(&["sh", "-c", "exit 0"]);
        let mut p = plan(&prog, dir.join("e"));
        p.client = Some(Client {
            cmd: "true",
            ready: Ready::Port(1),
            log: dir.join("e.client"),
            env: Vec::new(),
        });
        let o = run(&p, &mut |_| {}).unwrap();
        assert!(!o.ok(libc::SIGINT));
        assert!(
            o.problems[0].contains("before it was ready"),
            "{:?}",
            o.problems
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
