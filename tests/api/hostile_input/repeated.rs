//! Repeated fields over their limit: one violation, refused before they take memory.

use super::*;

/// `count` empty elements of the repeated field `number`, after `prefix` (other fields).
fn with_empty_elements(prefix: Vec<u8>, number: u32, count: usize) -> Vec<u8> {
    let mut element = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut element);
    encode_varint(0, &mut element);
    let mut bytes = prefix;
    bytes.reserve(element.len() * count);
    for _ in 0..count {
        bytes.extend_from_slice(&element);
    }
    bytes
}

/// How many empty elements of field `number` fit in a message of nearly the limit.
fn near_limit(number: u32, prefix: usize) -> usize {
    let mut element = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut element);
    (LIMIT - prefix - 1024) / (element.len() + 1)
}

/// A PreviewApprovalRoute of ~2.1 million empty clauses.
fn preview_of_empty_clauses() -> (Vec<u8>, usize) {
    let prefix = pb::PreviewApprovalRouteRequest {
        deal: NO_DEAL.into(),
        ..Default::default()
    }
    .encode_to_vec();
    let count = near_limit(3, prefix.len());
    (with_empty_elements(prefix, 3, count), count)
}

/// A GetForecast of ~2.1 million empty snapshot names.
fn forecast_of_empty_snapshots() -> (Vec<u8>, usize) {
    let prefix = pb::GetForecastRequest {
        period: "2026-Q4".into(),
        scope: "org".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let count = near_limit(3, prefix.len());
    (with_empty_elements(prefix, 3, count), count)
}

/// An UpdateDeal of ~1.4 million empty contacts (the deal is field 1, its contacts field 17).
fn update_of_empty_contacts() -> (Vec<u8>, usize) {
    let deal_prefix = pb::Deal {
        name: NO_DEAL.into(),
        ..Default::default()
    }
    .encode_to_vec();
    let count = near_limit(17, deal_prefix.len() + 64);
    let deal = with_empty_elements(deal_prefix, 17, count);
    let mut bytes = Vec::with_capacity(deal.len() + 64);
    encode_key(1, WireType::LengthDelimited, &mut bytes);
    encode_varint(deal.len() as u64, &mut bytes);
    bytes.extend_from_slice(&deal);
    pb::UpdateDealRequest {
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["contacts".into()],
        }),
        ..Default::default()
    }
    .encode(&mut bytes)
    .unwrap();
    (bytes, count)
}

/// The one violation of an answer, as (field, description).
#[track_caller]
fn only_violation(status: &Status) -> (String, String) {
    assert_error(status, Code::InvalidArgument, "INVALID_ARGUMENT");
    let listed = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(listed.len(), 1, "{listed:?}");
    (listed[0].field.clone(), listed[0].description.clone())
}

contract_test!(
    a_repeated_field_over_its_limit_is_one_violation_whatever_its_length,
    |app| {
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;

        let (preview, clauses) = preview_of_empty_clauses();
        assert!(
            clauses > 2_000_000 && preview.len() < LIMIT,
            "{clauses} in {}",
            preview.len()
        );
        let status = call(
            &channel,
            "DealDeskService/PreviewApprovalRoute",
            &rep,
            preview,
        )
        .await
        .unwrap_err();
        assert_eq!(
            only_violation(&status),
            (
                "clauses".into(),
                format!("must have at most 50 clause codes, got {clauses}")
            )
        );

        let (forecast, names) = forecast_of_empty_snapshots();
        let status = call(&channel, "ForecastService/GetForecast", &rep, forecast)
            .await
            .unwrap_err();
        assert_eq!(
            only_violation(&status),
            (
                "snapshots".into(),
                format!("must have at most 100 snapshots, got {names}")
            )
        );

        let (update, contacts) = update_of_empty_contacts();
        assert!(contacts > 1_000_000 && update.len() < LIMIT);
        let status = call(&channel, "DealService/UpdateDeal", &rep, update)
            .await
            .unwrap_err();
        assert_eq!(
            only_violation(&status),
            (
                "deal.contacts".into(),
                format!("must have at most 100 contacts, got {contacts}")
            )
        );
    }
);

