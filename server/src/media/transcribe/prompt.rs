//! Whisper's initial prompt, built from the workspace's taxonomy at run time.
//!
//! Whisper continues the text it is given: a prompt that names the coalition's activities and
//! professions (VoorZorg, Stevig Ouderschap, jeugdverpleegkundige, kraamverzorgende,
//! consultatiebureau, …) makes those words come out spelled as the coalition spells them. The
//! words come from the taxonomy only (the default one with the workspace's own activities), never
//! from the evaluation set, and only for Dutch: a Dutch prompt would pull other languages towards
//! Dutch.

use crate::tagging::taxonomy::{Entry, Taxonomy};

/// At most this many characters: Whisper keeps at most half its text context (224 tokens) of a
/// prompt, and every prompt token is decoded along with every window.
pub const MAX_CHARS: usize = 400;

/// The names of an entry: `Prenataal huisbezoek (Goede Start Gesprek)` gives both, `Video-
/// hometraining (VHT)` both, `CenteringPregnancy / CenteringParenting` both, `Consultatiebureau of
/// praktijk` both.
fn names(e: &Entry) -> Vec<String> {
    e.name
        .split(['(', ')', '/', ','])
        .flat_map(|p| p.split(" of "))
        .map(|p| p.trim())
        // An explanation in lower case ("gezond zwanger worden") is not a name.
        .filter(|p| p.chars().next().is_some_and(char::is_uppercase))
        .map(str::to_string)
        .collect()
}

/// A common noun in the middle of a sentence: `Verloskundige` → `verloskundige` (names with more
/// capitals, `VoorZorg`, `JGZ`, stay as they are).
fn common_noun(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if name.chars().skip(1).all(|c| !c.is_uppercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => name.to_string(),
    }
}

/// Up to `room` characters of `names` (not yet `seen`), each at most three words, joined as a
/// Dutch list (`a, b en c`).
fn list(names: Vec<String>, seen: &mut std::collections::BTreeSet<String>, room: usize) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut used = 0;
    for name in names {
        // Catch-all and explanatory names ("Ergens anders", "gezond zwanger worden") teach no
        // words.
        if name.split_whitespace().count() > 3 || name == "Ergens anders" {
            continue;
        }
        if used + name.len() + 2 > room || !seen.insert(name.to_lowercase()) {
            continue;
        }
        used += name.len() + 2;
        kept.push(name);
    }
    match kept.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} en {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The prompt for Dutch recordings: two plain sentences, as a transcript would read, naming the
/// current activities and then the professions and places of the taxonomy, at most
/// [`MAX_CHARS`]. (A bare list of words makes Whisper answer in lists.)
pub fn initial_prompt(taxonomy: &Taxonomy) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let activities = taxonomy
        .activities
        .iter()
        .filter(|e| !e.retired)
        .flat_map(names)
        .collect();
    let activities = list(activities, &mut seen, MAX_CHARS * 11 / 20);
    // Professions first, then places (`Consultatiebureau`), while there is room.
    let people = taxonomy
        .roles
        .iter()
        .filter(|r| r.kind.as_deref() == Some("recorder"))
        .chain(taxonomy.place_types.iter())
        .filter(|e| !e.retired)
        .flat_map(names)
        .map(|n| common_noun(&n))
        .collect();
    let people = list(people, &mut seen, MAX_CHARS * 3 / 10);
    let mut out = String::from("Een verhaal over Kansrijke Start");
    if !activities.is_empty() {
        out.push_str(&format!(", over {activities}"));
    }
    out.push('.');
    if !people.is_empty() {
        out.push_str(&format!(" Met de {people}."));
    }
    out
}

/// [`initial_prompt`] of the default taxonomy (`vertel-server transcribe` without a workspace).
pub fn default_prompt() -> String {
    crate::tagging::default_taxonomy()
        .map(initial_prompt)
        .unwrap_or_default()
}

/// How the server transcribes a story's voice notes: the default decoding with the prompt of the
/// story's workspace's taxonomy (the default prompt when the workspace cannot be read), and the
/// languages the workspace expects (empty: the server's, [`super::language::expected`]).
pub async fn for_story(db: &crate::db::Db, doc_id: &str) -> (super::Decoding, Vec<String>) {
    let workspace = match db.doc_meta(doc_id, 0).await {
        Ok(Some((meta, _))) => Some(meta.workspace_id),
        _ => None,
    };
    let (own, languages) = match workspace {
        Some(ws) => (
            db.workspace_activities(ws).await.unwrap_or_default(),
            db.workspace_languages(ws).await.unwrap_or_default(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let prompt = match crate::tagging::default_taxonomy() {
        Ok(base) => initial_prompt(&base.merged(&own)),
        Err(_) => String::new(),
    };
    let decoding = super::Decoding {
        prompt: Some(prompt),
        ..super::Decoding::default()
    };
    (decoding, languages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_names_activities_and_professions_within_its_limit() {
        let p = default_prompt();
        assert!(p.len() <= MAX_CHARS + 1, "{} chars: {p}", p.len());
        for word in ["VoorZorg", "Stevig Ouderschap", "Goede Start Gesprek"] {
            assert!(p.contains(word), "{word} missing from {p}");
        }
        assert!(p.contains("kraamverzorgende"), "{p}");
        assert!(p.ends_with('.') && !p.contains(",,"), "{p}");
    }

    #[test]
    fn a_workspace_s_own_activity_is_in_its_prompt_and_a_retired_one_is_not() {
        let mut t = Taxonomy::default();
        t.activities.push(Entry {
            code: "taalcafe".into(),
            name: "Taalcafé Oost".into(),
            ..Entry::default()
        });
        t.activities.push(Entry {
            code: "oud".into(),
            name: "Oude Werkwijze".into(),
            retired: true,
            ..Entry::default()
        });
        let p = initial_prompt(&t);
        assert!(
            p.contains("Taalcafé Oost") && !p.contains("Oude Werkwijze"),
            "{p}"
        );
    }
}
