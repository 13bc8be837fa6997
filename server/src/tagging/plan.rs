//! The tagger's merge rule: the tag edits that bring a story's tags in line with new suggestions
//! without touching what a person decided, and what a story people judged teaches the learned
//! model. Pure functions over a story's tag versions, tested directly; nothing here reads the
//! database or writes a document (the worker does, [`super::worker`]).

use super::TAGGER_ID;
use super::model::Example;
use super::story_text;
use super::tagger::{Suggestion, Tagger};
use client_core::story::{Story, Tag, TagState, TagWrite};
use std::collections::BTreeMap;

/// What a story people judged teaches: per activity of `rules`, whether it is about it. A
/// person's tag (confirmed or their own suggestion: yes; rejected: no) says so; an activity no
/// person tagged counts as no, unless the tagger's suggestion for it still waits for a decision.
/// `None` when no person tagged any activity of it.
pub fn judged_example(
    rules: &Tagger,
    s: &Story,
    versions: &BTreeMap<String, Vec<Tag>>,
) -> Option<Example> {
    let mut labels = BTreeMap::new();
    let mut judged = false;
    for (code, _) in rules.activities() {
        match versions.get(code).and_then(|all| all.first()) {
            Some(t) if is_persons(t) => {
                judged = true;
                labels.insert(code.to_string(), t.state != TagState::Rejected);
            }
            Some(_) => {}
            None => {
                labels.insert(code.to_string(), false);
            }
        }
    }
    judged.then(|| Example {
        text: story_text(s),
        labels,
        weight: 1,
    })
}
fn is_persons(t: &Tag) -> bool {
    t.by != TAGGER_ID
}

fn is_decision(t: &Tag) -> bool {
    is_persons(t) && matches!(t.state, TagState::Confirmed | TagState::Rejected)
}

