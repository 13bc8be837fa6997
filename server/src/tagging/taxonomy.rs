//! The Kansrijke Start taxonomy: activities, phases, themes, target groups, place types and roles.
//!
//! The default is data in `fixtures/taxonomy/*.toml`, embedded at build time so the server works
//! without the fixtures directory. A workspace adds its own activities, and renames or retires any
//! activity, through rows in `workspace_activities` ([`WorkspaceActivity`]); [`Taxonomy::merged`]
//! combines the two. Retired activities stay in the taxonomy (so old stories still show their
//! name) but are never suggested.

use serde::{Deserialize, Serialize};

const ACTIVITIES: &str = include_str!("../../../fixtures/taxonomy/activities.toml");
const DIMENSIONS: &str = include_str!("../../../fixtures/taxonomy/dimensions.toml");
const SOURCES: &str = include_str!("../../../fixtures/taxonomy/sources.toml");

impl Taxonomy {
    /// The embedded taxonomy files, as text (what a cold-start model's fingerprint covers).
    pub fn embedded_sources() -> [&'static str; 3] {
        [ACTIVITIES, DIMENSIONS, SOURCES]
    }
}

/// Which part of the taxonomy an entry belongs to. Activities are stored in a story's `tags` under
/// their bare code; the other suggested dimensions under `prefix:code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    Activity,
    Phase,
    Theme,
    TargetGroup,
}

impl Dimension {
    pub const SUGGESTED: [Dimension; 4] = [
        Dimension::Activity,
        Dimension::Phase,
        Dimension::Theme,
        Dimension::TargetGroup,
    ];

    /// The prefix of this dimension's tag codes in a story (`""` for activities).
    pub fn prefix(self) -> &'static str {
        match self {
            Dimension::Activity => "",
            Dimension::Phase => "phase:",
            Dimension::Theme => "theme:",
            Dimension::TargetGroup => "group:",
        }
    }

    pub fn tag_code(self, code: &str) -> String {
        format!("{}{code}", self.prefix())
    }

    /// The dimension and bare code of a tag code.
    pub fn of_tag(tag_code: &str) -> (Dimension, &str) {
        for d in [Dimension::Phase, Dimension::Theme, Dimension::TargetGroup] {
            if let Some(rest) = tag_code.strip_prefix(d.prefix()) {
                return (d, rest);
            }
        }
        (Dimension::Activity, tag_code)
    }
}

/// One entry: an activity, phase, theme, target group, place type or role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub code: String,
    /// Dutch name.
    pub name: String,
    /// English gloss.
    #[serde(default)]
    pub gloss: String,
    #[serde(default)]
    pub description: String,
    /// Seed documents (`../shared/seeds/`) it is taken from.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Phases an activity belongs to.
    #[serde(default)]
    pub phases: Vec<String>,
    /// Names: one match suffices (weight 1.0).
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// Pointing words (weight 0.5).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Supporting words (weight 0.25).
    #[serde(default)]
    pub context: Vec<String>,
    /// Phrases that cancel an overlapping match.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Not suggested on keywords alone when one of these is named.
    #[serde(default)]
    pub yields_to: Vec<String>,
    /// For roles: member, teller or recorder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Retired entries stay valid on old stories but are not suggested.
    #[serde(default)]
    pub retired: bool,
    /// `default` (from the embedded taxonomy) or `workspace` (added by the workspace).
    #[serde(default = "default_origin")]
    pub origin: String,
}

fn default_origin() -> String {
    "default".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub file: String,
    pub title: String,
    #[serde(default)]
    pub mentions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Taxonomy {
    #[serde(default, rename = "activity")]
    pub activities: Vec<Entry>,
    #[serde(default, rename = "phase")]
    pub phases: Vec<Entry>,
    #[serde(default, rename = "theme")]
    pub themes: Vec<Entry>,
    #[serde(default, rename = "target_group")]
    pub target_groups: Vec<Entry>,
    #[serde(default, rename = "place_type")]
    pub place_types: Vec<Entry>,
    #[serde(default, rename = "role")]
    pub roles: Vec<Entry>,
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
}

/// A workspace's own activity, or its changes to a default one (same code).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceActivity {
    pub code: String,
    pub name: Option<String>,
    pub gloss: Option<String>,
    pub description: Option<String>,
    pub synonyms: Option<Vec<String>>,
    pub keywords: Option<Vec<String>>,
    pub context: Option<Vec<String>>,
    pub phases: Option<Vec<String>>,
    pub retired: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("taxonomy file {file}: {error}")]
    Parse { file: &'static str, error: String },
    #[error("taxonomy: {0}")]
    Invalid(String),
}

