//! A REFI-QDA project (`.qdpx`: a ZIP with `project.qde` and the sources), the exchange format of
//! ATLAS.ti, NVivo, MAXQDA and QualCoder. Stories are text sources (their text under `sources/`),
//! the activities they are confirmed for are codes (each story coded as a whole), and
//! municipality, phase and kind are variables. Only stories whose consent allows reports are
//! exported; the teller appears by pseudonym only.

use super::escape::xml as esc;
use super::{StoryRow, iso_datetime};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};
use zip::result::ZipResult;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

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
) -> ZipResult<(String, Vec<u8>)> {
    let user = guid("user/vertel");
    let now = iso_datetime(now_ms);
    let stories: Vec<&StoryRow> = stories.iter().filter(|s| s.in_reports()).collect();
    let used: Vec<&Activity<'_>> = activities
        .iter()
        .filter(|a| stories.iter().any(|s| s.confirmed(a.code)))
        .collect();
    let mut x = head(name, &user, &now, &used);
    let mut files = Vec::new();
    if !stories.is_empty() {
        x.push_str("<Sources>\n");
    }
    for s in &stories {
        let (xml, path, text) = source(s, &used, &user, &now);
        x.push_str(&xml);
        files.push((path, text.into_bytes()));
    }
    if !stories.is_empty() {
        x.push_str("</Sources>\n");
    }
    x.push_str("</Project>\n");
    let mut all = vec![("project.qde".to_string(), x.clone().into_bytes())];
    all.extend(files);
    let archive = archive(&all)?;
    Ok((x, archive))
}

