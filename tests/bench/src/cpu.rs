//! Where the CPU time of a load round goes: this process's threads by name (each component
//! that matters runs on its own named runtime) and the whole machine's busy time, so work
//! outside this process (PostgreSQL, other programs) shows as the remainder.

use std::collections::BTreeMap;
use std::fs;

/// Nanoseconds per clock tick of /proc/stat (USER_HZ is 100 on Linux).
const NS_PER_TICK: u64 = 10_000_000;

/// CPU counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct CpuSample {
    /// Nanoseconds on a CPU, summed per thread name.
    threads: BTreeMap<String, u64>,
    /// Busy and total nanoseconds of all cores since boot.
    machine_busy: u64,
    machine_total: u64,
}

/// CPU time between two samples, in seconds.
#[derive(Clone, Debug, Default)]
pub struct CpuSplit {
    /// Per component (see `CpuSample::split`), seconds on a CPU.
    pub components: BTreeMap<String, f64>,
    /// Seconds any core was busy, machine-wide, and all cores' seconds.
    pub machine_busy: f64,
    pub machine_total: f64,
}

impl CpuSplit {
    /// Adds another interval's times.
    pub fn add(&mut self, other: &CpuSplit) {
        for (name, secs) in &other.components {
            *self.components.entry(name.clone()).or_default() += secs;
        }
        self.machine_busy += other.machine_busy;
        self.machine_total += other.machine_total;
    }

    /// Busy time outside this process's threads (PostgreSQL, other programs).
    pub fn outside(&self) -> f64 {
        (self.machine_busy - self.components.values().sum::<f64>()).max(0.0)
    }

    /// Microseconds of CPU per call for each component, then "outside this process".
    pub fn per_call_us(&self, calls: u64) -> Vec<(String, f64)> {
        let per = |secs: f64| secs * 1e6 / calls.max(1) as f64;
        let mut out: Vec<(String, f64)> = self
            .components
            .iter()
            .map(|(name, secs)| (name.clone(), per(*secs)))
            .collect();
        out.push(("outside this process".into(), per(self.outside())));
        out
    }
}

impl CpuSample {
    /// Reads /proc now. Missing files read as zero (the split then says so by being empty).
    pub fn now() -> CpuSample {
        let mut threads = BTreeMap::new();
        if let Ok(tasks) = fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let path = task.path();
                let name = fs::read_to_string(path.join("comm")).unwrap_or_default();
                // schedstat: nanoseconds on a CPU, nanoseconds waiting, time slices.
                let on_cpu = fs::read_to_string(path.join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                    .unwrap_or(0);
                *threads.entry(name.trim().to_owned()).or_default() += on_cpu;
            }
        }
        let (machine_busy, machine_total) = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?;
                let ticks: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal (guest is inside user).
                let total: u64 = ticks.iter().take(8).sum();
                let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
                Some(((total - idle) * NS_PER_TICK, total * NS_PER_TICK))
            })
            .unwrap_or((0, 0));
        CpuSample {
            threads,
            machine_busy,
            machine_total,
        }
    }

    /// The time since `before`, with each thread name mapped to a component by `component`.
    pub fn since(&self, before: &CpuSample, component: impl Fn(&str) -> String) -> CpuSplit {
        let mut components = BTreeMap::new();
        for (name, ns) in &self.threads {
            let earlier = before.threads.get(name).copied().unwrap_or(0);
            *components.entry(component(name)).or_default() +=
                ns.saturating_sub(earlier) as f64 / 1e9;
        }
        CpuSplit {
            components,
            machine_busy: self.machine_busy.saturating_sub(before.machine_busy) as f64 / 1e9,
            machine_total: self.machine_total.saturating_sub(before.machine_total) as f64 / 1e9,
        }
    }
}

/// The thread name of the load generator's runtime in the figures that split CPU.
pub const LOAD_THREADS: &str = "bench-load";

/// CPU of some load rounds and the calls they made, per call.
#[derive(Default)]
pub struct CallCpu {
    pub split: CpuSplit,
    pub calls: u64,
}

impl CallCpu {
    pub fn us(&self, component: &str) -> f64 {
        self.split.components.get(component).copied().unwrap_or(0.0) * 1e6
            / self.calls.max(1) as f64
    }
    pub fn total_us(&self) -> f64 {
        self.split.machine_busy * 1e6 / self.calls.max(1) as f64
    }
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .split
            .per_call_us(self.calls)
            .into_iter()
            .filter(|(_, us)| *us >= 0.05)
            .map(|(name, us)| format!("{name} {us:.1}"))
            .collect();
        format!(
            "{:.1} µs of CPU per call: {} (cores busy {:.0} %)",
            self.total_us(),
            parts.join(", "),
            100.0 * self.split.machine_busy / self.split.machine_total.max(1e-9)
        )
    }
}

/// A runtime of two workers with named threads, shut down without blocking when dropped (the
/// figure runs inside the benchmark's own runtime).
pub struct Named(Option<tokio::runtime::Runtime>);

impl Named {
    pub fn new(name: &str) -> anyhow::Result<Named> {
        Ok(Named(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()?,
        )))
    }
    pub fn handle(&self) -> anyhow::Result<tokio::runtime::Handle> {
        self.0
            .as_ref()
            .map(|rt| rt.handle().clone())
            .ok_or_else(|| anyhow::anyhow!("runtime already shut down"))
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's user + system CPU time in clock ticks (1/100 s), from /proc.
    fn own_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // stat fields 14 and 15 (utime, stime); the text after the name starts at field 3.
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        tick(11) + tick(12)
    }

    #[test]
    fn busy_threads_show_up_under_their_component() {
        let before = CpuSample::now();
        let worker = std::thread::Builder::new()
            .name("cpu-test-spin".into())
            .spawn(|| {
                // Spin until this thread has had 50 ms of CPU (not of wall time: on a loaded
                // machine the scheduler may give it far less), or give up after 10 s.
                let started = std::time::Instant::now();
                let mut x = 0_u64;
                while own_cpu_ticks() < 5 && started.elapsed() < std::time::Duration::from_secs(10)
                {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(31).wrapping_add(7);
                    }
                }
                std::hint::black_box(x);
                // Sample while the thread still exists: a finished thread leaves /proc.
                CpuSample::now()
            })
            .expect("spawn");
        let after = worker.join().expect("join");
        let split = after.since(&before, |name| {
            if name == "cpu-test-spin" {
                "spin"
            } else {
                "rest"
            }
            .to_owned()
        });
        let spin = split.components.get("spin").copied().unwrap_or(0.0);
        assert!(spin > 0.02, "a 50 ms spin shows at least 20 ms, got {spin}");
        assert!(split.machine_total >= split.machine_busy);
        let per_call = split.per_call_us(10);
        assert_eq!(
            per_call.last().map(|(n, _)| n.as_str()),
            Some("outside this process")
        );
    }
}
