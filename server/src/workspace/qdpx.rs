//! A REFI-QDA project (`.qdpx`: a ZIP with `project.qde` and the sources), the exchange format of
//! ATLAS.ti, NVivo, MAXQDA and QualCoder. Stories are text sources (their text under `sources/`),
//! the activities they are confirmed for are codes (each story coded as a whole), and
//! municipality, phase and kind are variables. Only stories whose consent allows reports are
//! exported; the teller appears by pseudonym only.

use super::svg::esc;
use super::{StoryRow, iso_datetime, zip};
use sha2::{Digest, Sha256};

/// A stable GUID for `key` (so two exports of the same data name things alike).
pub fn guid(key: &str) -> String {
    let h = Sha256::digest(format!("vertel-qdpx/{key}").as_bytes());
    let x = hex::encode(&h[..16]);
    format!(
        "{}-{}-8{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[16..20],
        &x[20..32]
    )
}

pub struct Activity<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub description: &'a str,
}

const VARIABLES: &[(&str, &str)] = &[
    ("municipality", "Gemeente"),
    ("phase", "Fase"),
    ("kind", "Soort verhaal"),
];

/// The project file and the archive.
pub fn project(
    name: &str,
    now_ms: i64,
    activities: &[Activity<'_>],
    stories: &[StoryRow],
) -> (String, Vec<u8>) {
    let user = guid("user/vertel");
    let now = iso_datetime(now_ms);
    let stories: Vec<&StoryRow> = stories.iter().filter(|s| s.in_reports()).collect();
    let used: Vec<&Activity<'_>> = activities
        .iter()
        .filter(|a| stories.iter().any(|s| s.confirmed(a.code)))
        .collect();
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Project xmlns=\"urn:QDA-XML:project:1.0\" \
         name=\"{}\" origin=\"Vertel\" creatingUserGUID=\"{user}\" creationDateTime=\"{now}\">\n\
         <Users><User guid=\"{user}\" name=\"Vertel\"/></Users>\n",
        esc(name)
    );
    if !used.is_empty() {
        x.push_str("<CodeBook><Codes>\n");
        for a in &used {
            x.push_str(&format!(
                "<Code guid=\"{}\" name=\"{}\" isCodable=\"true\"><Description>{}</Description></Code>\n",
                guid(&format!("code/{}", a.code)),
                esc(a.name),
                esc(&format!("{} ({})", a.description, a.code))
            ));
        }
        x.push_str("</Codes></CodeBook>\n");
    }
    x.push_str("<Variables>\n");
    for (key, label) in VARIABLES {
        x.push_str(&format!(
            "<Variable guid=\"{}\" name=\"{label}\" typeOfVariable=\"Text\"/>\n",
            guid(&format!("var/{key}"))
        ));
    }
    x.push_str("</Variables>\n");
    let mut files = Vec::new();
    if !stories.is_empty() {
        x.push_str("<Sources>\n");
    }
    for s in &stories {
        let sg = guid(&format!("source/{}", s.id));
        let mut text = format!("{}\n\n{}", s.title, s.body);
        if let Some(t) = &s.transcript {
            text.push_str("\n\n");
            text.push_str(t);
        }
        for (k, v) in &s.sections {
            text.push_str(&format!("\n\n[{k}]\n{v}"));
        }
        let len = text.chars().count();
        let created = s
            .captured_at
            .map(iso_datetime)
            .unwrap_or_else(|| now.clone());
        x.push_str(&format!(
            "<TextSource guid=\"{sg}\" name=\"{}\" plainTextPath=\"internal://{sg}.txt\" \
             creatingUser=\"{user}\" creationDateTime=\"{created}\">\n",
            esc(&s.title)
        ));
        if let Some(who) = &s.told_by {
            x.push_str(&format!("<Description>{}</Description>\n", esc(who)));
        }
        let codings: Vec<&str> = used
            .iter()
            .filter(|a| s.confirmed(a.code))
            .map(|a| a.code)
            .collect();
        if !codings.is_empty() {
            x.push_str(&format!(
                "<PlainTextSelection guid=\"{}\" name=\"{}\" startPosition=\"0\" endPosition=\"{len}\" \
                 creatingUser=\"{user}\" creationDateTime=\"{now}\">\n",
                guid(&format!("sel/{}", s.id)),
                esc(&s.title)
            ));
            for c in codings {
                x.push_str(&format!(
                    "<Coding guid=\"{}\" creatingUser=\"{user}\" creationDateTime=\"{now}\"><CodeRef targetGUID=\"{}\"/></Coding>\n",
                    guid(&format!("coding/{}/{c}", s.id)),
                    guid(&format!("code/{c}"))
                ));
            }
            x.push_str("</PlainTextSelection>\n");
        }
        for (key, value) in [
            ("municipality", s.municipality.as_deref()),
            ("phase", s.phase.as_deref()),
            ("kind", s.kind),
        ] {
            if let Some(v) = value {
                x.push_str(&format!(
                    "<VariableValue><VariableRef targetGUID=\"{}\"/><TextValue>{}</TextValue></VariableValue>\n",
                    guid(&format!("var/{key}")),
                    esc(v)
                ));
            }
        }
        x.push_str("</TextSource>\n");
        files.push((format!("sources/{sg}.txt"), text.into_bytes()));
    }
    if !stories.is_empty() {
        x.push_str("</Sources>\n");
    }
    x.push_str("</Project>\n");
    let mut all = vec![("project.qde".to_string(), x.clone().into_bytes())];
    all.extend(files);
    (x, zip::write(&all))
}

#[cfg(test)]
mod tests {
    #[test]
    fn guids_have_the_schema_shape() {
        let g = super::guid("x");
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        assert!(g.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
