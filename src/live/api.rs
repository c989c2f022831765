//! The JSON the live page reads (`/api/pipeline`, `/api/rejects`, `/api/keys`,
//! `/api/series`); its fields are documented in the README.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::chart::{Series, SPAN_MS};
use super::LiveView;
use crate::delivery::END;
use crate::event::{EventTime, RejectKind};

/// Keys one `/api/series` request may ask for.
const MAX_SERIES: usize = 50;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An event time as RFC 3339, or `null` for 0 (nothing read yet).
fn time(ms: u64) -> Value {
    if ms == 0 {
        Value::Null
    } else {
        Value::String(EventTime(ms).to_string())
    }
}

/// The consumer lag of a Kafka source's partition (`kafka://BROKERS/TOPIC`), if reported.
fn lag_of(lags: &BTreeMap<(String, i32), i64>, source: &str, partition: usize) -> Option<i64> {
    lags.iter()
        .find(|((topic, p), _)| {
            usize::try_from(*p) == Ok(partition)
                && source
                    .strip_suffix(topic.as_str())
                    .is_some_and(|rest| rest.ends_with('/'))
        })
        .map(|(_, lag)| *lag)
}

/// Sources with each partition's watermark, lag and rate; sinks with their committed
/// frontier; commit latency; totals; readiness.
pub fn pipeline(view: &LiveView) -> Value {
    let metrics = &view.metrics;
    let snapshot = metrics.snapshot();
    let parts = metrics.partitions();
    let rates = view.rates.rates(Instant::now(), &parts);
    let consumer_lag = crate::metrics::kafka_lags();
    let now = now_ms();
    let sources: Vec<Value> = parts
        .iter()
        .map(|(key, stats)| {
            let lag = lag_of(&consumer_lag, &key.0, key.1);
            json!({
                "source": key.0,
                "partition": key.1,
                "records_in": stats.records_in,
                "records_per_second": rates.get(key).copied().unwrap_or(0.0),
                "watermark_ms": stats.watermark_ms,
                "watermark": time(stats.watermark_ms),
                "watermark_lag_seconds": (stats.watermark_ms > 0)
                    .then(|| (now as f64 - stats.watermark_ms as f64) / 1e3),
                "consumer_lag": lag,
            })
        })
        .collect();
    let commits = metrics.commit_seconds.summary();
    let sinks: Vec<Value> = view
        .sinks
        .get()
        .map(|sinks| {
            sinks
                .describe()
                .into_iter()
                .map(|(name, committed)| {
                    let commit = committed.map(|below| {
                        json!({
                            "committed_below_ms": below,
                            "committed_below": if below >= END {
                                Value::String("every window (input ended)".into())
                            } else {
                                time(below)
                            },
                            "commits": commits.count,
                            "last_commit_seconds": commits.last,
                            "mean_commit_seconds": commits.mean(),
                        })
                    });
                    json!({ "sink": name, "commit": commit })
                })
                .collect()
        })
        .unwrap_or_default();
    let ready = view.readiness();
    json!({
        "pipeline": view.pipeline,
        "uptime_seconds": snapshot.elapsed.as_secs_f64(),
        "ready": ready.is_ok(),
        "not_ready_reason": ready.err(),
        "window": {
            "length_ms": view.window.length().as_millis() as u64,
            "slide_ms": view.window.slide().as_millis() as u64,
        },
        "watermark_ms": snapshot.watermark.map(|w| w.0),
        "watermark": snapshot.watermark.map(|w| w.to_string()),
        "totals": {
            "records_in": snapshot.records_in,
            "accepted": snapshot.accepted,
            "filtered": snapshot.filtered,
            "skipped": snapshot.skipped,
            "windows_out": snapshot.windows_out,
            "rejects": snapshot.rejects,
            "late": snapshot.late,
        },
        "sources": sources,
        "sinks": sinks,
    })
}

/// Rejects by reason: how many, and the latest few lines of each.
pub fn rejects(view: &LiveView) -> Value {
    let reasons: Vec<Value> = RejectKind::ALL
        .iter()
        .map(|&kind| {
            let latest: Vec<Value> = view
                .recent_rejects
                .latest(kind)
                .into_iter()
                .map(|r| {
                    let received = r
                        .received_at
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    json!({
                        "source": r.source,
                        "partition": r.partition,
                        "line": r.line,
                        "offset": r.offset,
                        "received_at": time(received),
                        "detail": r.detail,
                        "raw": r.raw,
                    })
                })
                .collect();
            json!({
                "reason": kind.code(),
                "count": view.metrics.rejects(kind),
                "latest": latest,
            })
        })
        .collect();
    json!({ "reasons": reasons })
}

/// The keys the chart holds, as the picker lists them.
pub fn keys(view: &LiveView) -> Value {
    let (symbols, categories) = view.chart.keys();
    json!({
        "symbols": symbols,
        "categories": categories,
        "untracked_rows": view.chart.untracked_rows(),
    })
}

/// The last 10 minutes of the asked keys (`key=symbol:NAME`, `key=category:NAME`).
pub fn series<'a>(view: &LiveView, keys: impl Iterator<Item = &'a str>) -> Result<Value, String> {
    let mut out = Vec::new();
    for key in keys {
        if out.len() == MAX_SERIES {
            return Err(format!("at most {MAX_SERIES} keys per request"));
        }
        let (series, name) = Series::parse(key)
            .ok_or_else(|| format!("key {key:?} is neither symbol:NAME nor category:NAME"))?;
        let points = view.chart.points(series, name).unwrap_or_default();
        out.push(json!({
            "key": key,
            "kind": series.prefix(),
            "name": name,
            "points": points.iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
        }));
    }
    Ok(json!({
        "span_ms": SPAN_MS,
        "newest_ms": view.chart.newest_ms(),
        "series": out,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_lag_is_matched_by_topic_and_partition() {
        let lags = BTreeMap::from([
            (("ticks".to_string(), 0), 5),
            (("ticks".to_string(), 1), 7),
            (("moreticks".to_string(), 1), 9),
        ]);
        assert_eq!(lag_of(&lags, "kafka://b:9092/ticks", 1), Some(7));
        assert_eq!(lag_of(&lags, "kafka://b:9092/moreticks", 1), Some(9));
        assert_eq!(lag_of(&lags, "kafka://b:9092/ticks", 2), None);
        assert_eq!(lag_of(&lags, "file:ticks", 0), None);
    }
}