/// Resident bytes of this process (the test and its in-process server).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

contract_test!(
    requests_of_millions_of_elements_do_not_grow_the_servers_memory,
    |app| {
        const ALLOWED_GROWTH: usize = 20 * 1024 * 1024;
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        let requests = near_limit_requests();
        let send_all = || send_each(&channel, &rep, &requests);
        // Warm up (buffers, pools, the allocator's arenas), then take the smallest growth of a
        // few rounds: other tests share the process, and only a leak grows every round.
        send_all().await;
        let mut growths = Vec::new();
        for _ in 0..3 {
            let before = resident_bytes();
            for _ in 0..3 {
                send_all().await;
            }
            growths.push(resident_bytes().saturating_sub(before));
        }
        let least = growths.iter().min().copied().unwrap();
        eprintln!("RSS growth of nine near-4 MiB requests, per round: {growths:?} bytes");
        assert!(
            least < ALLOWED_GROWTH,
            "nine near-4 MiB requests grew RSS by {growths:?} bytes"
        );
    }
);

/// The three near-4 MiB requests of millions of empty elements, as (RPC, bytes).
fn near_limit_requests() -> [(&'static str, Bytes); 3] {
    [
        (
            "DealDeskService/PreviewApprovalRoute",
            preview_of_empty_clauses().0.into(),
        ),
        (
            "ForecastService/GetForecast",
            forecast_of_empty_snapshots().0.into(),
        ),
        (
            "DealService/UpdateDeal",
            update_of_empty_contacts().0.into(),
        ),
    ]
}

/// Sends each request once, one after the other; each is INVALID_ARGUMENT.
async fn send_each(channel: &Channel, token: &str, requests: &[(&str, Bytes)]) {
    for (path, bytes) in requests {
        let status = call(channel, path, token, bytes.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
    }
}

/// The highest resident size of this process while `work` runs, read every millisecond.
async fn peak_resident_bytes(work: impl Future<Output = ()>) -> usize {
    let peak = Arc::new(AtomicUsize::new(resident_bytes()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    work.await;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    peak.fetch_max(resident_bytes(), Ordering::Relaxed)
}

contract_test!(
    a_request_of_millions_of_elements_is_refused_before_they_take_memory,
    |app| {
        const ALLOWED_PEAK: usize = 20 * 1024 * 1024;
        let (_, rep) = app.user(Role::Rep, None).await;
        let channel = channel(&app).await;
        // What is measured: the peak resident size of this process while the three requests
        // are sent one after the other, over its size just before. The requests' bytes are
        // built before (sending shares them), so the growth is the call's own: the client's
        // send buffer (one copy of the message), the server's receive buffer (another), and
        // whatever the server allocates to read the message, which is what must stay small:
        // a few megabytes, not one allocation per element. After the warm-up the allocator
        // reuses the buffers, so most rounds grow by almost nothing.
        let requests = near_limit_requests();
        // Warm up (buffers, pools, the allocator's arenas), then take the smallest peak of a
        // few rounds: other tests share the process and may allocate at the same time.
        send_each(&channel, &rep, &requests).await;
        let mut peaks = Vec::new();
        for _ in 0..3 {
            let before = resident_bytes();
            let peak = peak_resident_bytes(send_each(&channel, &rep, &requests)).await;
            peaks.push(peak.saturating_sub(before));
        }
        let least = peaks.iter().min().copied().unwrap();
        eprintln!("peak RSS growth of three near-4 MiB requests, per round: {peaks:?} bytes");
        assert!(
            least < ALLOWED_PEAK,
            "three near-4 MiB requests raised RSS by {peaks:?} bytes at their peak"
        );
    }
);
