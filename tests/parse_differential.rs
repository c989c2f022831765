//! The fast scanner against the full readers (serde_json and the Python-literal reader): a
//! million seeded random lines, JSON and Python literals, with escapes, odd whitespace,
//! exponents, huge and tiny numbers, nesting, duplicate and missing fields and corrupted bytes,
//! must each give the same record, bit for bit, or the same reject, reason and detail.
//!
//! Runs of lines share a layout (the same keys, order, quotes and separators, new values), as a
//! producer writes them, some then nudged one byte off it, and every line also goes through
//! one [`LineParser`] per set of names, so the layout it learns from one line is tried on the
//! next: hits and near misses alike must give what the full readers give.
//!
//! `TICKFLOW_DIFF_LINES` sets the number of lines (default 1,000,000; about 20 s in a debug
//! build); `TICKFLOW_DIFF_SEED` the seed (default 17).

use tickflow::event::{
    parse_line_at, parse_line_full, takes_fast_path, FieldNames, Horizon, LineParser, Record,
    Rejection,
};

/// SplitMix64: small, seeded, and the same on every platform.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// The line form being written, which decides quotes, constants and escapes.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Json,
    Python,
}

/// Writes one line: its values from `rng`, its layout (which keys, their order and quotes,
/// whitespace, stray bytes) from `layout`, so that a copy of `layout` writes the same layout
/// again with other values.
struct Writer<'r> {
    rng: &'r mut Rng,
    layout: Rng,
    form: Form,
    /// Values as a steady producer writes them: the usual kind for each field, plain symbols,
    /// ISO timestamps, plain numbers (so a run of lines keeps its layout, bar nudges).
    steady: bool,
}

