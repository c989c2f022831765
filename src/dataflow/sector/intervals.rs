//! A symbol's mapping rows as validity intervals: which window ends each sector holds for.

use super::Name;

/// A sector held by a symbol for the window ends `e` with `from < e <= to` (`from` `None`:
/// since always; `to` `None`: from then on; sector `None`: unmapped).
pub type Interval = (Option<u64>, Option<u64>, Option<Name>);

/// The intervals of one symbol's mapping rows `(valid_from, sector)`, given sorted as a
/// differential reduce hands them over (`None`, since always, first).
///
/// A row holds for the ends after its `valid_from` up to and including the next row's
/// `valid_from` (as of `e`, the row with the greatest `valid_from` strictly before `e`). Of
/// rows with the same `valid_from` the greatest sector wins (by its text, unmapped lowest),
/// as it does as of; the rows come ordered by `Name`'s order, not the text's. The ends before the
/// first row have no interval; a row with no sector (the symbol removed) gives an unmapped one.
pub fn intervals<'a>(
    rows: impl IntoIterator<Item = &'a (Option<u64>, Option<Name>)>,
) -> Vec<Interval> {
    let mut out: Vec<Interval> = Vec::new();
    let mut open: Option<&'a (Option<u64>, Option<Name>)> = None;
    for row in rows {
        match open {
            Some((from, sector)) if *from != row.0 => {
                out.push((*from, row.0, sector.clone()));
            }
            Some((_, sector)) if text(sector) > text(&row.1) => continue,
            _ => {}
        }
        open = Some(row);
    }
    if let Some((from, sector)) = open {
        out.push((*from, None, sector.clone()));
    }
    out
}

/// A sector's text for the tie rule, unmapped lowest.
fn text(sector: &Option<Name>) -> Option<&str> {
    sector.as_ref().map(Name::as_str)
}

/// Whether `interval` holds for the window ending at `end`.
pub fn holds(&(from, to, _): &Interval, end: u64) -> bool {
    from.is_none_or(|f| f < end) && to.is_none_or(|t| end <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(from: Option<u64>, sector: Option<&str>) -> (Option<u64>, Option<Name>) {
        (from, sector.map(Name::from))
    }

    fn sector_at(rows: &[(Option<u64>, Option<Name>)], end: u64) -> Option<Name> {
        let found: Vec<_> = intervals(rows)
            .into_iter()
            .filter(|i| holds(i, end))
            .collect();
        assert!(found.len() <= 1, "intervals overlap at {end}: {found:?}");
        found.into_iter().next().and_then(|(_, _, sector)| sector)
    }

    /// The definition: the row with the greatest valid_from strictly before the end.
    fn as_of(rows: &[(Option<u64>, Option<Name>)], end: u64) -> Option<Name> {
        rows.iter()
            .filter(|(from, _)| from.is_none_or(|f| f < end))
            .max_by_key(|(from, sector)| (*from, sector.as_ref().map(|s| s.as_str().to_owned())))
            .and_then(|(_, sector)| sector.clone())
    }

    #[test]
    fn intervals_agree_with_as_of_at_every_end() {
        let cases = vec![
            vec![],
            vec![row(None, Some("tech"))],
            vec![row(Some(10), Some("oil"))],
            vec![row(None, Some("tech")), row(Some(10), Some("oil"))],
            vec![
                row(None, Some("tech")),
                row(Some(10), None),
                row(Some(20), Some("fin")),
            ],
            vec![
                row(Some(10), None),
                row(Some(10), Some("fin")),
                row(Some(10), Some("oil")),
                row(Some(30), Some("fin")),
            ],
        ];
        for rows in cases {
            for end in 0..40 {
                assert_eq!(
                    sector_at(&rows, end),
                    as_of(&rows, end),
                    "{rows:?} at {end}"
                );
            }
        }
    }
}
