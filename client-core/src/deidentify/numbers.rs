//! Identifiers found by their shape: e-mail addresses, postcodes, phone numbers, BSNs and dates
//! written in digits. One pass over the bytes; digits separated by spaces, hyphens, dots, slashes
//! and brackets are read as one run and classified by what its digits can be.

use super::{Kind, Span};

pub fn find(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    emails(text, &mut out);
    postcodes(text, &mut out);
    runs(text, &mut out);
    out
}

/// `at` lies in one of `spans` (sorted, not overlapping).
fn covered(spans: &[(usize, usize)], at: usize) -> bool {
    let i = spans.partition_point(|s| s.1 <= at);
    spans.get(i).is_some_and(|s| s.0 <= at)
}

fn email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn email_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn emails(text: &str, out: &mut Vec<Span>) {
    let b = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && email_local(b[s - 1]) {
            s -= 1;
        }
        while s < at && !b[s].is_ascii_alphanumeric() {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && email_domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && !b[e - 1].is_ascii_alphanumeric() {
            e -= 1;
        }
        let domain = &text[at + 1..e];
        let tld_ok = domain.rsplit_once('.').is_some_and(|(d, tld)| {
            !d.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
        });
        if s < at && tld_ok {
            out.push(Span {
                start: s,
                end: e,
                kind: Kind::Email,
                reason: "e-mail address",
            });
        }
    }
}

/// Two letters after four digits that are a Dutch word or a unit, not a postcode.
const NOT_POSTCODE: &[&str] = &[
    "en", "op", "in", "te", "is", "de", "na", "om", "al", "zo", "ik", "je", "we", "ze", "er", "of",
    "km", "kg", "cm", "mm", "ml", "gr", "uur", "nu", "ca", "jr",
];

fn postcodes(text: &str, out: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 6 <= b.len() {
        let four = b[i..i + 4].iter().all(u8::is_ascii_digit);
        let before_ok = i == 0 || !(b[i - 1].is_ascii_alphanumeric());
        if !(four && before_ok && b[i] != b'0') || b.get(i + 4).is_some_and(u8::is_ascii_digit) {
            i += 1;
            continue;
        }
        let mut j = i + 4;
        if b.get(j) == Some(&b' ') {
            j += 1;
        }
        let letters = b
            .get(j..j + 2)
            .filter(|l| l.iter().all(u8::is_ascii_alphabetic));
        let after_ok = b.get(j + 2).is_none_or(|c| !c.is_ascii_alphanumeric());
        if let (Some(l), true) = (letters, after_ok) {
            let upper = l.iter().all(u8::is_ascii_uppercase);
            let lower = l.iter().all(u8::is_ascii_lowercase);
            let pair = std::str::from_utf8(l).unwrap_or_default();
            let ok = (upper && !matches!(pair, "SA" | "SD" | "SS"))
                || (lower && !NOT_POSTCODE.contains(&pair));
            if ok {
                out.push(Span {
                    start: i,
                    end: j + 2,
                    kind: Kind::Postcode,
                    reason: "postcode (four digits, two letters)",
                });
                i = j + 2;
                continue;
            }
        }
        i += 1;
    }
}

/// One group of digits in a run, with the separator before it.
struct Group {
    start: usize,
    end: usize,
    sep: u8,
}

/// After a run, words that make it a quantity rather than a date.
const UNITS: &[&str] = &[
    "weken", "week", "jaar", "keer", "uur", "maanden", "maand", "dagen", "dag", "euro", "kilo",
    "cm", "minuten", "procent", "%", "kinderen", "gezinnen", "mensen",
];

