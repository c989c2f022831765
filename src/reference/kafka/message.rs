//! One message of a Kafka reference topic: the symbol in its key, the sector and valid_from in
//! its JSON value, or a tombstone.

use crate::reference::valid_from::valid_from_json;
use crate::reference::Mapping;

/// A message as the symbol and its new mapping (`None`: a tombstone), or why it is unusable.
pub fn decode(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<(String, Option<Mapping>), String> {
    let key = key.ok_or("the message has no key (the key is the symbol)")?;
    let symbol = std::str::from_utf8(key)
        .map_err(|_| format!("the key {key:?} is not UTF-8"))?
        .to_string();
    if symbol.is_empty() {
        return Err("the key (the symbol) is empty".into());
    }
    let Some(value) = value else {
        return Ok((symbol, None));
    };
    let shape = r#"expected {"sector": "...", "valid_from": ...} (a tombstone, a null value, removes the symbol)"#;
    let json: serde_json::Value = serde_json::from_slice(value).map_err(|e| {
        let start = String::from_utf8_lossy(&value[..value.len().min(80)]).into_owned();
        format!("the value {start:?} is not JSON ({e}); {shape}")
    })?;
    let object = json
        .as_object()
        .ok_or_else(|| format!("the value {json} is not an object; {shape}"))?;
    let sector = match object.get("sector") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(serde_json::Value::String(_)) => return Err("the sector is empty".into()),
        Some(other) => return Err(format!("the sector {other} is not a string; {shape}")),
        None => return Err(format!("the value has no sector; {shape}")),
    };
    let valid_from = valid_from_json(object.get("valid_from"))?;
    Ok((
        symbol.clone(),
        Some(Mapping {
            symbol,
            sector,
            valid_from,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTime;

    fn decoded(key: &[u8], value: Option<&str>) -> Result<(String, Option<Mapping>), String> {
        decode(Some(key), value.map(str::as_bytes))
    }

    #[test]
    fn values_tombstones_and_bad_messages() {
        let (symbol, mapping) = decoded(b"AAPL", Some(r#"{"sector": "Tech"}"#)).unwrap();
        assert_eq!(symbol, "AAPL");
        assert_eq!(
            mapping,
            Some(Mapping {
                symbol: "AAPL".into(),
                sector: "Tech".into(),
                valid_from: None
            })
        );
        let (_, mapping) = decoded(
            b"AAPL",
            Some(r#"{"sector": "Tech", "valid_from": "2025-11-20T09:30:00Z", "note": 1}"#),
        )
        .unwrap();
        assert_eq!(
            mapping.unwrap().valid_from,
            Some(EventTime(1_763_631_000_000))
        );
        assert_eq!(decoded(b"AAPL", None), Ok(("AAPL".into(), None)));
        for (key, value, says) in [
            (&b"\xff"[..], Some(r#"{"sector": "x"}"#), "not UTF-8"),
            (b"", Some(r#"{"sector": "x"}"#), "empty"),
            (b"A", Some("Tech"), "not JSON"),
            (b"A", Some(""), "not JSON"),
            (b"A", Some("[1]"), "not an object"),
            (b"A", Some(r#"{"sector": 5}"#), "not a string"),
            (b"A", Some(r#"{"sector": null}"#), "not a string"),
            (b"A", Some(r#"{"Sector": "x"}"#), "no sector"),
            (
                b"A",
                Some(r#"{"sector": "x", "valid_from": "soon"}"#),
                "valid_from",
            ),
        ] {
            let e = decoded(key, value).unwrap_err();
            assert!(e.contains(says), "{value:?}: {e}");
        }
        assert!(decode(None, Some(b"{}")).unwrap_err().contains("no key"));
    }
}
