//! Browser dashboards: gRPC-Web with CORS for the configured origins. A page served from
//! another origin calls GetForecast from headless Chromium (Debian's `chromium`); the preflight
//! rules are checked over raw HTTP/1.1.
//!
//! Without Chromium the browser test is skipped with a note, unless `DEALDESK_REQUIRE_BROWSER`
//! is set (`.ci/run` installs Chromium and sets it), where a missing browser fails.

use std::net::SocketAddr;
use std::process::Command;

use chrono::{Datelike, Utc};
use dealdesk::domain::directory::Role;
use dealdesk::proto as pb;
use dealdesk::startup::CorsOrigins;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::{template_pipeline, try_create_deal};
use crate::helpers::{Backend, TestApp, authed, person, spawn_app_with};

/// Serves `page` to every GET on `listener` (the dashboard's own origin).
fn serve_page(listener: TcpListener, page: String) {
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
}

/// A page that POSTs one gRPC-Web call (request bytes given as hex) and writes the HTTP status,
/// the grpc-status trailer and the response message (hex) into `#out`.
fn page(server: SocketAddr, token: &str, path: &str, request: &[u8]) -> String {
    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const hex = "{hex}";
const message = new Uint8Array(hex.length / 2);
for (let i = 0; i < message.length; i++) message[i] = parseInt(hex.substr(2 * i, 2), 16);
const frame = new Uint8Array(5 + message.length);
new DataView(frame.buffer).setUint32(1, message.length);
frame.set(message, 5);
fetch("http://{server}{path}", {{
  method: "POST",
  headers: {{
    "content-type": "application/grpc-web+proto",
    "x-grpc-web": "1",
    "authorization": "Bearer {token}"
  }},
  body: frame
}}).then(async (resp) => {{
  const body = new Uint8Array(await resp.arrayBuffer());
  let at = 0, reply = "", trailers = "";
  while (at + 5 <= body.length) {{
    const length = new DataView(body.buffer, at + 1, 4).getUint32(0);
    const data = body.slice(at + 5, at + 5 + length);
    if (body[at] & 0x80) trailers = new TextDecoder().decode(data);
    else reply = Array.from(data).map((b) => b.toString(16).padStart(2, "0")).join("");
    at += 5 + length;
  }}
  document.getElementById("out").textContent =
    "http=" + resp.status + ";trailers=" + trailers.trim().replace(/\r\n/g, ",") + ";reply=" + reply;
}}).catch((e) => {{ document.getElementById("out").textContent = "failed: " + e; }});
</script></body></html>"#
    )
}

/// What the page wrote into `#out`, after Chromium loaded it and ran its script.
fn run_chromium(url: &str) -> Option<String> {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ])
        .output();
    let output = match output {
        Ok(output) => output,
        Err(_) if std::env::var_os("DEALDESK_REQUIRE_BROWSER").is_some() => {
            panic!("chromium is required (DEALDESK_REQUIRE_BROWSER is set) but not installed")
        }
        Err(_) => {
            eprintln!("chromium not installed: browser test skipped");
            return None;
        }
    };
    let dom = String::from_utf8_lossy(&output.stdout).to_string();
    let start = dom.find("<pre id=\"out\">").expect("the page rendered") + 14;
    let end = dom[start..].find("</pre>").unwrap() + start;
    Some(dom[start..end].to_string())
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// A pipeline and an open deal closing this month, so the forecast has something in it.
async fn seed(app: &TestApp) {
    let rep = person(app, Role::Rep, None).await;
    let pipeline = template_pipeline(app, pb::Segment::Smb).await;
    let today = Utc::now().date_naive();
    try_create_deal(
        app,
        &rep.token,
        pb::Deal {
            display_name: "Browser-visible".into(),
            account: "Acme".into(),
            pipeline: pipeline.name,
            amount: Some(pb::Money {
                currency_code: "USD".into(),
                amount_minor: 12_345_600,
            }),
            close_date: Some(pb::google::r#type::Date {
                year: today.year(),
                month: today.month() as i32,
                day: today.day() as i32,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn a_dashboard_page_calls_get_forecast_over_grpc_web(backend: Backend) {
    // The dashboard's origin: `localhost`, while the API listens on 127.0.0.1 (another origin).
    let pages = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://localhost:{}", pages.local_addr().unwrap().port());
    let origins = CorsOrigins::parse(&[page_origin.as_str()]).unwrap();
    let Some(app) = spawn_app_with(backend, |a| a.with_cors_origins(origins)).await else {
        return eprintln!("PostgreSQL not configured: run skipped");
    };
    seed(&app).await;
    let today = Utc::now().date_naive();
    let request = pb::GetForecastRequest {
        period: format!("{}-{:02}", today.year(), today.month()),
        scope: "org".into(),
        ..Default::default()
    };
    let native = app
        .forecasts()
        .await
        .get_forecast(authed(&app.admin_token, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(native.totals.as_ref().unwrap().weighted_pipeline > 0);
    serve_page(
        pages,
        page(
            app.addr,
            &app.admin_token,
            "/dealdesk.v1.ForecastService/GetForecast",
            &request.encode_to_vec(),
        ),
    );
    let Some(out) = run_chromium(&format!("{page_origin}/")) else {
        return;
    };
    let fields: Vec<&str> = out.split(';').collect();
    assert_eq!(fields[0], "http=200", "page wrote {out:?}");
    assert!(fields[1].contains("grpc-status:0"), "page wrote {out:?}");
    let reply = fields[2].strip_prefix("reply=").unwrap();
    let forecast = pb::Forecast::decode(hex_decode(reply).as_slice()).unwrap();
    assert_eq!(forecast, native);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sqlite() {
    a_dashboard_page_calls_get_forecast_over_grpc_web(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_postgres() {
    a_dashboard_page_calls_get_forecast_over_grpc_web(Backend::Postgres).await;
}

/// The response headers of a CORS preflight from `origin`, lower-cased.
async fn preflight(server: SocketAddr, origin: &str) -> String {
    let mut socket = TcpStream::connect(server).await.unwrap();
    let request = format!(
        "OPTIONS /dealdesk.v1.ForecastService/GetForecast HTTP/1.1\r\nhost: {server}\r\n\
         origin: {origin}\r\naccess-control-request-method: POST\r\n\
         access-control-request-headers: authorization,content-type,x-grpc-web\r\n\
         connection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    response.to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_origins_pass_the_preflight() {
    let origins = CorsOrigins::parse(&["https://dash.example.com"]).unwrap();
    let app = spawn_app_with(Backend::Sqlite, |a| a.with_cors_origins(origins))
        .await
        .unwrap();
    let allowed = preflight(app.addr, "https://dash.example.com").await;
    assert!(allowed.starts_with("http/1.1 200"), "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://dash.example.com"),
        "{allowed}"
    );
    assert!(allowed.contains("authorization"), "{allowed}");
    let refused = preflight(app.addr, "https://evil.example.com").await;
    assert!(
        !refused.contains("access-control-allow-origin"),
        "{refused}"
    );
    // Origins are checked at start-up.
    for bad in [
        "dash.example.com",
        "https://dash.example.com/path",
        "ftp://x",
        "",
    ] {
        assert!(CorsOrigins::parse(&[bad]).is_err(), "{bad:?} accepted");
    }
}
