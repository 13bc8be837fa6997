//! `bench-media photos`: a real server process's peak memory (`VmHWM`) under parallel uploads of
//! large-dimension photos (BENCHMARKS.md, "Photos under load"). The server is another process,
//! driven over HTTP and tus; nothing here reaches into its code. The voice-note benchmarks are
//! `main.rs`'s.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EMAIL: &str = "prof@bench.test";
const PASSWORD: &str = "bench-photos-password-1";

pub async fn run(args: Vec<String>) -> Result<()> {
    let mut server_bin = std::env::current_exe()?
        .parent()
        .context("binary directory")?
        .join("vertel-server");
    let mut parallel = 4usize;
    let mut side = 7000u32;
    let mut server_args = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--server" => server_bin = PathBuf::from(it.next().context("--server PATH")?),
            "--parallel" => parallel = it.next().context("--parallel N")?.parse()?,
            "--side" => side = it.next().context("--side N")?.parse()?,
            "--" => server_args.extend(it.by_ref()),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let data =
        std::env::temp_dir().join(format!("vertel-bench-photos-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&data)?;
    cli(
        &server_bin,
        &data,
        &["workspace", "add", "bench", "--name", "Bench"],
        None,
    )?;
    cli(
        &server_bin,
        &data,
        &[
            "member",
            "add",
            "--workspace",
            "bench",
            "--email",
            EMAIL,
            "--role",
            "professional",
            "--password-stdin",
        ],
        Some(PASSWORD),
    )?;
    let story = add_story(&data).await?;

    // One colour per upload: distinct files, so none is deduplicated against another.
    let pngs = (0..parallel)
        .map(|n| {
            let colour = image::Rgb([200, 120, n as u8]);
            let img = image::RgbImage::from_pixel(side, side, colour);
            let mut out = Vec::new();
            image::DynamicImage::ImageRgb8(img)
                .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
            Ok(out)
        })
        .collect::<Result<Vec<Vec<u8>>>>()?;
    let (mut child, addr) = start(&server_bin, &data, &server_args)?;
    let result = measure(&child, addr, &story, &pngs).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    let m = result?;
    println!(
        "server {} · flags {:?} · {parallel} parallel uploads of {side}×{side} PNGs ({} bytes each) · {} CPUs",
        server_bin.display(),
        server_args,
        pngs.first().map(Vec::len).unwrap_or(0),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
    );
    println!(
        "answers {:?} · wall {:.1} s · resident before {} MB · peak (VmHWM) {} MB",
        m.statuses,
        m.wall,
        m.rss_before_kb / 1024,
        m.hwm_kb / 1024
    );
    if let Some(body) = m.first_error {
        println!("first refusal: {body}");
    }
    Ok(())
}

struct Measured {
    statuses: Vec<u16>,
    wall: f64,
    rss_before_kb: u64,
    hwm_kb: u64,
    first_error: Option<String>,
}

async fn measure(
    child: &Child,
    addr: SocketAddr,
    story: &str,
    pngs: &[Vec<u8>],
) -> Result<Measured> {
    let login = serde_json::json!({ "email": EMAIL, "password": PASSWORD }).to_string();
    let (status, _, body) = request(
        addr,
        "POST",
        "/api/v1/auth/login",
        &[("Content-Type", "application/json".into())],
        login.as_bytes(),
    )
    .await?;
    anyhow::ensure!(
        status == 200,
        "login: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let token = v["token"].as_str().context("token")?.to_string();
    let rss_before_kb = proc_status_kb(child.id(), "VmRSS")?;
    let started = Instant::now();
    let uploads = pngs.iter().map(|png| upload(addr, &token, story, png));
    let answers = futures_util::future::join_all(uploads).await;
    let wall = started.elapsed().as_secs_f64();
    let hwm_kb = proc_status_kb(child.id(), "VmHWM")?;
    let mut statuses = Vec::new();
    let mut first_error = None;
    for a in answers {
        let (status, body) = a?;
        if status >= 400 && first_error.is_none() {
            first_error = Some(body);
        }
        statuses.push(status);
    }
    Ok(Measured {
        statuses,
        wall,
        rss_before_kb,
        hwm_kb,
        first_error,
    })
}

/// One tus upload in two requests; the final answer's status and body.
async fn upload(addr: SocketAddr, token: &str, story: &str, png: &[u8]) -> Result<(u16, String)> {
    use base64::Engine;
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(png));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let auth = ("Authorization", format!("Bearer {token}"));
    let tus = ("Tus-Resumable", "1.0.0".to_string());
    let (status, headers, body) = request(
        addr,
        "POST",
        "/api/v1/uploads",
        &[
            auth.clone(),
            tus.clone(),
            ("Upload-Length", png.len().to_string()),
            (
                "Upload-Metadata",
                format!(
                    "sha256 {},story {},mime {}",
                    b64(&sha),
                    b64(story),
                    b64("image/png")
                ),
            ),
        ],
        &[],
    )
    .await?;
    if status != 201 {
        return Ok((status, String::from_utf8_lossy(&body).into_owned()));
    }
    let location = headers.get("location").context("Location")?;
    let (status, _, body) = request(
        addr,
        "PATCH",
        location,
        &[
            auth,
            tus,
            ("Content-Type", "application/offset+octet-stream".into()),
            ("Upload-Offset", "0".into()),
        ],
        png,
    )
    .await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A minimal HTTP/1.1 exchange on its own connection: status, headers (lower-case), body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(u16, HashMap<String, String>, Vec<u8>)> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body).await?;
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let text = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, response[split + 4..].to_vec()))
}

fn cli(bin: &Path, data: &Path, args: &[&str], stdin: Option<&str>) -> Result<()> {
    let mut child = Command::new(bin)
        .args(args)
        .env("VERTEL_DATA_DIR", data)
        .env_remove("VERTEL_DATABASE_URL")
        .env("VERTEL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{} {args:?}", bin.display()))?;
    if let (Some(mut input), Some(s)) = (child.stdin.take(), stdin) {
        input.write_all(s.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A story row owned by the bench's member, written straight into the SQLite file without
/// running this build's migrations (the server under test may be an older build).
async fn add_story(data: &Path) -> Result<String> {
    use sqlx::Connection;
    let id = client_core::wire::DocumentId::from_bytes(rand::random()).to_string();
    let url = format!("sqlite://{}", data.join("vertel.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query(
        "INSERT INTO documents (id, workspace_id, recorder_id, doc_type, created_at, updated_at, seq, heads, size) \
         SELECT $1, m.workspace_id, m.id, 'story', 0, 0, 0, '', 1 FROM members m WHERE m.email = $2",
    )
    .bind(&id)
    .bind(EMAIL)
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(id)
}

fn start(bin: &Path, data: &Path, extra: &[String]) -> Result<(Child, SocketAddr)> {
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--model-path",
            "/nonexistent/model.bin",
        ])
        .args(extra)
        .env("VERTEL_DATA_DIR", data)
        .env_remove("VERTEL_DATABASE_URL")
        .env("VERTEL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        anyhow::ensure!(
            reader.read_line(&mut line)? > 0,
            "server exited before listening"
        );
        if let Some(rest) = line.trim().strip_prefix("listening on http://") {
            let addr = rest.parse()?;
            std::thread::spawn(move || for _ in reader.lines() {});
            return Ok((child, addr));
        }
    }
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{field} in /proc/{pid}/status"))
}