fn runs(text: &str, out: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut before: Vec<(usize, usize)> = out.iter().map(|s| (s.start, s.end)).collect();
    before.sort_unstable();
    before.dedup_by(|b, a| b.0 < a.1);
    while i < b.len() {
        let c = b[i];
        let starts = c.is_ascii_digit()
            || ((c == b'+' || c == b'(') && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        let before_ok =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.' || b[i - 1] == b',');
        if !starts || !before_ok || covered(&before, i) {
            i += 1;
            continue;
        }
        let plus = c == b'+';
        let mut groups: Vec<Group> = Vec::new();
        let mut j = if c.is_ascii_digit() { i } else { i + 1 };
        let mut sep = 0u8;
        loop {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push(Group {
                start: s,
                end: j,
                sep,
            });
            if covered(&before, s) {
                groups.pop();
                break;
            }
            // A separator: spaces, one of - . / and brackets, at most three bytes.
            let mut k = j;
            let mut mark = 0u8;
            let mut ok = true;
            while k < b.len() && k - j < 4 {
                match b[k] {
                    b' ' | b'(' | b')' => k += 1,
                    b'-' | b'.' | b'/' if mark == 0 => {
                        mark = b[k];
                        k += 1;
                    }
                    0xc2 if b.get(k + 1) == Some(&0xa0) => k += 2,
                    _ => break,
                }
            }
            if k == j || k >= b.len() || !b[k].is_ascii_digit() {
                ok = false;
            }
            // A full stop then a space ends a sentence, not a number.
            if mark == b'.' && k > j + 1 && b[j] == b'.' && b[j + 1] == b' ' {
                ok = false;
            }
            if !ok {
                break;
            }
            sep = if mark != 0 { mark } else { b' ' };
            j = k;
        }
        if groups.is_empty() {
            i += 1;
            continue;
        }
        // The longest prefix of groups that is something.
        let mut used = 0;
        for n in (1..=groups.len()).rev() {
            let g = &groups[..n];
            let after = &text[g[n - 1].end..];
            if let Some((kind, reason)) = classify(text, g, plus, after) {
                let start = if plus || c == b'(' { i } else { g[0].start };
                let mut end = g[n - 1].end;
                if b.get(end) == Some(&b')') && c == b'(' {
                    end += 1;
                }
                out.push(Span {
                    start,
                    end,
                    kind,
                    reason,
                });
                used = n;
                break;
            }
        }
        i = if used > 0 {
            groups[used - 1].end
        } else {
            groups[0].end.max(i + 1)
        };
    }
}

fn classify(text: &str, g: &[Group], plus: bool, after: &str) -> Option<(Kind, &'static str)> {
    let digits: String = g.iter().map(|x| &text[x.start..x.end]).collect();
    let len = |x: &Group| x.end - x.start;
    // Dates: 03-11-1996, 3/11/96, 2024-03-14, 16-01.
    let seps: Vec<u8> = g.iter().skip(1).map(|x| x.sep).collect();
    let one_sep = seps
        .first()
        .copied()
        .filter(|s| seps.iter().all(|t| t == s));
    let next_word = after
        .trim_start()
        .split(|c: char| !c.is_alphanumeric() && c != '%')
        .next()
        .unwrap_or("")
        .to_lowercase();
    if !plus && let Some(sep) = one_sep {
        let n = |x: &Group| text[x.start..x.end].parse::<u32>().unwrap_or(0);
        let day_month = |d: &Group, m: &Group| {
            (1..=31).contains(&n(d)) && (1..=12).contains(&n(m)) && len(d) <= 2 && len(m) <= 2
        };
        if g.len() == 3 && matches!(sep, b'-' | b'/' | b'.') {
            if day_month(&g[0], &g[1]) && matches!(len(&g[2]), 2 | 4) {
                return Some((Kind::Datum, "date in digits"));
            }
            if len(&g[0]) == 4 && day_month(&g[2], &g[1]) && sep == b'-' {
                return Some((Kind::Datum, "date in digits (year first)"));
            }
        }
        if g.len() == 2
            && matches!(sep, b'-' | b'/')
            && day_month(&g[0], &g[1])
            && len(&g[0]) + len(&g[1]) >= 3
            && !UNITS.contains(&next_word.as_str())
        {
            return Some((Kind::Datum, "day and month in digits"));
        }
    }
    // Phone numbers.
    let mut d = digits.as_str();
    let international = if plus {
        d = d.strip_prefix("31")?;
        true
    } else if let Some(rest) = d.strip_prefix("0031") {
        d = rest;
        true
    } else {
        false
    };
    let national: String = if international {
        format!("0{}", d.strip_prefix('0').unwrap_or(d))
    } else {
        d.to_string()
    };
    let service = ["0800", "0900", "0906", "0909"]
        .iter()
        .any(|p| national.starts_with(p));
    if national.starts_with('0')
        && ((national.len() == 10 && !national.starts_with("00"))
            || (service && matches!(national.len(), 8 | 11)))
    {
        return Some((Kind::Telefoon, "phone number"));
    }
    if international {
        return None;
    }
    // BSN: nine digits (in one group or as 123.456.789, 1234.56.789, 123 45 6789) that pass the
    // 11-proef.
    let shape: Vec<usize> = g.iter().map(len).collect();
    let same_sep = g.iter().skip(1).all(|x| x.sep == g[1].sep);
    if digits.len() == 9
        && (shape == [9]
            || (same_sep
                && matches!(g[1].sep, b'.' | b' ' | b'-')
                && matches!(shape.as_slice(), [3, 3, 3] | [4, 2, 3])))
        && elfproef(&digits)
    {
        return Some((Kind::Bsn, "BSN (passes the 11-proef)"));
    }
    None
}

/// The BSN 11-proef: 9·d1 + 8·d2 + … + 2·d8 − d9 is a multiple of 11 (and not zero).
pub fn elfproef(digits: &str) -> bool {
    let d: Vec<i64> = digits.bytes().map(|c| i64::from(c - b'0')).collect();
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i64 = d[..8]
        .iter()
        .enumerate()
        .map(|(i, &x)| (9 - i as i64) * x)
        .sum::<i64>()
        - d[8];
    sum % 11 == 0
}

/// Digits spoken as words (`nul zes twee vier ...`): the digit they stand for.
pub fn spoken_digit(low: &str) -> Option<char> {
    Some(match low {
        "nul" => '0',
        "een" | "één" | "eén" => '1',
        "twee" => '2',
        "drie" => '3',
        "vier" => '4',
        "vijf" => '5',
        "zes" => '6',
        "zeven" => '7',
        "acht" => '8',
        "negen" => '9',
        _ => return None,
    })
}

/// What a run of spoken digits is: a phone number or a BSN.
pub fn classify_digits(digits: &str) -> Option<(Kind, &'static str)> {
    if digits.len() == 10 && digits.starts_with('0') && !digits.starts_with("00") {
        Some((Kind::Telefoon, "phone number in spoken digits"))
    } else if digits.len() == 9 && elfproef(digits) {
        Some((Kind::Bsn, "BSN in spoken digits (passes the 11-proef)"))
    } else {
        None
    }
}