impl Writer<'_> {
    /// Whitespace as producers and hand edits leave it: mostly one space, sometimes odd.
    fn ws(&mut self) -> &'static str {
        if self.layout.chance(95) {
            return if self.layout.chance(50) { " " } else { "" };
        }
        self.layout
            .pick(&["  ", "\t", "\r", "\n", " \t ", "\r\n", "\u{a0}", "\u{b}"])
    }

    fn quote(&mut self) -> char {
        match self.form {
            Form::Json if self.rng.chance(2) => '\'',
            Form::Json => '"',
            Form::Python if self.rng.chance(15) => '"',
            Form::Python => '\'',
        }
    }

    fn string(&mut self, body: &str) -> String {
        let q = self.quote();
        format!("{q}{body}{q}")
    }

    /// A key, quoted as the layout has it.
    fn key(&mut self, body: &str) -> String {
        let q = match self.form {
            Form::Json if self.layout.chance(2) => '\'',
            Form::Json => '"',
            Form::Python if self.layout.chance(15) => '"',
            Form::Python => '\'',
        };
        format!("{q}{body}{q}")
    }

    /// A symbol or category: plain mostly, else with escapes, non-ASCII, or odd characters.
    fn key_text(&mut self) -> String {
        let plain = format!("SYM{:03}", self.rng.below(1000));
        if self.steady || self.rng.chance(85) {
            return plain;
        }
        let pieces: &[&str] = match self.form {
            Form::Json => &[
                "\\\"",
                "\\\\",
                "\\n",
                "\\t",
                "\\/",
                "\\u00e9",
                "\\ud83d\\ude00",
                "\\u0000",
                "é",
                "株",
                "'",
                "\u{1}",
                "\\x41",
                " ",
                "",
            ],
            Form::Python => &[
                "\\'",
                "\\\\",
                "\\n",
                "\\x41",
                "\\u00e9",
                "\\U0001F600",
                "\\0",
                "\\q",
                "é",
                "株",
                "\"",
                "\u{1}",
                "\\x4",
                " ",
                "",
            ],
        };
        let mut s = String::new();
        for _ in 0..self.rng.below(4) {
            s.push_str(&plain[..self.rng.below(plain.len() as u64 + 1) as usize]);
            s.push_str(self.rng.pick(pieces));
        }
        s
    }

    /// A number in one of the spellings producers (and fuzzers) write.
    fn number(&mut self) -> String {
        let sign = if self.rng.chance(10) { "-" } else { "" };
        match if self.steady { 0 } else { self.rng.below(12) } {
            0..=3 => {
                let scale = 10f64.powi(self.rng.below(8) as i32);
                let x = self.rng.next() as f64 / u64::MAX as f64 * scale;
                let precision = self.rng.below(7) as usize;
                format!("{sign}{x:.precision$}")
            }
            4 => format!("{sign}{}", self.rng.below(1 << 40)),
            5 => {
                let exp = self.rng.below(800) as i64 - 400;
                let e = self.rng.pick(&["e", "E", "e+", "e-", "E-"]);
                format!(
                    "{sign}{}.{}{e}{}",
                    self.rng.below(10),
                    self.rng.digits(3),
                    exp.abs()
                )
            }
            6 => {
                // Up to 30 significant digits: beyond a u64 and beyond f64's 17.
                let n = 2 + self.rng.below(29) as usize;
                let k = 1 + self.rng.below(n as u64 - 1) as usize;
                let d = format!("{}{}", 1 + self.rng.below(9), self.rng.digits(n - 1));
                format!("{sign}{}.{}", &d[..k], &d[k..])
            }
            7 => {
                let n = 1 + self.rng.below(25) as usize;
                format!("{sign}{}", self.rng.digits(n))
            }
            8 => self
                .rng
                .pick(&[
                    "4.9e-324",
                    "5e-324",
                    "2.2250738585072014e-308",
                    "1.7976931348623157e308",
                    "1e-320",
                    "1e308",
                    "1e309",
                    "1e999",
                    "1125899906842624",
                    "1125899906842624.5",
                    "9223372036854775807",
                    "9223372036854775808",
                    "18446744073709551616",
                    "-9223372036854775808",
                    "0.1",
                    "0.30000000000000004",
                    "9007199254740993",
                    "123456789012345678901234567890",
                    "0e999999999999",
                    "1e-99999999999",
                ])
                .to_string(),
            9 => self
                .rng
                .pick(&[
                    "-0", "-0.0", "0", "00", "01.5", "1.", ".5", "+1", "1_000", "1__0", "inf",
                    "-inf", "nan", "NaN", "Infinity", "1e", "1e+", "--1", "0x10", "1.5.2",
                ])
                .to_string(),
            10 => {
                let n = 1 + self.rng.below(19) as usize;
                format!("{}.{}", self.rng.below(100), self.rng.digits(n))
            }
            _ => format!("{sign}{}e{}", self.rng.below(1000), self.rng.below(25)),
        }
    }

    /// A value of any kind, weighted towards what a field expects (`usual`).
    fn value(&mut self, usual: &mut dyn FnMut(&mut Self) -> String) -> String {
        if self.steady || self.rng.chance(95) {
            return usual(self);
        }
        let (t, f, n) = match self.form {
            Form::Json => ("true", "false", "null"),
            Form::Python => ("True", "False", "None"),
        };
        match self.rng.below(9) {
            0 => t.into(),
            1 => f.into(),
            2 => n.into(),
            3 => {
                let x = self.number();
                self.string(&x)
            }
            4 => format!("[1,{}{}]", self.ws(), self.number()),
            5 => {
                let k = self.string("a");
                format!("{{{k}: {{}}}}")
            }
            6 => format!("Decimal('{}')", self.number()),
            7 => "datetime.datetime(2025, 11, 20, 9, 30, 1, 500000)".into(),
            _ => self
                .rng
                .pick(&["true", "True", "nul", "Nonesuch", "x", "(1, 2)"])
                .into(),
        }
    }

    fn timestamp(&mut self) -> String {
        match if self.steady { 0 } else { self.rng.below(6) } {
            0..=2 => {
                let (s, ms) = (self.rng.below(3600), self.rng.below(1_000_000));
                let sep = self.rng.pick(&["T", "T", " ", "t"]);
                let zone = self.rng.pick(&["", "", "Z", "+08:00", "-0530", "+8", "z"]);
                let frac = match self.rng.below(3) {
                    0 => format!(".{ms:06}"),
                    1 => format!(".{}", ms / 1000),
                    _ => String::new(),
                };
                let ts = format!(
                    "2025-11-20{sep}{:02}:{:02}:{:02}{frac}{zone}",
                    9 + s / 3600,
                    s / 60 % 60,
                    s % 60
                );
                self.string(&ts)
            }
            3 => format!("{}", 1_763_631_000 + self.rng.below(100_000)),
            4 => {
                let unit = self.rng.pick(&["", "123", "123456", "123456789"]);
                let n = format!("{}{unit}", 1_763_631_000 + self.rng.below(100_000));
                if self.rng.chance(50) {
                    self.string(&n)
                } else {
                    format!("{n}.{}", self.rng.digits(3))
                }
            }
            _ => self.number(),
        }
    }

    /// One line: a tick or reading (or neither), fields shuffled, extras and faults mixed in.
    fn line(&mut self, names: &FieldNames) -> String {
        let tick = self.layout.chance(60);
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut field = |w: &mut Self, name: &str, gen: &mut dyn FnMut(&mut Self) -> String| {
            if !w.layout.chance(3) {
                let v = w.value(gen);
                pairs.push((name.to_string(), v));
            }
        };
        field(self, &names.timestamp, &mut |w| w.timestamp());
        if tick {
            field(self, &names.symbol, &mut |w| {
                let s = w.key_text();
                w.string(&s)
            });
            field(self, &names.price, &mut |w| w.number());
            field(self, &names.volume, &mut |w| {
                if w.rng.chance(80) {
                    w.rng.below(10_000).to_string()
                } else {
                    w.number()
                }
            });
        } else {
            field(self, &names.category, &mut |w| {
                let s = w.key_text();
                w.string(&s)
            });
            field(self, &names.value, &mut |w| w.number());
        }
        for _ in 0..self.layout.below(3) {
            let key = self
                .layout
                .pick(&["extra", "id", "ok", "note", "timestamp2"])
                .to_string();
            let v = self.value(&mut |w| w.number());
            pairs.push((key, v));
        }
        if self.layout.chance(2) && !pairs.is_empty() {
            let dup = pairs[0].clone();
            pairs.push(dup);
        }
        for i in (1..pairs.len()).rev() {
            pairs.swap(i, self.layout.below(i as u64 + 1) as usize);
        }
        let mut line = String::from(self.ws());
        line.push('{');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                line.push_str(self.ws());
                line.push(',');
            }
            let key = if self.layout.chance(1) {
                format!("{k}\\u0030")
            } else {
                k.clone()
            };
            line.push_str(self.ws());
            let quoted = self.key(&key);
            line.push_str(&quoted);
            line.push_str(self.ws());
            line.push(':');
            line.push_str(self.ws());
            line.push_str(v);
        }
        if self.layout.chance(2) {
            line.push(',');
        }
        line.push_str(self.ws());
        if !self.layout.chance(1) {
            line.push('}');
        }
        line.push_str(self.ws());
        if self.layout.chance(1) {
            line.push_str(self.layout.pick(&["x", "}", "{}", ",", "\0"]));
        }
        line
    }
}

