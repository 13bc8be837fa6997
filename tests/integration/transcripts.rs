//! Transcripts people can trust (issue 15), through a real server with the real Whisper model
//! (`fixtures/models/fetch-whisper-base.sh`): silence and noise give an empty transcript that says
//! no speech was found, never invented text; a Dutch voice note whose language nobody gave is
//! transcribed as Dutch, and in a workspace that expects other languages it is transcribed in one of
//! those, never in a language the workspace does not expect. Recordings are made with espeak-ng
//! and ffmpeg at test time.

use crate::all_confirmed;
use crate::media::{Watched, attach, run, seen, speak, story_on_phone, upload, watch};
use anyhow::{Context, Result};
use client_core::story;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vertel_tests::{Backend, Env, Server};

/// Transcription runs Whisper on two threads; a few short recordings take well under this.
const TRANSCRIBED: Duration = Duration::from_secs(240);

/// `seconds` of an ffmpeg `lavfi` source as a 16 kHz mono WAV.
fn clip(dir: &Path, name: &str, source: &str, seconds: u32) -> Result<Vec<u8>> {
    let out = dir.join(name);
    run(Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
        ])
        .args(["-t", &seconds.to_string(), "-ac", "1", "-ar", "16000"])
        .arg(&out))?;
    Ok(std::fs::read(&out)?)
}

async fn transcribing_server(env: &Env) -> Result<Server> {
    env.workspace("delft")?;
    Server::start(env, &["--transcribe-threads", "2", "--job-poll-ms", "200"]).await
}

/// Silence and pink noise (which Whisper used to hear as "TV GELDERLAND 2020.") give an empty
/// transcript; each recording is `done` with the reason `no-speech`, which the shell and the desk
/// show as "geen spraak gevonden".
async fn silence_and_noise_give_no_text(backend: Backend) -> Result<()> {
    let env = Env::new(backend).await?;
    let dir = env.dir.path().join("audio");
    std::fs::create_dir_all(&dir)?;
    let server = transcribing_server(&env).await?;
    let prof = server.login_as("professional", "delft").await?;
    let (phone, id) = story_on_phone(&env, &server, &prof.token, "phone", "nl").await?;
    let watched = watch(&phone, id);
    let silence = clip(&dir, "silence.wav", "anullsrc=r=16000:cl=mono", 8)?;
    let noise = clip(&dir, "pink.wav", "anoisesrc=color=pink:amplitude=0.3", 8)?;
    let mut shas = Vec::new();
    for bytes in [&silence, &noise] {
        shas.push(attach(&phone, id, bytes, "audio/wav").await?);
    }
    all_confirmed(&phone).await?;
    for bytes in [&silence, &noise] {
        let resp = upload(&server, &prof.token, id, bytes, "audio/wav").await?;
        assert_eq!(resp.status(), 204);
    }
    phone
        .wait_for("both recordings transcribed", TRANSCRIBED, |_| {
            let s = seen(&watched);
            let shas = shas.clone();
            async move {
                shas.iter().all(|sha| {
                    s.details
                        .transcriptions
                        .iter()
                        .any(|t| &t.sha256 == sha && t.status == "done")
                })
            }
        })
        .await?;
    let s = seen(&watched);
    for t in &s.details.transcriptions {
        assert_eq!(t.reason.as_deref(), Some("no-speech"), "{t:?}");
    }
    assert!(s.segments.is_empty(), "{:?}", s.segments);
    let story = phone.story(&id).await.context("the story")?;
    let text = story.transcript.map(|t| t.text).unwrap_or_default();
    assert_eq!(text, "", "invented text");
    Ok(())
}
both!(silence_and_noise_give_no_text);

/// A story of unknown language (`auto`) on a phone, with one Dutch voice note (espeak-ng) uploaded
/// and transcribed: its transcript, and what the phone saw.
async fn dutch_note_of_unknown_language(
    env: &Env,
    server: &Server,
    token: &str,
) -> Result<(story::Transcript, Watched)> {
    let dir = env.dir.path().join("audio");
    std::fs::create_dir_all(&dir)?;
    let (phone, id) = story_on_phone(env, server, token, "phone", "auto").await?;
    let watched = watch(&phone, id);
    let wav = speak(
        &dir,
        "note.wav",
        "nl",
        "Op de markt vertelde ik over mijn dochter en over het consultatiebureau.",
        &["-ac", "1", "-ar", "16000"],
    )?;
    let bytes = std::fs::read(&wav)?;
    attach(&phone, id, &bytes, "audio/wav").await?;
    all_confirmed(&phone).await?;
    let resp = upload(server, token, id, &bytes, "audio/wav").await?;
    assert_eq!(resp.status(), 204);
    phone
        .wait_for("the voice note transcribed", TRANSCRIBED, |_| {
            let s = seen(&watched);
            async move { s.details.transcriptions.iter().any(|t| t.status == "done") }
        })
        .await?;
    let story = phone.story(&id).await.context("the story")?;
    let t = story.transcript.context("a transcript")?;
    Ok((t, watched))
}

/// A Dutch voice note in a story whose language is not known (`auto`) is detected as Dutch among
/// the expected languages and transcribed as Dutch, with a confidence per segment.
async fn a_dutch_voice_note_of_unknown_language_is_transcribed_as_dutch(
    backend: Backend,
) -> Result<()> {
    let env = Env::new(backend).await?;
    let server = transcribing_server(&env).await?;
    let prof = server.login_as("professional", "delft").await?;
    let (t, watched) = dutch_note_of_unknown_language(&env, &server, &prof.token).await?;
    assert_eq!(t.language.as_deref(), Some("nl"), "{t:?}");
    let text = t.text.to_lowercase();
    assert!(
        text.contains("markt") || text.contains("consultatiebureau"),
        "{text:?}"
    );
    let s = seen(&watched);
    assert!(!s.segments.is_empty());
    assert!(
        s.segments
            .iter()
            .all(|g| g.confidence.is_some_and(|c| c > 0.0 && c <= 1.0)),
        "{:?}",
        s.segments
    );
    Ok(())
}
both!(a_dutch_voice_note_of_unknown_language_is_transcribed_as_dutch);

/// A workspace's expected languages (`vertel-server workspace languages`) replace the server's,
/// with no restart: a voice note of unknown language is transcribed in one of them, even when it
/// sounds like another. The admin's list is checked, and unknown codes are refused by name.
async fn a_voice_note_of_unknown_language_stays_within_the_workspace_s_languages(
    backend: Backend,
) -> Result<()> {
    let env = Env::new(backend).await?;
    // Set while the server runs: a job reads the workspace's languages when it starts.
    let server = transcribing_server(&env).await?;
    let shown = env.cli(&["workspace", "languages", "delft"], None)?;
    assert!(
        shown.contains("nl, en") && shown.contains("server"),
        "{shown}"
    );
    let refused = env
        .cli(&["workspace", "languages", "delft", "en,xx,tr"], None)
        .expect_err("an unknown code");
    assert!(refused.to_string().contains("xx"), "{refused:#}");
    let set = env.cli(&["workspace", "languages", "delft", "en, TR"], None)?;
    assert!(set.contains("en, tr") && set.contains("own"), "{set}");
    let prof = server.login_as("professional", "delft").await?;
    let (t, _) = dutch_note_of_unknown_language(&env, &server, &prof.token).await?;
    assert!(
        matches!(t.language.as_deref(), Some("en" | "tr")),
        "transcribed outside the workspace's languages: {t:?}"
    );
    Ok(())
}
both!(a_voice_note_of_unknown_language_stays_within_the_workspace_s_languages);
