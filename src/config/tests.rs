//! Tests of `config`.

use super::*;

#[test]
fn defaults() {
    let p = Pipeline::from_spec(SpecFile::default()).unwrap();
    assert_eq!(
        p.sources,
        vec![SourceConfig::Generator(GeneratorSpec::default())]
    );
    assert_eq!(p.sinks, vec![SinkSpec::Stdout]);
    assert_eq!(p.window.length(), Duration::from_secs(60));
    assert_eq!(p.window.slide(), Duration::from_secs(1));
    assert_eq!(p.max_out_of_orderness, Duration::from_secs(5));
    assert_eq!(p.idle_timeout, Duration::from_secs(10));
    assert!(p.filter.keeps(89.99) && !p.filter.keeps(90.0));
}

#[test]
fn files_and_kafka_are_replayable() {
    let spec = |sources: &[&str]| SpecFile {
        sources: Some(sources.iter().map(|s| s.to_string()).collect()),
        ..SpecFile::default()
    };
    let p = |s: &[&str]| Pipeline::from_spec(spec(s)).unwrap().replayable();
    assert!(p(&["file:a.jsonl", "kafka://b:9092/t"]));
    assert!(!p(&["file:a.jsonl", "-"]));
    assert!(!p(&["generator"]));
}

#[test]
fn refuses_bad_settings_by_name() {
    let bad = |f: fn(&mut SpecFile)| {
        let mut s = SpecFile::default();
        f(&mut s);
        Pipeline::from_spec(s).unwrap_err().to_string()
    };
    assert!(bad(|s| s.window.slide = Some("7s".into())).contains("window"));
    assert!(bad(|s| s.window.length = Some("soon".into())).contains("window.length"));
    assert!(bad(|s| s.sources = Some(vec!["ftp://x".into()])).contains("source"));
    assert!(bad(|s| s.workers = Some(0)).contains("workers"));
    assert!(
        bad(|s| s.event_time.max_future = Some("a while".into())).contains("event_time.max_future")
    );
    assert!(
        bad(|s| s.sinks = Some(vec!["redis://h:1".into(), "postgres://u@h/d".into()]))
            .contains("at most one sink that keeps progress")
    );
    assert!(bad(|s| s.redis.prefix = Some("a b".into())).contains("redis.prefix"));
    assert!(toml::from_str::<SpecFile>("nmae = 'typo'").is_err());
    assert!(toml::from_str::<SpecFile>("[fields]\ntimestamp_unit = 'minutes'").is_err());
}

#[test]
fn timestamp_unit_and_max_future_from_the_spec() {
    let p = Pipeline::from_spec(SpecFile::default()).unwrap();
    assert_eq!(p.max_future, Duration::from_secs(86_400));
    assert_eq!(p.fields.timestamp_unit, crate::event::TimestampUnit::Auto);
    let spec: SpecFile = toml::from_str(
        "[event_time]\nmax_future = '2h'\n[fields]\ntimestamp_unit = 'ms'\nsymbol = 'sym'",
    )
    .expect("a valid spec");
    let p = Pipeline::from_spec(spec).unwrap();
    assert_eq!(p.max_future, Duration::from_secs(7_200));
    assert_eq!(p.fields.timestamp_unit, crate::event::TimestampUnit::Ms);
    assert_eq!(p.fields.symbol, "sym");
}
