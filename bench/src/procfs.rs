//! What `/proc` tells about a process (CPU time, resident memory) and about the machine.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` (Linux's `USER_HZ`, 100 everywhere in practice).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time of a process (every thread), in seconds, split as `/proc/<pid>/stat` splits it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Time in the process's own code (`utime`).
    pub user: f64,
    /// Time in the kernel on the process's behalf (`stime`): system calls, and the interrupts
    /// and network processing that ran while it did.
    pub system: f64,
}

impl CpuTimes {
    /// User and system time together.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Add for CpuTimes {
    type Output = CpuTimes;

    fn add(self, rhs: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user + rhs.user,
            system: self.system + rhs.system,
        }
    }
}

impl std::iter::Sum for CpuTimes {
    fn sum<I: Iterator<Item = CpuTimes>>(iter: I) -> CpuTimes {
        iter.fold(CpuTimes::default(), std::ops::Add::add)
    }
}

impl std::ops::Sub for CpuTimes {
    type Output = CpuTimes;

    fn sub(self, rhs: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - rhs.user,
            system: self.system - rhs.system,
        }
    }
}

/// CPU time (user + system, every thread) of process `pid` (`None`: this process), in seconds.
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    cpu_times(pid).total()
}

/// CPU time of process `pid` (`None`: this process), user and system apart; zero when it cannot
/// be read (the process is gone).
pub fn cpu_times(pid: Option<u32>) -> CpuTimes {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    std::fs::read_to_string(path)
        .map(|stat| parse_cpu_times(&stat))
        .unwrap_or_default()
}

/// `utime` and `stime` of one `/proc/<pid>/stat` line.
fn parse_cpu_times(stat: &str) -> CpuTimes {
    // the command name may hold spaces: the fields start after its closing parenthesis
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return CpuTimes::default();
    };
    // fields 14 and 15 of the line (utime, stime); `rest` starts at field 3
    let mut fields = rest.split_whitespace().skip(11);
    let mut ticks = || -> f64 {
        fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0) as f64
            / TICKS_PER_SEC
    };
    let user = ticks();
    CpuTimes {
        user,
        system: ticks(),
    }
}

/// Resident set size of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// This process's open-file limit (the soft one, which is what applies), from
/// `/proc/self/limits`.
pub fn open_file_limit() -> Option<u64> {
    soft_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft limit of the `Max open files` line of a `/proc/<pid>/limits` text.
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// The id of a running process whose command name is `comm` (such as `redis-server`).
pub fn find_process(comm: &str) -> Option<u32> {
    let dir = std::fs::read_dir("/proc").ok()?;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(c) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            if c.trim() == comm {
                return Some(pid);
            }
        }
    }
    None
}

/// CPU use over a window, of some servers and of the load generator itself.
#[derive(Debug, Clone)]
pub struct Meter {
    pids: Vec<u32>,
    start: Instant,
    server0: Vec<CpuTimes>,
    self0: f64,
    steal0: f64,
}

/// What a [`Meter`] measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Wall-clock time.
    pub wall: Duration,
    /// CPU seconds of the servers, added up.
    pub server_cpu: f64,
    /// The part of `server_cpu` spent in the kernel (system time).
    pub server_system: f64,
    /// The load generator's CPU time over the wall time (1.0 = one core busy).
    pub loadgen_share: f64,
    /// The machine's steal time over the wall time, in cores: how much of the window the
    /// hypervisor held this machine's cores back while they had work (see
    /// [`machine_steal_seconds`]).
    pub steal: f64,
}

impl Meter {
    /// Starts measuring the processes `pids`.
    pub fn start(pids: &[u32]) -> Meter {
        Meter {
            pids: pids.to_vec(),
            start: Instant::now(),
            server0: pids.iter().map(|p| cpu_times(Some(*p))).collect(),
            self0: cpu_seconds(None),
            steal0: machine_steal_seconds(),
        }
    }

    /// CPU use since [`Meter::start`].
    pub fn read(&self) -> Window {
        let wall = self.start.elapsed();
        let server: CpuTimes = self
            .pids
            .iter()
            .zip(&self.server0)
            .map(|(p, c0)| cpu_times(Some(*p)) - *c0)
            .sum();
        let secs = wall.as_secs_f64().max(1e-9);
        let own = cpu_seconds(None) - self.self0;
        Window {
            wall,
            server_cpu: server.total(),
            server_system: server.system,
            loadgen_share: own / secs,
            steal: (machine_steal_seconds() - self.steal0) / secs,
        }
    }
}

/// The machine, in one line: cores, CPU model, memory, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores (nproc), {model}, {mem_gib:.0} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// CPU seconds the whole machine has spent busy (every core: user, nice, system, irq, softirq,
/// steal), from `/proc/stat`.
pub fn machine_busy_seconds() -> f64 {
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    machine_seconds(&[0, 1, 2, 5, 6, 7])
}

/// CPU seconds the hypervisor gave to others while this machine's cores wanted to run (`steal`
/// in `/proc/stat`, every core): zero on bare metal.
pub fn machine_steal_seconds() -> f64 {
    machine_seconds(&[7])
}

/// The sum of some columns of the `cpu` line of `/proc/stat`, in seconds.
fn machine_seconds(columns: &[usize]) -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = columns
        .iter()
        .map(|i| f.get(*i).copied().unwrap_or(0))
        .sum::<u64>();
    ticks as f64 / TICKS_PER_SEC
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             95330                95330                processes\n\
                      Max open files            20000                40000                files\n";
        assert_eq!(soft_open_files(limits), Some(20_000));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_files(unlimited), Some(u64::MAX));
        assert_eq!(soft_open_files("Max processes 1 1 processes\n"), None);
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn splits_user_and_system_time() {
        // a command name with a space and a parenthesis, utime 250 and stime 75 ticks
        let stat = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 75 0 0 20 0 \
                    3 0 12345 1000000 500 18446744073709551615";
        let t = parse_cpu_times(stat);
        assert_eq!(
            t,
            CpuTimes {
                user: 2.5,
                system: 0.75
            }
        );
        assert_eq!(t.total(), 3.25);
        assert_eq!(parse_cpu_times("garbage"), CpuTimes::default());
    }
}
