//! Import speed: `dealdesk import generic` of a large generated export, its wall time, rows per
//! second and peak memory (the process's `VmHWM`), on a fresh database per engine.
//!
//! ```text
//! cargo bench --bench import                               # 1,000,000 deals, SQLite
//! cargo bench --bench import -- --deals 100000 --engines sqlite,postgres
//! ```
//!
//! The export is the generic CSV (README, "Importing history"): one deals row per deal and three
//! stage-history rows per deal (created in problem-recognized, moved to solution-exploring,
//! then closed won or lost; one deal in eleven still open), 50 owners named by e-mail, dates
//! over the last three years. The database gets the owners and the SMB template pipeline first
//! (not timed). PostgreSQL runs in a database made for the run on `DEALDESK_BENCH_POSTGRES_URL`
//! (else `DEALDESK_TEST_POSTGRES_URL`, else the local server), dropped after.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ScratchDatabase, arg, peak_mib};
use dealdesk::app::App;
use dealdesk::app::ports::Created;
use dealdesk::domain::directory::{Role, UserDraft};
use dealdesk::domain::templates;
use dealdesk::startup;

const OWNERS: usize = 50;

/// Writes the export for `deals` deals into `dir`: (deals file, history file, rows written).
fn write_export(dir: &Path, deals: usize) -> (PathBuf, PathBuf, usize) {
    let (deals_path, history_path) = (dir.join("deals.csv"), dir.join("stage_history.csv"));
    let mut d = std::io::BufWriter::new(std::fs::File::create(&deals_path).unwrap());
    let mut h = std::io::BufWriter::new(std::fs::File::create(&history_path).unwrap());
    writeln!(
        d,
        "external_id,name,account,owner,stage,amount,currency,close_date,created_at,lead_source"
    )
    .unwrap();
    writeln!(h, "external_id,stage,changed_at,amount,close_date").unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2023, 12, 1).unwrap();
    let mut rows = 0;
    // A fixed linear congruential sequence: the same file every run.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % n
    };
    for i in 0..deals {
        let created = start + chrono::Duration::days(next(900) as i64);
        let explored = created + chrono::Duration::days(1 + next(30) as i64);
        let close = explored + chrono::Duration::days(1 + next(90) as i64);
        let amount = 1_000 + next(99_000);
        let owner = next(OWNERS as u64);
        let (stage, open) = match i % 11 {
            0 => ("solution-exploring", true),
            1..=4 => ("closed-won", false),
            _ => ("closed-lost", false),
        };
        let source = ["Inbound", "Outbound", "Referral"][next(3) as usize];
        writeln!(
            d,
            "B-{i},Deal {i},Account {a},owner{owner}@bench.example,{stage},{amount},USD,{close},{created}T09:00:00Z,{source}",
            a = i % 20_000,
        )
        .unwrap();
        writeln!(
            h,
            "B-{i},problem-recognized,{created}T09:00:00Z,{amount},{close}"
        )
        .unwrap();
        writeln!(
            h,
            "B-{i},solution-exploring,{explored}T09:00:00Z,{amount},{close}"
        )
        .unwrap();
        rows += 3;
        if !open {
            writeln!(h, "B-{i},{stage},{close}T17:00:00Z,{amount},{close}").unwrap();
            rows += 1;
        }
    }
    d.flush().unwrap();
    h.flush().unwrap();
    (deals_path, history_path, rows)
}

/// The owners and the SMB pipeline; its name.
async fn prepare(url: &str) -> String {
    let store = startup::open_store(url).await.unwrap();
    let app = App::new(store);
    for n in 0..OWNERS {
        let draft = UserDraft {
            display_name: format!("Owner {n}"),
            email: format!("owner{n}@bench.example"),
            role: Some(Role::Rep),
            manager_id: None,
            active: true,
        };
        app.create_user_as(None, draft, None, |_| Vec::new())
            .await
            .unwrap();
    }
    let Created::New(pipeline) = app
        .create_pipeline_as(None, templates::all()[0].clone(), None, |_| Vec::new())
        .await
        .unwrap()
    else {
        panic!("a new pipeline in a fresh database");
    };
    format!("pipelines/{}", pipeline.id)
}

fn main() {
    let deals: usize = arg("--deals").map_or(1_000_000, |n| n.parse().unwrap());
    let engines = arg("--engines").unwrap_or_else(|| "sqlite".into());
    let dir = std::env::temp_dir().join(format!("dealdesk-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let (deals_path, history_path, history_rows) = write_export(&dir, deals);
    let bytes = std::fs::metadata(&deals_path).unwrap().len()
        + std::fs::metadata(&history_path).unwrap().len();
    println!(
        "export: {deals} deals, {history_rows} history rows, {:.0} MiB, written in {:.1} s",
        bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "\n{:<10} {:>10} {:>12} {:>9} {:>12} {:>12} {:>10}",
        "engine", "deals", "rows", "seconds", "rows/s", "deals/s", "peak MiB"
    );
    for engine in engines.split(',') {
        let database = runtime.block_on(ScratchDatabase::new(engine));
        let url = database.url.clone();
        let pipeline = runtime.block_on(prepare(&url));
        let begun = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dealdesk"))
            .args(["--database-url", &url, "import", "generic", "--pipeline"])
            .arg(&pipeline)
            .arg("--deals")
            .arg(&deals_path)
            .arg("--history")
            .arg(&history_path)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut peak: f64 = 0.0;
        let status = loop {
            if let Some(mib) = peak_mib(child.id()) {
                peak = peak.max(mib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let seconds = begun.elapsed().as_secs_f64();
        let output = child.wait_with_output().unwrap();
        assert!(
            status.success(),
            "the import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows = deals + history_rows;
        println!(
            "{engine:<10} {deals:>10} {rows:>12} {seconds:>9.1} {:>12.0} {:>12.0} {peak:>10.0}",
            rows as f64 / seconds,
            deals as f64 / seconds,
        );
        runtime.block_on(database.remove());
    }
    std::fs::remove_dir_all(&dir).ok();
}