/// The tag edits that bring a story's tags in line with `suggestions` without touching what a
/// person decided. `versions` is [`story::tag_versions`]: every value of every tag, the visible one
/// first. Pure, so it is tested directly.
pub fn plan(
    versions: &BTreeMap<String, Vec<Tag>>,
    suggestions: &[Suggestion],
    now_ms: i64,
) -> Vec<TagWrite> {
    let mut writes = Vec::new();
    // A person's decision that lost a concurrent write to the tagger (or to another person's
    // suggestion) goes back on top. Between two decisions the later one wins; on a tie, reject.
    for (code, all) in versions {
        let Some(visible) = all.first() else { continue };
        if is_decision(visible) {
            continue;
        }
        let best = all.iter().filter(|t| is_decision(t)).max_by(|a, b| {
            a.at.cmp(&b.at)
                .then((a.state == TagState::Rejected).cmp(&(b.state == TagState::Rejected)))
                .then(a.by.cmp(&b.by))
        });
        if let Some(decision) = best {
            writes.push(TagWrite::Replace(Tag {
                code: code.clone(),
                ..decision.clone()
            }));
        }
    }
    for s in suggestions {
        let evidence = s.evidence_words();
        match versions.get(&s.code) {
            None => writes.push(TagWrite::Update(Tag {
                code: s.code.clone(),
                state: TagState::Suggested,
                by: TAGGER_ID.into(),
                at: now_ms,
                score: Some(s.score),
                evidence,
            })),
            Some(all) => {
                // Anything a person wrote, in any concurrent value, stays as it is.
                if all.iter().any(is_persons) {
                    continue;
                }
                let visible = &all[0];
                if visible.state == TagState::Suggested
                    && visible.score == Some(s.score)
                    && visible.evidence == evidence
                {
                    continue;
                }
                writes.push(TagWrite::Update(Tag {
                    code: s.code.clone(),
                    state: TagState::Suggested,
                    by: TAGGER_ID.into(),
                    at: visible.at,
                    score: Some(s.score),
                    evidence,
                }));
            }
        }
    }
    // The tagger's own suggestions the text no longer supports.
    for (code, all) in versions {
        let only_ours = all
            .iter()
            .all(|t| !is_persons(t) && t.state == TagState::Suggested);
        if only_ours && !suggestions.iter().any(|s| &s.code == code) {
            writes.push(TagWrite::Remove(code.clone()));
        }
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::tagger::Evidence;
    use crate::tagging::taxonomy::Dimension;

    fn suggestion(code: &str, score: f64, words: &[&str]) -> Suggestion {
        Suggestion {
            code: code.into(),
            dimension: Dimension::of_tag(code).0,
            name: code.into(),
            score,
            evidence: words
                .iter()
                .map(|w| Evidence {
                    text: w.to_string(),
                    term: w.to_lowercase(),
                    weight: 1.0,
                })
                .collect(),
        }
    }

    fn tag(code: &str, state: TagState, by: &str, at: i64) -> Tag {
        Tag {
            code: code.into(),
            state,
            by: by.into(),
            at,
            score: None,
            evidence: vec![],
        }
    }

    fn versions(tags: &[&[Tag]]) -> BTreeMap<String, Vec<Tag>> {
        tags.iter()
            .map(|all| (all[0].code.clone(), all.to_vec()))
            .collect()
    }
    #[test]
    fn new_suggestions_are_written_and_unchanged_ones_are_not() {
        let s = [suggestion("voorzorg", 1.0, &["VoorZorg"])];
        let w = plan(&BTreeMap::new(), &s, 5);
        assert_eq!(w.len(), 1);
        let TagWrite::Update(t) = &w[0] else {
            panic!("{w:?}")
        };
        assert_eq!(
            (t.state, t.by.as_str(), t.score, t.evidence.as_slice()),
            (
                TagState::Suggested,
                TAGGER_ID,
                Some(1.0),
                &["VoorZorg".to_string()][..]
            )
        );
        let v = versions(&[std::slice::from_ref(t)]);
        assert!(plan(&v, &s, 6).is_empty(), "idempotent");
    }

    #[test]
    fn a_persons_confirm_or_reject_is_never_touched_or_re_suggested() {
        let v = versions(&[
            &[tag("voorzorg", TagState::Confirmed, "m-3", 1)],
            &[tag("vadergroep", TagState::Rejected, "m-3", 1)],
        ]);
        let s = [
            suggestion("voorzorg", 0.75, &["x"]),
            suggestion("vadergroep", 1.0, &["vadergroep"]),
        ];
        assert!(plan(&v, &s, 9).is_empty());
        // And not removed when the text no longer supports them.
        assert!(plan(&v, &[], 9).is_empty());
    }

    #[test]
    fn stale_suggestions_go_and_changed_ones_are_refined() {
        let mut old = tag("armoede-schulden", TagState::Suggested, TAGGER_ID, 1);
        old.score = Some(0.75);
        let v = versions(&[
            &[old],
            &[tag("centering", TagState::Suggested, TAGGER_ID, 1)],
        ]);
        let w = plan(&v, &[suggestion("armoede-schulden", 1.0, &["schulden"])], 9);
        assert_eq!(w.len(), 2);
        assert!(matches!(&w[0], TagWrite::Update(t) if t.score == Some(1.0) && t.at == 1));
        assert_eq!(w[1], TagWrite::Remove("centering".into()));
    }

    #[test]
    fn a_decision_that_lost_a_concurrent_write_goes_back_on_top() {
        let mut ours = tag("voorzorg", TagState::Suggested, TAGGER_ID, 7);
        ours.score = Some(1.0);
        let theirs = tag("voorzorg", TagState::Rejected, "m-3", 6);
        let v = versions(&[&[ours, theirs.clone()]]);
        let w = plan(&v, &[suggestion("voorzorg", 1.0, &["VoorZorg"])], 9);
        assert_eq!(w, [TagWrite::Replace(theirs)]);
    }
}