/// The project file up to its sources: users, the code book (`used`), the variables.
fn head(name: &str, user: &str, now: &str, used: &[&Activity<'_>]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Project xmlns=\"urn:QDA-XML:project:1.0\" \
         name=\"{}\" origin=\"Vertel\" creatingUserGUID=\"{user}\" creationDateTime=\"{now}\">\n\
         <Users><User guid=\"{user}\" name=\"Vertel\"/></Users>\n",
        esc(name)
    );
    if !used.is_empty() {
        x.push_str("<CodeBook><Codes>\n");
        for a in used {
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
    x
}

/// One story as a text source: its XML element, its path in the archive and its text.
fn source(s: &StoryRow, used: &[&Activity<'_>], user: &str, now: &str) -> (String, String, String) {
    let mut x = String::new();
    let sg = guid(&format!("source/{}", s.id));
    // De-identified, from the approved version (issue 16, `StoryRow::output`).
    let out = s.output();
    let mut text = format!("{}\n\n{}", out.title, out.body);
    if let Some(t) = &out.transcript {
        text.push_str("\n\n");
        text.push_str(t);
    }
    for (k, v) in &out.sections {
        text.push_str(&format!("\n\n[{k}]\n{v}"));
    }
    let len = text.chars().count();
    let created = s
        .captured_at
        .map(iso_datetime)
        .unwrap_or_else(|| now.to_string());
    x.push_str(&format!(
        "<TextSource guid=\"{sg}\" name=\"{}\" plainTextPath=\"internal://{sg}.txt\" \
         creatingUser=\"{user}\" creationDateTime=\"{created}\">\n",
        esc(&out.title)
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
            esc(&out.title)
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
    (x, format!("sources/{sg}.txt"), text)
}

/// Where a streamed archive goes: chunks of bytes into a channel (the HTTP body reads the
/// other end). Writes block while the channel is full, so a slow download holds back the export.
pub struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelSink {
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>) -> ChannelSink {
        ChannelSink {
            tx,
            buf: Vec::with_capacity(SINK_CHUNK),
        }
    }
}

const SINK_CHUNK: usize = 64 * 1024;

impl Write for ChannelSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SINK_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(SINK_CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "download ended"))
    }
}

/// Write the project as a streamed archive into `sink`, reading the stories in batches twice
/// (`batches` calls its argument with each batch, in the same order both times): first every
/// source's text, then the project file, one story at a time. Memory holds one batch, never
/// the project. `activities`: the code book (the codes some exported story is confirmed for).
pub fn stream_project<W: Write>(
    sink: W,
    name: &str,
    now_ms: i64,
    activities: &[Activity<'_>],
    batches: impl Fn(&mut dyn FnMut(&[StoryRow]) -> std::io::Result<()>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let user = guid("user/vertel");
    let now = iso_datetime(now_ms);
    let used: Vec<&Activity<'_>> = activities.iter().collect();
    let mut zip = ZipWriter::new_stream(sink);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    let mut any = false;
    batches(&mut |rows| {
        for s in rows.iter().filter(|s| s.in_reports()) {
            any = true;
            let (_, path, text) = source(s, &used, &user, &now);
            zip.start_file(path.as_str(), options)
                .map_err(std::io::Error::other)?;
            zip.write_all(text.as_bytes())?;
        }
        Ok(())
    })?;
    zip.start_file("project.qde", options)
        .map_err(std::io::Error::other)?;
    zip.write_all(head(name, &user, &now, &used).as_bytes())?;
    if any {
        zip.write_all(b"<Sources>\n")?;
    }
    batches(&mut |rows| {
        for s in rows.iter().filter(|s| s.in_reports()) {
            let (xml, _, _) = source(s, &used, &user, &now);
            zip.write_all(xml.as_bytes())?;
        }
        Ok(())
    })?;
    if any {
        zip.write_all(b"</Sources>\n")?;
    }
    zip.write_all(b"</Project>\n")?;
    let mut sink = zip.finish().map_err(std::io::Error::other)?.into_inner();
    sink.flush()
}

/// Write `files` (name, bytes) as a ZIP archive, deflated. The `zip` crate switches to ZIP64
/// where the classic fields do not reach: past 65,535 entries or 4 GiB of offsets, and for an
/// entry marked large (one that may pass 4 GiB).
pub fn archive(files: &[(String, Vec<u8>)]) -> ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            // Deflate can come out a little larger than its input: mark an entry large well
            // before its size reaches the 32-bit limit.
            .large_file(data.len() as u64 >= LARGE_ENTRY);
        zip.start_file(name.as_str(), options)?;
        zip.write_all(data)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Entries from this size on get ZIP64 sizes.
const LARGE_ENTRY: u64 = u32::MAX as u64 - (64 << 20);

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::story::{
        Consent, ConsentScope, NewStory, Story, StoryDetails, StoryKind, create_story,
    };
    use std::io::Read;
    use zip::ZipArchive;

    #[test]
    fn guids_have_the_schema_shape() {
        let g = guid("x");
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        assert!(g.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    fn row(title: &str, body: &str) -> StoryRow {
        let mut doc = automerge::Automerge::new();
        create_story(
            &mut doc,
            &NewStory {
                kind: Some(StoryKind::ParentStory),
                title: title.into(),
                body: body.into(),
                language: "nl".into(),
                captured_at: 1_763_900_000_000,
                consent: Some(Consent {
                    given: true,
                    how: None,
                    scope: Some(ConsentScope::AnonymisedInReports),
                    recorded_at: Some(1_763_900_000_000),
                }),
                ..NewStory::default()
            },
        )
        .expect("story");
        StoryRow::new(
            "2J8NbrsrbAt2P6kSbxJtK3rjDzKu".into(),
            &Story::read(&doc),
            &StoryDetails::read(&doc),
        )
    }

    fn read(archive: &mut ZipArchive<Cursor<Vec<u8>>>, name: &str) -> String {
        let mut text = String::new();
        archive
            .by_name(name)
            .expect("entry")
            .read_to_string(&mut text)
            .expect("UTF-8");
        text
    }

    /// Issue 10, findings 11 and 15: U+FFFF in a title made `project.qde` invalid XML, and the
    /// archive was written by hand, uncompressed. It reads back with the `zip` crate, deflated,
    /// and only with characters XML 1.0 allows.
    #[test]
    fn project_reads_back_as_valid_xml_in_a_deflated_zip() {
        let story = row(
            "Titel\u{ffff} <b>\u{1}vet",
            "Ze zei\u{fffe}: de groep gaf me moed.",
        );
        let (xml, bytes) = project("Delft\u{0}", 1_763_900_000_000, &[], &[story]).expect("zip");
        let mut archive = ZipArchive::new(Cursor::new(bytes)).expect("a readable archive");
        assert_eq!(archive.len(), 2);
        let qde = read(&mut archive, "project.qde");
        assert_eq!(qde, xml);
        assert!(
            qde.chars().all(xml_allowed),
            "a character XML does not allow: {qde:?}"
        );
        assert!(qde.contains("name=\"Titel &lt;b&gt;vet\""), "{qde}");
        assert!(qde.contains("name=\"Delft\""), "{qde}");
        let source = names(&archive)
            .into_iter()
            .find(|n| n.starts_with("sources/"))
            .expect("the story's text");
        assert!(read(&mut archive, &source).contains("de groep gaf me moed."));
        assert_eq!(
            archive.by_name(&source).expect("entry").compression(),
            CompressionMethod::Deflated
        );
    }

    fn names(archive: &ZipArchive<Cursor<Vec<u8>>>) -> Vec<String> {
        archive
            .file_names()
            .map(|n| n.expect("a UTF-8 name").into_owned())
            .collect()
    }

    fn xml_allowed(c: char) -> bool {
        matches!(c as u32, 0x9 | 0xa | 0xd | 0x20..=0xd7ff | 0xe000..=0xfffd | 0x10000..)
    }

    /// Issue 10, finding 15: the hand-written writer counted entries in 16 bits, so an archive
    /// with more than 65,535 entries was silently corrupt. Past that count it needs ZIP64.
    #[test]
    fn more_than_65535_entries_read_back() {
        let files: Vec<(String, Vec<u8>)> = (0..65_600)
            .map(|i| (format!("sources/{i}.txt"), Vec::new()))
            .collect();
        let bytes = archive(&files).expect("zip");
        let archive = ZipArchive::new(Cursor::new(bytes)).expect("a readable archive");
        assert_eq!(archive.len(), 65_600);
        assert_eq!(
            names(&archive).last().map(String::as_str),
            Some("sources/65599.txt")
        );
    }
}
