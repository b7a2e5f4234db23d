//! How the suite measures and reports: latencies taken in turns with their baseline, throughput
//! of concurrent workers, and the result rows (a table and `bench-suite.json`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::org::Load;

/// The target of a row that only gives a reference point.
pub const REFERENCE: &str = "none:";

/// One result row.
#[derive(Debug, serde::Serialize)]
pub struct Row {
    pub engine: String,
    pub operation: String,
    pub unit: &'static str,
    pub median: f64,
    pub p99: f64,
    pub baseline: f64,
    /// ours / baseline for times, ours / baseline for throughputs.
    pub ratio: f64,
    pub target: String,
    pub met: bool,
}

fn quantiles(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Milliseconds of `runs` calls each of `ours` and `baseline`, taking turns (one of ours, one
/// of the baseline), as (median, p99) each: a change in the machine's speed during the
/// measurement weighs on both alike rather than on whichever ran second. `warmup` calls of
/// each, taking turns too, go first, untimed: a server in service has used each of its pooled
/// connections (and the baseline its own) many times, and PostgreSQL plans a prepared
/// statement afresh on each of its first five executions on a connection, after loading the
/// tables' catalog entries into that connection's caches on the first (1.5 ms for a manager's
/// won sums on a fresh connection, 0.4 ms planned again, 0.2 ms with its generic plan), while
/// the pool hands its connections out in turn, so the first calls of a fresh server reach
/// fresh connections.
pub async fn time_in_turns_ms<F, Fut, T, G, Gut, U>(
    runs: usize,
    warmup: usize,
    mut ours: F,
    mut baseline: G,
) -> ((f64, f64), (f64, f64))
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
    G: FnMut() -> Gut,
    Gut: std::future::Future<Output = U>,
{
    for _ in 0..warmup {
        std::hint::black_box(ours().await);
        std::hint::black_box(baseline().await);
    }
    let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(ours().await);
        a.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        std::hint::black_box(baseline().await);
        b.push(start.elapsed().as_secs_f64() * 1e3);
    }
    (quantiles(a), quantiles(b))
}

/// Calls per second of `workers` tasks each running `call` in a loop for `window`; failed calls
/// are counted apart and reported.
pub async fn throughput<F, Fut>(workers: usize, window: Duration, call: F) -> (f64, u64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (call, ok, failed) = (call.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < deadline {
                if call(worker, i).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (
        ok.load(Ordering::Relaxed) as f64 / window.as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

pub fn push(
    rows: &mut Vec<Row>,
    engine: &str,
    operation: &str,
    unit: &'static str,
    (median, p99): (f64, f64),
    baseline: f64,
    target: (&str, bool),
) {
    let ratio = median / baseline.max(1e-9);
    rows.push(Row {
        engine: engine.into(),
        operation: operation.into(),
        unit,
        median,
        p99,
        baseline,
        ratio,
        target: target.0.into(),
        met: target.1,
    });
}

/// Prints the loads and the result rows as tables, then writes them as JSON to
/// `bench-suite.json` beside the build.
pub fn report(loads: &[Load], rows: &[Row]) {
    println!(
        "\n{:<10} {:>6} {:>9} {:>8} {:>10} {:>9} {:>11} {:>8} {:>10} {:>9}",
        "engine",
        "people",
        "deals",
        "open",
        "history",
        "requests",
        "rows",
        "load s",
        "rows/s",
        "size MiB"
    );
    for l in loads {
        println!(
            "{:<10} {:>6} {:>9} {:>8} {:>10} {:>9} {:>11} {:>8.1} {:>10.0} {:>9.0}",
            l.engine,
            l.people,
            l.deals,
            l.open_deals,
            l.stage_history,
            l.approval_requests,
            l.rows,
            l.seconds,
            l.rows_per_second,
            l.database_mib
        );
    }
    println!(
        "\n{:<10} {:<42} {:>12} {:>12} {:>12} {:>8}  target",
        "engine", "operation", "median", "p99", "baseline", "ratio"
    );
    for r in rows {
        println!(
            "{:<10} {:<42} {:>12.1} {:>12.1} {:>12.1} {:>7.2}x  {} {} ({})",
            r.engine,
            r.operation,
            r.median,
            r.p99,
            r.baseline,
            r.ratio,
            r.target,
            match (r.target == REFERENCE, r.met) {
                (true, _) => "for comparison",
                (false, true) => "met",
                (false, false) => "MISSED",
            },
            r.unit
        );
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "loads": loads,
        "results": rows,
    }))
    .unwrap();
    // Beside the build, wherever CARGO_TARGET_DIR puts it.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("bench-suite.json");
    // The table above is the result; a folder that cannot be written loses only the JSON.
    match std::fs::create_dir_all(&target).and_then(|()| std::fs::write(&path, json)) {
        Ok(()) => println!("\nwritten to {}", path.display()),
        Err(e) => eprintln!("\ncould not write {}: {e}", path.display()),
    }
}
