//! Escaping for every output format the workspace writes: one function per format, used by every
//! writer of that format. Story text is written by field members (and, through them, by anyone
//! they talk to), so it must never become a formula, markup or a link in what coordinators open.
//!
//! - [`csv_field`]: spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a
//!   carriage return as a formula (OWASP "CSV injection"); such a field gets a leading `'`.
//! - [`xml`]: XML 1.0 (and HTML/SVG) text and attribute values; characters XML 1.0 does not allow
//!   are dropped, since one of them makes the whole document unreadable.
//! - [`markdown`]: inline Markdown text in which no link, image, autolink, HTML, code or
//!   emphasis can form.

/// One CSV field, quoted when needed. A field that a spreadsheet would take for a formula gets a
/// leading `'`, so its text is shown, never run.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Whether XML 1.0 allows `c` in a document (production `Char`). Surrogates cannot occur in a
/// Rust `char`.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escape text for XML and HTML, in element content and attribute values (quoted with `"` or
/// `'`). Characters XML 1.0 does not allow (C0 controls other than tab and line breaks, U+FFFE,
/// U+FFFF) are dropped.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Text for one line of Markdown (a heading, a table cell, a list item, a quote), as literal
/// text. Line breaks become spaces. Every ASCII punctuation character that can open or close an
/// inline construct is backslash-escaped (CommonMark shows an escaped punctuation character as
/// itself): `[ ] ( ) !` (links, images, footnotes), `< >` (HTML, autolinks, quotes), `` ` ``
/// (code), `* _ ~` (emphasis, strikethrough), `|` (tables), `#`, `&` (entities), `\`, `$` (maths
/// in some renderers), `{ }` and `@` (address autolinks). So is a `:` followed by anything but a
/// space (the scheme of an autolink: `http://…`, `javascript:…`, `mailto:…`) and the dot of
/// `www.`. At the start of the text, where a line may begin, so are `-`, `+`, `=` and the `.` or
/// `)` after a number (lists, setext headings). Prose stays readable: `Ze zei: ja.` is unchanged.
pub fn markdown(s: &str) -> String {
    let chars: Vec<char> = s
        .chars()
        .map(|c| if matches!(c, '\n' | '\r') { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let leading_digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '!' | '<' | '>' | '#' | '|'
            | '&' | '$' | '{' | '}' | '@' => true,
            ':' => chars.get(i + 1).is_some_and(|n| !n.is_whitespace()),
            '-' | '+' | '=' => i == 0,
            '.' => {
                (i > 0 && i == leading_digits)
                    || (i >= 3 && chars[i - 3..i].iter().all(|w| w.eq_ignore_ascii_case(&'w')))
            }
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10, finding 11: a leading tab or carriage return passed, and spreadsheets take
    /// `\t=…` for a formula too.
    #[test]
    fn csv_fields_never_start_a_formula() {
        for (input, want) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+31 6 1234", "'+31 6 1234"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "\"'\r=1+1\""),
            ("a,b", "\"a,b\""),
            ("zei \"ja\"", "\"zei \"\"ja\"\"\""),
            ("gewoon", "gewoon"),
            ("1-2", "1-2"),
        ] {
            assert_eq!(csv_field(input), want, "{input:?}");
        }
    }

    /// Issue 10, finding 11: U+FFFF in a story title made the `.qdpx` project invalid XML.
    #[test]
    fn xml_drops_what_xml_does_not_allow() {
        let nasty = "a\u{0}b\u{8}c\u{b}\u{c}d\u{1f}e\u{fffe}f\u{ffff}g\th\ni\rj\u{fffd}k\u{1f600}";
        assert_eq!(xml(nasty), "abcdefg\th\ni\rj\u{fffd}k\u{1f600}");
        assert_eq!(
            xml("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let kept = !xml(&c.to_string()).is_empty();
            let allowed =
                matches!(c as u32, 0x9 | 0xa | 0xd | 0x20..=0xd7ff | 0xe000..=0xfffd | 0x10000..);
            assert_eq!(kept, allowed, "U+{:04X}", c as u32);
        }
    }

    /// Issue 10, finding 11: story text made images, links and HTML in the Markdown report.
    #[test]
    fn markdown_forms_no_link_image_or_html() {
        let text = "Kijk ![](http://evil/x.png) en [x](javascript:alert(1)) of <img src=x onerror=alert(1)> \
                    `code` *nadruk* <http://evil> www.evil.nl mail@evil.nl [^1] | ~~weg~~";
        let md = markdown(text);
        // Every character that could open or close a construct is escaped where it occurs.
        let chars: Vec<char> = md.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if "[]()!<>`*~|:@".contains(*c) {
                assert!(
                    i > 0 && chars[i - 1] == '\\',
                    "unescaped {c} at {i} in {md}"
                );
            }
        }
        assert!(md.contains(r"www\.evil.nl"), "{md}");
        assert_eq!(
            markdown("![](http://evil/x.png)"),
            r"\!\[\]\(http\://evil/x.png\)"
        );
        assert_eq!(
            markdown("[x](javascript:alert(1))"),
            r"\[x\]\(javascript\:alert\(1\)\)"
        );
        assert_eq!(
            markdown("<img src=x onerror=alert(1)>"),
            r"\<img src=x onerror=alert\(1\)\>"
        );
        // Prose stays readable; line breaks cannot start a block.
        assert_eq!(
            markdown("Ze zei: ja, goed.\n# kop"),
            r"Ze zei: ja, goed. \# kop"
        );
        assert_eq!(markdown("a:b 1 + 1 = 2"), r"a\:b 1 + 1 = 2");
        // At the start of a line: no list item.
        assert_eq!(markdown("- item"), r"\- item");
        assert_eq!(markdown("12. item"), r"12\. item");
        assert_eq!(markdown("+ item"), r"\+ item");
        assert_eq!(markdown("==="), r"\===");
        assert_eq!(markdown("2025-Q3 ok-ja"), "2025-Q3 ok-ja");
        assert_eq!(markdown("a\\b"), r"a\\b");
    }
}
