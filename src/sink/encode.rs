//! Encodes result rows as JSON lines or CSV.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::event::EventTime;
use crate::row::WindowRow;
use crate::window::TickAgg;

/// Text format of stdout and file sinks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// Comma-separated values with a header; ticks and readings share one column set.
    Csv,
}

/// CSV columns: the union of both row kinds, empty where a kind has no such field.
pub const CSV_HEADER: &str = "kind,symbol,category,window_start,window_end,avg_price,min_price,max_price,vwap,ticks,volume,mean_value,readings";

/// The CSV columns a pipeline with sector rollups (`--reference`) adds after [`CSV_HEADER`].
pub const CSV_SECTOR_COLUMNS: &str = "sector,symbols";

/// The CSV header of a pipeline: with sector rollups, `sector,symbols`; with corrections
/// (allowed lateness), a trailing `revision`.
pub fn csv_header(revisions: bool, sectors: bool) -> String {
    let mut header = CSV_HEADER.to_string();
    if sectors {
        header = format!("{header},{CSV_SECTOR_COLUMNS}");
    }
    if revisions {
        header.push_str(",revision");
    }
    header
}

/// Appends `row` in `format` to `out`, newline included.
pub fn encode(row: &WindowRow, format: Format, out: &mut Vec<u8>) {
    encode_with(row, format, false, out)
}

/// As [`encode`]; `sectors`: the CSV has the sector rollups' columns (see [`csv_header`]).
pub fn encode_with(row: &WindowRow, format: Format, sectors: bool, out: &mut Vec<u8>) {
    match format {
        Format::Jsonl => encode_json(row, out),
        Format::Csv => encode_csv(row, sectors, out),
    }
}