/// Corrupts a few lines: a byte replaced, or the line cut short.
fn corrupt(rng: &mut Rng, line: String) -> Vec<u8> {
    let mut bytes = line.into_bytes();
    if rng.chance(3) && !bytes.is_empty() {
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] = *rng.pick(&[
            &b'"', &b'\'', &b'\\', &b'{', &b'}', &b',', &b':', &b'0', &b'e', &b'.', &b'-', &0xff,
        ]);
    }
    if rng.chance(1) && !bytes.is_empty() {
        bytes.truncate(rng.below(bytes.len() as u64) as usize);
    }
    bytes
}

/// Moves a line one byte off its layout: a byte replaced by, or a byte inserted before it, one
/// that matters to the layout or the scanner, or a byte removed.
fn nudge(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let at = rng.below(bytes.len() as u64) as usize;
    let byte = *rng.pick(&[
        &b' ', &b'\t', &b'"', &b'\'', &b'\\', &b',', &b':', &b'}', &b'{', &b'x', &b'0', &b'-',
        &b'.', &b'e', &1, &0xc3,
    ]);
    match rng.below(3) {
        0 => bytes[at] = byte,
        1 => bytes.insert(at, byte),
        _ => {
            bytes.remove(at);
        }
    }
}

/// Records equal with floats compared by their bits (so `-0.0` and `0.0` differ); rejects
/// equal in reason and detail.
fn same(a: &Result<Record<'_>, Rejection>, b: &Result<Record<'_>, Rejection>) -> bool {
    match (a, b) {
        (Ok(Record::Tick(x)), Ok(Record::Tick(y))) => {
            x.time == y.time
                && x.symbol == y.symbol
                && x.price.to_bits() == y.price.to_bits()
                && x.volume == y.volume
        }
        (Ok(Record::Reading(x)), Ok(Record::Reading(y))) => {
            x.time == y.time && x.category == y.category && x.value.to_bits() == y.value.to_bits()
        }
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

#[test]
fn fast_path_and_full_readers_agree_on_a_million_random_lines() {
    let env = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| v.parse().expect("a whole number"))
    };
    let lines = env("TICKFLOW_DIFF_LINES", 1_000_000);
    let mut rng = Rng(env("TICKFLOW_DIFF_SEED", 17));
    let renamed = FieldNames {
        symbol: "symbol".into(),
        timestamp: "ts".into(),
        ..FieldNames::default()
    };
    // Names that would need escaping in a line: written raw, they read as other keys.
    let escaped = FieldNames {
        category: "cat\\t".into(),
        price: "pr\"ice".into(),
        ..FieldNames::default()
    };
    let name_sets = [FieldNames::default(), renamed, escaped];
    // One parser per set of names, each line through the one for its names, as one worker.
    let mut parsers: Vec<LineParser> = name_sets.iter().cloned().map(LineParser::new).collect();
    let horizon = Horizon::UNBOUNDED;
    let (mut fast, mut accepted, mut by_layout) = (0u64, 0u64, 0u64);
    // The names, form, layout and steadiness of the line before, which the next line shares
    // in 3 of 4.
    let mut last: Option<(usize, Form, Rng, bool)> = None;
    for i in 0..lines {
        let related = last.is_some() && rng.chance(75);
        let (set, form, layout, steady) = match last.take() {
            Some(last) if related => last,
            _ => {
                let set = [0, 0, 0, 1, 0, 0, 0, 2][i as usize % 8];
                let form = if rng.chance(50) {
                    Form::Json
                } else {
                    Form::Python
                };
                (set, form, Rng(rng.next()), rng.chance(50))
            }
        };
        let names = &name_sets[set];
        let text = Writer {
            rng: &mut rng,
            layout: layout.clone(),
            form,
            steady,
        }
        .line(names);
        last = Some((set, form, layout, steady));
        let mut line = corrupt(&mut rng, text);
        if related && rng.chance(20) {
            nudge(&mut rng, &mut line);
        }
        by_layout += u64::from(parsers[set].takes_layout(&line));
        let got = parse_line_at(&line, names, &horizon);
        let cached = parsers[set].parse(&line, &horizon);
        let want = parse_line_full(&line, names, &horizon);
        assert!(
            same(&got, &want) && same(&cached, &want),
            "line {i}: {:?}\nfast path: {got:?}\nline parser: {cached:?}\n\
             full readers: {want:?}",
            String::from_utf8_lossy(&line)
        );
        fast += u64::from(takes_fast_path(&line, names));
        accepted += u64::from(want.is_ok());
    }
    println!(
        "{lines} lines: {fast} on the fast path, {by_layout} of them by the last line's \
         layout, {accepted} accepted"
    );
    assert!(
        by_layout * 100 > lines && by_layout < fast,
        "{by_layout} of {lines} read by the layout of the line before"
    );
    // Both paths and both outcomes are exercised in earnest.
    assert!(
        fast * 4 > lines && fast * 4 < lines * 3,
        "{fast} of {lines} on the fast path"
    );
    assert!(
        accepted * 5 > lines && accepted * 5 < lines * 4,
        "{accepted} of {lines} accepted"
    );
}
