//! One reading of a reference source made canonical: rows sorted, repeats dropped, and two
//! sectors for the same symbol and valid_from settled the same way every time.

use std::collections::BTreeSet;

use super::Mapping;

/// Sorts `rows` and drops exact repeats. When a symbol has two rows with the same `valid_from`
/// and different sectors, the as-of rule cannot choose between them: the row with the smallest
/// sector (in byte order) is kept and the others are returned, to be warned about, so a
/// snapshot never depends on the order the source handed its rows over.
pub fn canonical(mut rows: Vec<Mapping>) -> (Vec<Mapping>, Vec<Mapping>) {
    rows.sort_by(|a, b| {
        (&a.symbol, a.valid_from, &a.sector).cmp(&(&b.symbol, b.valid_from, &b.sector))
    });
    rows.dedup();
    let mut kept: Vec<Mapping> = Vec::with_capacity(rows.len());
    let mut dropped = Vec::new();
    for row in rows {
        match kept.last() {
            Some(last) if last.symbol == row.symbol && last.valid_from == row.valid_from => {
                dropped.push(row)
            }
            _ => kept.push(row),
        }
    }
    kept.sort();
    (kept, dropped)
}

/// `N symbols in M sectors` (and the row count when symbols have several rows), as
/// `tickflow check` reports a reference.
pub fn summary(rows: &[Mapping]) -> String {
    let symbols: BTreeSet<&str> = rows.iter().map(|m| m.symbol.as_str()).collect();
    let sectors: BTreeSet<&str> = rows.iter().map(|m| m.sector.as_str()).collect();
    let plural = |n: usize, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let mut text = format!(
        "{} in {}",
        plural(symbols.len(), "symbol"),
        plural(sectors.len(), "sector")
    );
    if rows.len() > symbols.len() {
        text.push_str(&format!(", {} rows", rows.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTime;

    fn row(symbol: &str, sector: &str, from: Option<u64>) -> Mapping {
        Mapping {
            symbol: symbol.into(),
            sector: sector.into(),
            valid_from: from.map(EventTime),
        }
    }

    #[test]
    fn any_order_gives_the_same_snapshot() {
        let rows = vec![
            row("B", "Energy", None),
            row("A", "Tech", Some(5)),
            row("A", "Tech", None),
            row("B", "Energy", None),
            row("A", "Banks", Some(5)),
        ];
        let mut reversed = rows.clone();
        reversed.reverse();
        let (kept, dropped) = canonical(rows);
        assert_eq!(canonical(reversed), (kept.clone(), dropped.clone()));
        assert_eq!(
            kept,
            vec![
                row("A", "Banks", Some(5)),
                row("A", "Tech", None),
                row("B", "Energy", None)
            ]
        );
        assert_eq!(dropped, vec![row("A", "Tech", Some(5))]);
        assert_eq!(summary(&kept), "2 symbols in 3 sectors, 3 rows");
        assert_eq!(summary(&kept[2..]), "1 symbol in 1 sector");
        assert_eq!(summary(&[]), "0 symbols in 0 sectors");
    }
}
