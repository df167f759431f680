//! Judging SLOs against a run's figures: per route, the whole run for `rps`, and a growing
//! `GET /data` per 1,000 documents.

use std::collections::BTreeMap;

use super::mix::{Mix, Route};
use super::slo::{Basis, Metric, Slo, SloResult, SloVerdict};
use super::summary::{ListSummary, RouteSummary};

/// Judges every SLO: a clause naming a route on that route, one without a route on each route
/// the mix sent (`rps` on the whole run). On a `GET /data` that read the whole list, a latency
/// clause for every route is judged per 1,000 documents; a clause naming `GET /data` is judged
/// as written.
pub fn judge(
    slos: &[Slo],
    mix: Mix,
    routes: &BTreeMap<Route, RouteSummary>,
    duration_s: f64,
) -> Vec<SloResult> {
    let mut results = Vec::new();
    for slo in slos {
        match slo.route {
            Some(route) => results.push(judge_route(slo, route, false, mix, routes, duration_s)),
            None if slo.metric == Metric::Rps => {
                let requests: u64 = routes.values().map(|r| r.requests).sum();
                let actual = if duration_s > 0.0 {
                    requests as f64 / duration_s
                } else {
                    0.0
                };
                results.push(verdict(slo, None, Basis::Throughput, Some(actual), None));
            }
            None => results.extend(
                Route::ALL
                    .into_iter()
                    .filter(|r| mix.sends(*r))
                    .map(|route| judge_route(slo, route, true, mix, routes, duration_s)),
            ),
        }
    }
    results
}

fn judge_route(
    slo: &Slo,
    route: Route,
    every_route: bool,
    mix: Mix,
    routes: &BTreeMap<Route, RouteSummary>,
    duration_s: f64,
) -> SloResult {
    let stats = routes.get(&route).filter(|s| s.requests > 0);
    let list = stats.and_then(|s| s.list.as_ref());
    let basis = match slo.metric {
        Metric::Errors => Basis::ErrorRate,
        Metric::Rps => Basis::Throughput,
        _ if slo.per_1000_documents || (every_route && list.is_some_and(ListSummary::grows)) => {
            Basis::LatencyPer1000Documents
        }
        _ => Basis::Latency,
    };
    if !mix.sends(route) {
        return SloResult {
            slo: slo.text.clone(),
            route: Some(route),
            basis,
            threshold: slo.threshold,
            actual: None,
            verdict: SloVerdict::Skipped,
            note: Some(format!("the {mix} mix sends no {route}")),
        };
    }
    let Some(stats) = stats else {
        let note = format!("no {route} request completed");
        return verdict(slo, Some(route), basis, None, Some(note));
    };
    match basis {
        Basis::ErrorRate => verdict(
            slo,
            Some(route),
            basis,
            Some(stats.error_rate_percent),
            None,
        ),
        Basis::Throughput => {
            let actual = if duration_s > 0.0 {
                stats.requests as f64 / duration_s
            } else {
                0.0
            };
            verdict(slo, Some(route), basis, Some(actual), None)
        }
        Basis::Latency => verdict(
            slo,
            Some(route),
            basis,
            Some(stats.latency_ms.get(slo.metric)),
            None,
        ),
        Basis::LatencyPer1000Documents => {
            match list.and_then(|l| l.per_1000_documents_ms.as_ref()) {
                Some(p) => verdict(slo, Some(route), basis, Some(p.get(slo.metric)), None),
                None => verdict(
                    slo,
                    Some(route),
                    basis,
                    None,
                    Some(format!(
                        "no {route} answer was a JSON array, so its documents could not be counted"
                    )),
                ),
            }
        }
    }
}

