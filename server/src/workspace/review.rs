//! What a coordinator's review decision may say before it is written into the story: the states a
//! coordinator sets, the comment (required when a story goes back), and the spans an approval keeps
//! visible on purpose. Checking only; writing the decision is the hub's (`Hub::server_change`).

use client_core::story::ReviewState;

/// The longest comment, in characters.
const MAX_COMMENT: usize = 4000;
/// The most spans an approval keeps, and the longest, in characters.
const MAX_KEPT: usize = 50;
const MAX_KEPT_CHARS: usize = 200;

/// The comment as stored: trimmed, `None` when empty.
pub fn comment(written: Option<String>) -> Option<String> {
    written
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

/// Why a review decision is refused (`None`: it may be written). `comment` as [`comment`] gives
/// it; `keep` the approval's spans, `kind:text`.
pub fn refused(state: ReviewState, comment: Option<&str>, keep: &[String]) -> Option<&'static str> {
    if state == ReviewState::Draft {
        return Some("a coordinator sets submitted, reviewed, approved or returned");
    }
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
        return Some("a comment has at most 4000 characters");
    }
    if keep.len() > MAX_KEPT
        || keep.iter().any(|k| {
            k.chars().count() > MAX_KEPT_CHARS
                || k.split_once(':')
                    .and_then(|(kind, _)| client_core::deidentify::Kind::from_code(kind))
                    .is_none()
        })
    {
        return Some("keep: at most 50 spans, each kind:text (naam:Anja), at most 200 characters");
    }
    if state == ReviewState::Returned && comment.is_none() {
        return Some("say why the story goes back: a comment is required");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_review_decision_may_say() {
        assert_eq!(comment(Some("  ".into())), None);
        assert_eq!(comment(Some(" goed ".into())).as_deref(), Some("goed"));
        assert_eq!(refused(ReviewState::Approved, None, &[]), None);
        assert!(refused(ReviewState::Draft, None, &[]).is_some());
        assert!(
            refused(ReviewState::Returned, None, &[]).is_some_and(|r| r.contains("comment")),
            "a story goes back with a reason"
        );
        assert_eq!(refused(ReviewState::Returned, Some("waarom"), &[]), None);
        let long = "x".repeat(4001);
        assert!(refused(ReviewState::Reviewed, Some(&long), &[]).is_some());
        assert_eq!(
            refused(ReviewState::Approved, None, &["naam:Anja".into()]),
            None
        );
        for bad in ["Anja", "onzin:Anja", &format!("naam:{}", "a".repeat(200))] {
            assert!(
                refused(ReviewState::Approved, None, &[bad.to_string()]).is_some(),
                "{bad}"
            );
        }
        let many: Vec<String> = (0..51).map(|i| format!("naam:N{i}")).collect();
        assert!(refused(ReviewState::Approved, None, &many).is_some());
    }
}
