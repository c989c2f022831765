//! Tests of the Kafka sink's store: progress records read back as written.

use super::*;
use crate::delivery::Resume;
use crate::event::EventTime;

#[test]
fn a_progress_record_reads_back_as_what_was_committed() {
    let text = r#"{"pipeline":"p","process":1,"committed_below_ms":9000,"processes":2,"partitions":[{"source":"file:/a","partition":2,"resume_offset":77,"max_seen_ms":null,"split_bytes":65536}]}"#;
    let record: ProgressRecord = serde_json::from_str(text).expect("a progress record");
    assert_eq!(serde_json::to_string(&record).unwrap(), text);
    assert_eq!(
        record.into_saved(),
        vec![
            Saved::Process {
                process: 1,
                processes: 2,
                committed_below: 9000
            },
            Saved::Partition {
                key: ("file:/a".into(), 2),
                resume: Resume {
                    offset: 77,
                    max_seen: None
                },
                split_bytes: 65536
            },
        ]
    );
}

#[test]
fn rows_are_keyed_by_symbol_or_category() {
    let row = WindowRow::CategoryMean {
        category: "B".into(),
        start: EventTime(0),
        end: EventTime(1000),
        agg: crate::window::ReadingAgg::of(1.0),
        revision: None,
    };
    assert_eq!(key_of(&row), "B");
}