/// Met or missed; an SLO nothing could be measured for is missed, with `note` saying why.
fn verdict(
    slo: &Slo,
    route: Option<Route>,
    basis: Basis,
    actual: Option<f64>,
    note: Option<String>,
) -> SloResult {
    let met = actual.is_some_and(|a| {
        if slo.below {
            a < slo.threshold
        } else {
            a > slo.threshold
        }
    });
    SloResult {
        slo: slo.text.clone(),
        route,
        basis,
        threshold: slo.threshold,
        actual,
        verdict: if met {
            SloVerdict::Met
        } else {
            SloVerdict::Missed
        },
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::list_read::ListRead;
    use crate::load::slo::parse_slos;
    use crate::load::summary::{Percentiles, percent};

    fn route(latency_p95: f64, requests: u64, failed: u64) -> RouteSummary {
        RouteSummary {
            requests,
            failed,
            error_rate_percent: percent(failed, requests),
            latency_ms: Percentiles {
                p95: latency_p95,
                ..Percentiles::default()
            },
            list: None,
        }
    }

    /// A run whose `GET /data` answers grew to `documents_max` under the given read.
    fn run_with_list(
        read: ListRead,
        list_p95: f64,
        per_1000_p95: f64,
        documents_max: u64,
    ) -> BTreeMap<Route, RouteSummary> {
        let paging_ignored =
            matches!(read, ListRead::Page { size, .. } if documents_max > u64::from(size));
        let mut list = route(list_p95, 50, 0);
        list.list = Some(ListSummary {
            path: read.path(),
            read,
            answers_counted: 50,
            documents_min: 0,
            documents_max,
            per_1000_documents_ms: Some(Percentiles {
                p95: per_1000_p95,
                ..Percentiles::default()
            }),
            paging_ignored,
        });
        BTreeMap::from([
            (Route::Root, route(1.0, 300, 0)),
            (Route::Write, route(20.0, 150, 0)),
            (Route::List, list),
        ])
    }

    fn outcome(results: &[SloResult], route: Route) -> (Basis, Option<f64>, SloVerdict) {
        let r = results
            .iter()
            .find(|r| r.route == Some(route))
            .unwrap_or_else(|| panic!("no result for {route}: {results:#?}"));
        (r.basis, r.actual, r.verdict)
    }

    #[test]
    fn an_slo_for_every_route_judges_a_growing_list_per_1000_documents() {
        // The whole list grew to 5,000 documents: 600 ms an answer, 120 ms per 1,000.
        let routes = run_with_list(ListRead::Whole, 600.0, 120.0, 5000);
        let judged = |slos: &str| judge(&parse_slos(slos).unwrap(), Mix::Mixed, &routes, 10.0);
        let results = judged("p95<250ms");
        assert_eq!(results.len(), 3, "one result per route: {results:#?}");
        assert_eq!(
            outcome(&results, Route::List),
            (Basis::LatencyPer1000Documents, Some(120.0), SloVerdict::Met)
        );
        assert_eq!(
            outcome(&results, Route::Write),
            (Basis::Latency, Some(20.0), SloVerdict::Met)
        );
        // Named, the list is judged as written: its absolute p95 misses.
        assert_eq!(
            outcome(&judged("GET /data:p95<250ms"), Route::List),
            (Basis::Latency, Some(600.0), SloVerdict::Missed)
        );
        assert_eq!(
            outcome(&judged("GET /data:p95<100ms/1000docs"), Route::List),
            (
                Basis::LatencyPer1000Documents,
                Some(120.0),
                SloVerdict::Missed
            )
        );
    }

    #[test]
    fn a_page_is_judged_like_any_route_unless_the_app_ignored_the_paging() {
        let page = ListRead::Page {
            param: "limit".into(),
            size: 100,
        };
        let slos = parse_slos("p95<250ms").unwrap();
        let routes = run_with_list(page.clone(), 300.0, 300.0, 100);
        assert_eq!(
            outcome(&judge(&slos, Mix::Mixed, &routes, 10.0), Route::List),
            (Basis::Latency, Some(300.0), SloVerdict::Missed)
        );
        let routes = run_with_list(page, 600.0, 120.0, 5000);
        assert!(routes[&Route::List].list.as_ref().unwrap().grows());
        assert_eq!(
            outcome(&judge(&slos, Mix::Mixed, &routes, 10.0), Route::List),
            (Basis::LatencyPer1000Documents, Some(120.0), SloVerdict::Met)
        );
    }

    #[test]
    fn errors_count_per_route_and_rps_for_the_run() {
        // 2% of 100 writes failed: 0.4% of the run, but the write route misses errors<1%.
        let routes = BTreeMap::from([
            (Route::Root, route(1.0, 400, 0)),
            (Route::Write, route(20.0, 100, 2)),
        ]);
        let results = judge(
            &parse_slos("errors<1%,rps>40").unwrap(),
            Mix::Write,
            &routes,
            10.0,
        );
        assert_eq!(results.len(), 2, "{results:#?}");
        assert_eq!(
            outcome(&results, Route::Write),
            (Basis::ErrorRate, Some(2.0), SloVerdict::Missed)
        );
        let rps = results.iter().find(|r| r.route.is_none()).unwrap();
        assert_eq!(
            (rps.basis, rps.actual, rps.verdict),
            (Basis::Throughput, Some(50.0), SloVerdict::Met)
        );
    }

    #[test]
    fn a_route_the_mix_does_not_send_is_skipped_and_a_silent_one_missed() {
        let routes = BTreeMap::from([(Route::Root, route(1.0, 100, 0))]);
        let slos = parse_slos("POST /data:p95<250ms").unwrap();
        let skipped = judge(&slos, Mix::GetRoot, &routes, 1.0).remove(0);
        assert_eq!(skipped.verdict, SloVerdict::Skipped);
        assert!(skipped.met());
        assert_eq!(
            skipped.note.as_deref(),
            Some("the get-root mix sends no POST /data")
        );
        let silent = judge(&slos, Mix::Mixed, &routes, 1.0).remove(0);
        assert_eq!(silent.verdict, SloVerdict::Missed);
        assert_eq!(
            silent.note.as_deref(),
            Some("no POST /data request completed")
        );
    }
}