/// Writes the row's JSON object by hand: field order is part of the output contract, and this
/// is the hot path of every text sink. Floats go through ryu (as serde_json does), the shortest
/// text that reads back as the same f64; strings through serde_json's escaper.
fn encode_json(row: &WindowRow, out: &mut Vec<u8>) {
    let mut ints = itoa::Buffer::new();
    let mut floats = ryu::Buffer::new();
    let mut float = |out: &mut Vec<u8>, name: &[u8], x: f64| {
        out.extend_from_slice(name);
        out.extend_from_slice(float_text(&mut floats, x).as_bytes());
    };
    match row {
        WindowRow::SymbolAverage {
            symbol,
            start,
            end,
            agg,
            ..
        } => {
            out.extend_from_slice(b"{\"kind\":\"symbol_average\",\"symbol\":");
            json_str(out, symbol);
            window_bounds(out, *start, *end);
            tick_stats(out, agg, &mut float, &mut ints);
        }
        WindowRow::SectorAverage {
            sector,
            start,
            end,
            agg,
            symbols,
            ..
        } => {
            out.extend_from_slice(b"{\"kind\":\"sector_average\",\"sector\":");
            json_str(out, sector);
            window_bounds(out, *start, *end);
            tick_stats(out, agg, &mut float, &mut ints);
            out.extend_from_slice(b",\"symbols\":");
            out.extend_from_slice(ints.format(*symbols).as_bytes());
        }
        WindowRow::CategoryMean {
            category,
            start,
            end,
            agg,
            ..
        } => {
            out.extend_from_slice(b"{\"kind\":\"category_mean\",\"category\":");
            json_str(out, category);
            window_bounds(out, *start, *end);
            float(out, b",\"mean_value\":", agg.mean());
            out.extend_from_slice(b",\"readings\":");
            out.extend_from_slice(ints.format(agg.readings).as_bytes());
        }
    }
    if let Some(revision) = row.revision() {
        out.extend_from_slice(b",\"revision\":");
        out.extend_from_slice(ints.format(revision.number).as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

/// The tick statistics symbol and sector rows share, in their contract order.
fn tick_stats(
    out: &mut Vec<u8>,
    agg: &TickAgg,
    float: &mut impl FnMut(&mut Vec<u8>, &[u8], f64),
    ints: &mut itoa::Buffer,
) {
    float(out, b",\"avg_price\":", agg.avg_price());
    float(out, b",\"min_price\":", agg.min_price);
    float(out, b",\"max_price\":", agg.max_price);
    match agg.vwap() {
        Some(v) => float(out, b",\"vwap\":", v),
        None => out.extend_from_slice(b",\"vwap\":null"),
    }
    out.extend_from_slice(b",\"ticks\":");
    out.extend_from_slice(ints.format(agg.ticks).as_bytes());
    out.extend_from_slice(b",\"volume\":");
    out.extend_from_slice(ints.format(agg.volume).as_bytes());
}

/// A float as every encoder writes it: the shortest text that reads back as the same f64.
fn float_text(buf: &mut ryu::Buffer, x: f64) -> &str {
    buf.format_finite(x)
}

/// The row's JSON fields as (name, text) pairs in the JSON order, numbers formatted as in the
/// JSON line, strings and times unquoted, a missing `vwap` as `null` (the Redis sink's hashes).
/// A `revision` comes last when windows take corrections.
pub fn fields(row: &WindowRow) -> Vec<(&'static str, String)> {
    let mut floats = ryu::Buffer::new();
    let mut float = |x: f64| float_text(&mut floats, x).to_string();
    let time = |t: EventTime| {
        let mut out = Vec::with_capacity(24);
        t.write_rfc3339(&mut out);
        String::from_utf8(out).expect("RFC 3339 text is ASCII")
    };
    let mut fields = match row {
        WindowRow::SymbolAverage {
            symbol,
            start,
            end,
            agg,
            ..
        } => vec![
            ("kind", row.kind().into()),
            ("symbol", symbol.clone()),
            ("window_start", time(*start)),
            ("window_end", time(*end)),
            ("avg_price", float(agg.avg_price())),
            ("min_price", float(agg.min_price)),
            ("max_price", float(agg.max_price)),
            ("vwap", agg.vwap().map_or_else(|| "null".into(), &mut float)),
            ("ticks", itoa::Buffer::new().format(agg.ticks).into()),
            ("volume", itoa::Buffer::new().format(agg.volume).into()),
        ],
        WindowRow::SectorAverage {
            sector,
            start,
            end,
            agg,
            symbols,
            ..
        } => vec![
            ("kind", row.kind().into()),
            ("sector", sector.clone()),
            ("window_start", time(*start)),
            ("window_end", time(*end)),
            ("avg_price", float(agg.avg_price())),
            ("min_price", float(agg.min_price)),
            ("max_price", float(agg.max_price)),
            ("vwap", agg.vwap().map_or_else(|| "null".into(), &mut float)),
            ("ticks", itoa::Buffer::new().format(agg.ticks).into()),
            ("volume", itoa::Buffer::new().format(agg.volume).into()),
            ("symbols", itoa::Buffer::new().format(*symbols).into()),
        ],
        WindowRow::CategoryMean {
            category,
            start,
            end,
            agg,
            ..
        } => vec![
            ("kind", row.kind().into()),
            ("category", category.clone()),
            ("window_start", time(*start)),
            ("window_end", time(*end)),
            ("mean_value", float(agg.mean())),
            ("readings", itoa::Buffer::new().format(agg.readings).into()),
        ],
    };
    if let Some(revision) = row.revision() {
        fields.push(("revision", revision.number.to_string()));
    }
    fields
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing a string to a Vec cannot fail");
}

fn window_bounds(out: &mut Vec<u8>, start: EventTime, end: EventTime) {
    out.extend_from_slice(b",\"window_start\":\"");
    start.write_rfc3339(out);
    out.extend_from_slice(b"\",\"window_end\":\"");
    end.write_rfc3339(out);
    out.push(b'"');
}

/// The CSV cells of tick statistics: a symbol's row, or a sector's with `symbol` empty.
fn tick_cells(
    kind: &str,
    symbol: String,
    start: EventTime,
    end: EventTime,
    agg: &TickAgg,
) -> [String; 13] {
    let f = |x: f64| ryu::Buffer::new().format(x).to_string();
    [
        kind.into(),
        symbol,
        String::new(),
        start.to_string(),
        end.to_string(),
        f(agg.avg_price()),
        f(agg.min_price),
        f(agg.max_price),
        agg.vwap().map(f).unwrap_or_default(),
        agg.ticks.to_string(),
        agg.volume.to_string(),
        String::new(),
        String::new(),
    ]
}

fn encode_csv(row: &WindowRow, sectors: bool, out: &mut Vec<u8>) {
    let f = |x: f64| ryu::Buffer::new().format(x).to_string();
    let (mut sector, mut symbols) = (String::new(), String::new());
    let cells: [String; 13] = match row {
        WindowRow::SymbolAverage {
            symbol,
            start,
            end,
            agg,
            ..
        } => tick_cells(row.kind(), csv_quote(symbol), *start, *end, agg),
        WindowRow::SectorAverage {
            sector: name,
            start,
            end,
            agg,
            symbols: count,
            ..
        } => {
            (sector, symbols) = (csv_quote(name), count.to_string());
            tick_cells(row.kind(), String::new(), *start, *end, agg)
        }
        WindowRow::CategoryMean {
            category,
            start,
            end,
            agg,
            ..
        } => [
            row.kind().into(),
            String::new(),
            csv_quote(category),
            start.to_string(),
            end.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            f(agg.mean()),
            agg.readings.to_string(),
        ],
    };
    let _ = write!(out, "{}", cells.join(","));
    if sectors {
        let _ = write!(out, ",{sector},{symbols}");
    }
    if let Some(revision) = row.revision() {
        let _ = write!(out, ",{}", revision.number);
    }
    out.push(b'\n');
}

/// Quotes a CSV cell when it holds a separator, quote or line break (RFC 4180).
fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{ReadingAgg, TickAgg};

    #[test]
    fn json_fields_in_contract_order() {
        let mut agg = TickAgg::of(151.0, 10);
        crate::window::Aggregate::merge(&mut agg, &TickAgg::of(155.3, 30));
        let row = WindowRow::SymbolAverage {
            symbol: "SYM001".into(),
            start: EventTime(1_763_630_941_000),
            end: EventTime(1_763_631_001_000),
            agg,
            revision: None,
        };
        let mut out = Vec::new();
        encode(&row, Format::Jsonl, &mut out);
        // (151.0 * 10 + 155.3 * 30) / 40 exactly is nearest 154.22500000000002, not 154.225.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"kind\":\"symbol_average\",\"symbol\":\"SYM001\",\"window_start\":\"2025-11-20T09:29:01Z\",\"window_end\":\"2025-11-20T09:30:01Z\",\"avg_price\":153.15,\"min_price\":151.0,\"max_price\":155.3,\"vwap\":154.22500000000002,\"ticks\":2,\"volume\":40}\n"
        );
        let row = WindowRow::CategoryMean {
            category: "a,\"b\"".into(),
            start: EventTime(0),
            end: EventTime(1000),
            agg: ReadingAgg::of(0.1),
            revision: None,
        };
        let mut out = Vec::new();
        encode(&row, Format::Csv, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "category_mean,,\"a,\"\"b\"\"\",1970-01-01T00:00:00Z,1970-01-01T00:00:01Z,,,,,,,0.1,1\n"
        );
    }

    #[test]
    fn sector_rows_in_contract_order_and_in_their_csv_columns() {
        let mut agg = TickAgg::of(151.0, 10);
        crate::window::Aggregate::merge(&mut agg, &TickAgg::of(155.3, 30));
        let row = WindowRow::SectorAverage {
            sector: "tech".into(),
            start: EventTime(1_763_630_941_000),
            end: EventTime(1_763_631_001_000),
            agg,
            symbols: 2,
            revision: None,
        };
        let mut out = Vec::new();
        encode(&row, Format::Jsonl, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"kind\":\"sector_average\",\"sector\":\"tech\",\"window_start\":\"2025-11-20T09:29:01Z\",\"window_end\":\"2025-11-20T09:30:01Z\",\"avg_price\":153.15,\"min_price\":151.0,\"max_price\":155.3,\"vwap\":154.22500000000002,\"ticks\":2,\"volume\":40,\"symbols\":2}\n"
        );
        let mut csv = Vec::new();
        encode_with(&row, Format::Csv, true, &mut csv);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "sector_average,,,2025-11-20T09:29:01Z,2025-11-20T09:30:01Z,153.15,151.0,155.3,154.22500000000002,2,40,,,tech,2\n"
        );
        let symbol = WindowRow::SymbolAverage {
            symbol: "A".into(),
            start: EventTime(0),
            end: EventTime(1000),
            agg: TickAgg::of(1.0, 1),
            revision: None,
        };
        let mut csv = Vec::new();
        encode_with(&symbol, Format::Csv, true, &mut csv);
        let cells = String::from_utf8(csv)
            .unwrap()
            .trim_end()
            .split(',')
            .count();
        assert_eq!(cells, csv_header(false, true).split(',').count());
    }

    #[test]
    fn a_revision_is_the_last_field_and_column() {
        let row = WindowRow::CategoryMean {
            category: "A".into(),
            start: EventTime(0),
            end: EventTime(1000),
            agg: ReadingAgg::of(0.5),
            revision: Some(crate::row::Revision {
                number: 2,
                sent_at: EventTime(7000),
            }),
        };
        let (mut json, mut csv) = (Vec::new(), Vec::new());
        encode(&row, Format::Jsonl, &mut json);
        encode(&row, Format::Csv, &mut csv);
        assert!(String::from_utf8(json)
            .unwrap()
            .ends_with(",\"readings\":1,\"revision\":2}\n"));
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "category_mean,,A,1970-01-01T00:00:00Z,1970-01-01T00:00:01Z,,,,,,,0.5,1,2\n"
        );
        assert!(csv_header(true, false).ends_with(",readings,revision"));
        assert!(csv_header(true, true).ends_with(",readings,sector,symbols,revision"));
        assert_eq!(csv_header(false, false), CSV_HEADER);
    }

    #[test]
    fn fields_are_the_json_fields() {
        let mut agg = TickAgg::of(151.0, 10);
        crate::window::Aggregate::merge(&mut agg, &TickAgg::of(155.3, 30));
        let rows = [
            WindowRow::SymbolAverage {
                symbol: "S\"1".into(),
                start: EventTime(1_500),
                end: EventTime(61_500),
                agg,
                revision: None,
            },
            WindowRow::SymbolAverage {
                symbol: "S2".into(),
                start: EventTime(0),
                end: EventTime(1000),
                agg: TickAgg::of(2.5, 0),
                revision: None,
            },
            WindowRow::SectorAverage {
                sector: "energy".into(),
                start: EventTime(0),
                end: EventTime(1000),
                agg: TickAgg::of(2.5, 0),
                symbols: 1,
                revision: None,
            },
            WindowRow::CategoryMean {
                category: "A".into(),
                start: EventTime(0),
                end: EventTime(1000),
                agg: ReadingAgg::of(0.1),
                revision: None,
            },
            WindowRow::CategoryMean {
                category: "A".into(),
                start: EventTime(0),
                end: EventTime(1000),
                agg: ReadingAgg::of(0.1),
                revision: Some(crate::row::Revision {
                    number: 3,
                    sent_at: EventTime(4000),
                }),
            },
        ];
        for row in rows {
            let mut out = Vec::new();
            encode(&row, Format::Jsonl, &mut out);
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&out).unwrap();
            let mut names: Vec<&str> = fields(&row).iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            assert_eq!(names, json.keys().map(String::as_str).collect::<Vec<_>>());
            for (name, text) in fields(&row) {
                let expected = match &json[name] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(text, expected, "{name}");
            }
        }
    }
}