/// A valid code: lower-case letters, digits and hyphens, 2 to 64 characters.
pub fn valid_code(code: &str) -> bool {
    (2..=64).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !code.starts_with('-')
        && !code.ends_with('-')
}

impl Taxonomy {
    /// The embedded default taxonomy. Checked by a unit test, so it cannot fail at run time unless
    /// the fixtures were broken at build time; callers still get an error rather than a panic.
    pub fn default_embedded() -> Result<Taxonomy, TaxonomyError> {
        let parse = |file: &'static str, text: &str| -> Result<Taxonomy, TaxonomyError> {
            toml::from_str(text).map_err(|e| TaxonomyError::Parse {
                file,
                error: e.to_string(),
            })
        };
        let a = parse("activities.toml", ACTIVITIES)?;
        let d = parse("dimensions.toml", DIMENSIONS)?;
        let s = parse("sources.toml", SOURCES)?;
        let t = Taxonomy {
            activities: a.activities,
            phases: d.phases,
            themes: d.themes,
            target_groups: d.target_groups,
            place_types: d.place_types,
            roles: d.roles,
            sources: s.sources,
        };
        t.validate()?;
        Ok(t)
    }

    pub fn dimension(&self, d: Dimension) -> &[Entry] {
        match d {
            Dimension::Activity => &self.activities,
            Dimension::Phase => &self.phases,
            Dimension::Theme => &self.themes,
            Dimension::TargetGroup => &self.target_groups,
        }
    }

    /// An entry by its tag code (`voorzorg`, `phase:zwangerschap`), retired ones included.
    pub fn by_tag(&self, tag_code: &str) -> Option<(Dimension, &Entry)> {
        let (d, code) = Dimension::of_tag(tag_code);
        self.dimension(d)
            .iter()
            .find(|e| e.code == code)
            .map(|e| (d, e))
    }

    fn validate(&self) -> Result<(), TaxonomyError> {
        let files: Vec<&str> = self.sources.iter().map(|s| s.file.as_str()).collect();
        for d in Dimension::SUGGESTED {
            let mut seen = std::collections::HashSet::new();
            for e in self.dimension(d) {
                if !valid_code(&e.code) || !seen.insert(e.code.as_str()) {
                    return Err(TaxonomyError::Invalid(format!(
                        "{d:?} code {:?} is invalid or repeated",
                        e.code
                    )));
                }
                if let Some(bad) = e.sources.iter().find(|s| !files.contains(&s.as_str())) {
                    return Err(TaxonomyError::Invalid(format!(
                        "{} names unknown source {bad}",
                        e.code
                    )));
                }
            }
        }
        for a in &self.activities {
            if let Some(p) = a
                .phases
                .iter()
                .find(|p| !self.phases.iter().any(|x| &x.code == *p))
            {
                return Err(TaxonomyError::Invalid(format!(
                    "activity {} names unknown phase {p}",
                    a.code
                )));
            }
        }
        Ok(())
    }

    /// This taxonomy with a workspace's activities applied: new codes are added (origin
    /// `workspace`), existing ones renamed, re-described, given other terms or retired.
    pub fn merged(&self, own: &[WorkspaceActivity]) -> Taxonomy {
        let mut t = self.clone();
        for w in own {
            let entry = match t.activities.iter_mut().find(|e| e.code == w.code) {
                Some(e) => e,
                None => {
                    t.activities.push(Entry {
                        code: w.code.clone(),
                        name: w.code.clone(),
                        origin: "workspace".into(),
                        ..Entry::default()
                    });
                    let last = t.activities.len() - 1;
                    &mut t.activities[last]
                }
            };
            if let Some(v) = &w.name {
                entry.name = v.clone();
            }
            if let Some(v) = &w.gloss {
                entry.gloss = v.clone();
            }
            if let Some(v) = &w.description {
                entry.description = v.clone();
            }
            if let Some(v) = &w.synonyms {
                entry.synonyms = v.clone();
            }
            if let Some(v) = &w.keywords {
                entry.keywords = v.clone();
            }
            if let Some(v) = &w.context {
                entry.context = v.clone();
            }
            if let Some(v) = &w.phases {
                entry.phases = v.clone();
            }
            entry.retired = w.retired;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: &[&str] = &[
        "prenataal-huisbezoek",
        "voorzorg",
        "stevig-ouderschap",
        "nu-niet-zwanger",
        "centering",
        "moeders-informeren-moeders",
        "videohometraining",
        "preconceptieconsult",
        "rookvrije-start",
        "armoede-schulden",
        "sleutelpersonen-voorlichting",
        "ouderinitiatief",
        "vadergroep",
        "taal-laaggeletterdheid",
        "huiselijk-geweld",
        "mdo-knooppunt",
    ];

    #[test]
    fn the_embedded_taxonomy_parses_and_has_every_required_entry() {
        let t = Taxonomy::default_embedded().expect("embedded taxonomy");
        for code in REQUIRED {
            let (d, e) = t.by_tag(code).expect(code);
            assert_eq!(d, Dimension::Activity);
            assert!(!e.name.is_empty() && !e.gloss.is_empty() && !e.description.is_empty());
            assert!(!e.sources.is_empty(), "{code} names its seed document");
            assert!(!e.synonyms.is_empty(), "{code} has synonyms");
        }
        for p in ["preconceptie", "zwangerschap", "na-geboorte"] {
            assert!(t.by_tag(&format!("phase:{p}")).is_some(), "{p}");
        }
        assert!(t.themes.len() >= 5 && t.target_groups.len() >= 5);
        assert_eq!(
            t.place_types.len(),
            client_core::story::PlaceType::ALL.len()
        );
        for p in client_core::story::PlaceType::ALL {
            assert!(t.place_types.iter().any(|e| e.code == p.code()));
        }
        for r in ["professional", "sleutelpersoon", "coordinator", "admin"] {
            assert!(
                t.roles
                    .iter()
                    .any(|e| e.code == r && e.kind.as_deref() == Some("member"))
            );
        }
        assert_eq!(t.sources.len(), 5);
    }

    #[test]
    fn a_workspace_adds_renames_and_retires_activities() {
        let t = Taxonomy::default_embedded().expect("taxonomy");
        let merged = t.merged(&[
            WorkspaceActivity {
                code: "mamacafe-westland".into(),
                name: Some("Mamacafé Westland".into()),
                synonyms: Some(vec!["mamacafe".into()]),
                ..Default::default()
            },
            WorkspaceActivity {
                code: "vadergroep".into(),
                name: Some("Papa-netwerk".into()),
                ..Default::default()
            },
            WorkspaceActivity {
                code: "voorzorg".into(),
                retired: true,
                ..Default::default()
            },
        ]);
        let (_, own) = merged.by_tag("mamacafe-westland").expect("added");
        assert_eq!(own.origin, "workspace");
        let (_, renamed) = merged.by_tag("vadergroep").expect("kept");
        assert_eq!(renamed.name, "Papa-netwerk");
        assert!(!renamed.synonyms.is_empty(), "a rename keeps the terms");
        let (_, retired) = merged.by_tag("voorzorg").expect("retired codes stay valid");
        assert!(retired.retired);
        assert_eq!(merged.activities.len(), t.activities.len() + 1);
    }

    #[test]
    fn codes_are_checked() {
        assert!(valid_code("mamacafe-westland"));
        assert!(!valid_code("Mamacafe"));
        assert!(!valid_code("-x"));
        assert!(!valid_code("a"));
        assert!(!valid_code("phase:x"));
    }
}
