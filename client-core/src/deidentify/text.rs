//! Tokens with byte offsets, sentence starts and folded (lower-case, accent-free) forms.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    Word,
    Num,
    Punct,
}

#[derive(Debug, Clone)]
pub struct Tok<'a> {
    pub start: usize,
    pub end: usize,
    pub t: T,
    pub text: &'a str,
    /// Lower case, accents removed.
    pub low: String,
    /// Begins with a capital (after a leading `'s-` or `'t `).
    pub cap: bool,
    /// The first word of a sentence, a line or a quote: its capital says nothing.
    pub sent: bool,
}

/// Lower case with the accents of Latin letters removed (`Gülay` → `gulay`).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        for l in c.to_lowercase() {
            out.push(match l {
                'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'ą' => 'a',
                'è' | 'é' | 'ê' | 'ë' | 'ę' => 'e',
                'ì' | 'í' | 'î' | 'ï' | 'ı' => 'i',
                'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
                'ù' | 'ú' | 'û' | 'ü' => 'u',
                'ç' | 'ć' | 'č' => 'c',
                'ş' | 'ś' | 'š' => 's',
                'ğ' => 'g',
                'ł' => 'l',
                'ń' | 'ñ' => 'n',
                'ż' | 'ź' | 'ž' => 'z',
                'ý' | 'ÿ' => 'y',
                '’' => '\'',
                other => other,
            });
        }
    }
    out
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

/// Abbreviations after which a full stop does not end the sentence.
const ABBREVIATIONS: &[&str] = &[
    "mw", "mevr", "dhr", "hr", "dr", "drs", "mr", "ir", "ing", "fam", "st", "jr", "sr", "nr", "ca",
    "bv", "evt", "o.a", "m.b.t", "t.a.v", "z.g.a.n",
];

pub fn tokens(text: &str) -> Vec<Tok<'_>> {
    let mut out: Vec<Tok<'_>> = Vec::with_capacity(text.len() / 5);
    let mut chars = text.char_indices().peekable();
    let mut sent = true;
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            if c == '\n' {
                sent = true;
            }
            chars.next();
            continue;
        }
        let (end, t) = if c.is_alphabetic() || (is_apostrophe(c) && leading_elision(&text[i..])) {
            let mut end = i + c.len_utf8();
            chars.next();
            if is_apostrophe(c) {
                // `'s-`, `'t `, `'s `: take the letter and a hyphen with the word.
                if let Some((j, l)) = chars.next() {
                    end = j + l.len_utf8();
                }
                if let Some(&(j, '-')) = chars.peek() {
                    end = j + 1;
                    chars.next();
                }
            }
            while let Some(&(j, d)) = chars.peek() {
                let rest = &text[j + d.len_utf8()..];
                let joins = (d == '-' || is_apostrophe(d))
                    && rest.chars().next().is_some_and(char::is_alphabetic)
                    // `Fatima's`: the possessive is not part of the name.
                    && !(is_apostrophe(d)
                        && rest.starts_with('s')
                        && !rest[1..].chars().next().is_some_and(char::is_alphabetic));
                if d.is_alphabetic() || joins {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            (end, T::Word)
        } else if c.is_ascii_digit() {
            let mut end = i + 1;
            chars.next();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            (end, T::Num)
        } else {
            chars.next();
            (i + c.len_utf8(), T::Punct)
        };
        let s = &text[i..end];
        let cap = t == T::Word && {
            let body = s
                .strip_prefix("'s-")
                .or_else(|| s.strip_prefix("'t-"))
                .or_else(|| s.strip_prefix("’s-"))
                .unwrap_or(s);
            body.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(char::is_uppercase)
        };
        let tok = Tok {
            start: i,
            end,
            t,
            text: s,
            low: if t == T::Word { fold(s) } else { s.to_string() },
            cap,
            sent,
        };
        sent = match t {
            T::Punct => match s {
                "." => {
                    // `14.30` is a time; `mw.` an abbreviation.
                    let prev = out.last();
                    let abbrev = prev.is_some_and(|p| {
                        p.t == T::Word
                            && (ABBREVIATIONS.contains(&p.low.as_str())
                                || p.text.chars().count() == 1)
                    });
                    !abbrev
                }
                "!" | "?" | ":" | ";" | "…" | "•" => true,
                // Quotes and brackets keep what came before.
                "\"" | "“" | "”" | "„" | "(" | "'" | "‘" | "-" | "–" | "*" => sent,
                _ => false,
            },
            _ => false,
        };
        out.push(tok);
    }
    out
}

/// `'s-Gravenzande`, `'t Woudje`, `'s avonds`.
fn leading_elision(s: &str) -> bool {
    let mut c = s.chars();
    c.next();
    matches!(
        (c.next(), c.next()),
        (Some('s' | 't'), Some('-' | ' ')) | (Some('s' | 't'), None)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_numbers_and_sentence_starts() {
        let t = tokens("Fatima's zoon woont in 's-Gravenzande. Mw. Jansen belde om 14.30 uur.");
        let texts: Vec<&str> = t.iter().map(|t| t.text).collect();
        assert_eq!(
            texts,
            [
                "Fatima",
                "'s",
                "zoon",
                "woont",
                "in",
                "'s-Gravenzande",
                ".",
                "Mw",
                ".",
                "Jansen",
                "belde",
                "om",
                "14",
                ".",
                "30",
                "uur",
                "."
            ]
        );
        assert!(t[0].sent && t[5].cap && !t[5].sent);
        assert!(t[7].sent && !t[9].sent && t[9].cap);
        assert_eq!(fold("Gülay Öztürk"), "gulay ozturk");
    }
}
