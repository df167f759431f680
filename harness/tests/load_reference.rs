//! A bounded Goose run against the reference app on a real database: requests flow, latencies
//! are measured, every acknowledged write is read back, the SLO gates pass, and `GET /data`
//! reads one page the way the reference profile says the app pages. (One load run per process:
//! Goose installs process-wide handlers.)

use std::time::Duration;

use deploycheck::load::{self, Mix, Route, Settings};

#[path = "support/reference_service.rs"]
mod support;
use deploycheck::profile::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_app_keeps_every_acknowledged_write_under_load() {
    let url = support::reference_service("load").await;

    let summary = load::run(&Settings {
        base_url: url,
        users: 4,
        hatch_rate: 4,
        duration: Duration::from_secs(3),
        mix: Mix::Mixed,
        slos: load::parse_slos("errors<1%,p99<5s").unwrap(),
        rate: None,
        list_read: Profile::built_in("reference")
            .unwrap()
            .load
            .list_read
            .parse()
            .unwrap(),
        goose_html: None,
    })
    .await
    .unwrap();
    assert!(summary.requests > 20, "{summary:#?}");
    assert!(summary.acknowledged_writes > 0, "{summary:#?}");
    assert!(summary.integrity_checked);
    assert_eq!(summary.lost_writes, 0, "{summary:#?}");
    assert_eq!(summary.error_rate_percent, 0.0, "{summary:#?}");
    assert!(summary.latency_ms.p50 > 0.0 && summary.latency_ms.p50 <= summary.latency_ms.p99);
    if let Some(corrected) = &summary.latency_ms_co_corrected {
        // Back-filled requests only add latency: the corrected tail is never shorter.
        assert!(corrected.max >= summary.latency_ms.p50, "{corrected:?}");
    }
    for route in Route::ALL {
        assert!(
            summary.routes[&route].latency_ms.p99 > 0.0,
            "{route}: {summary:#?}"
        );
    }
    let list = summary.routes[&Route::List].list.as_ref().unwrap();
    assert_eq!(list.path, "/data?limit=100");
    assert!(
        list.answers_counted > 0 && !list.paging_ignored,
        "the reference app honours ?limit=: {list:#?}"
    );
    assert!(summary.passed(), "{summary:#?}");
}
