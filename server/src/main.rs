//! The `vertel-server` binary: reads configuration and runs one command.

use clap::{Parser, Subcommand};
use std::io::Read;
use vertel_server::admin;
use vertel_server::config::{ServeConfig, StorageConfig};

#[derive(Parser)]
#[command(
    name = "vertel-server",
    version,
    about = "Vertel: verhalen en cijfers voor Kansrijke Start"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeConfig>),
    /// Manage workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manage members.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Transcribe a recording with the speech model, as the server does, and print the text; or
    /// evaluate transcription over a set (`--evaluate DIR`).
    Transcribe(vertel_server::media::transcribe::cli::TranscribeArgs),
    /// De-identify Dutch text on standard input: names, addresses, numbers and the like replaced
    /// by [naam], [adres], [telefoon], ... (or, with --json, the spans); or evaluate or time it.
    Deidentify(vertel_server::deidentify::cli::DeidentifyArgs),
    /// Suggest activities, phase, themes and target groups for a story text on standard input.
    Tag(vertel_server::tagging::cli::TagArgs),
    /// Rebuild the desk's story index from the stored documents (safe while servers run).
    Reindex {
        #[command(flatten)]
        storage: StorageConfig,
    },
    /// Check that every stored document loads and that its recorded heads match its changes.
    /// Prints one line per inconsistent document and exits non-zero if there is any.
    Check {
        /// Record the stored document's heads where they differ (and re-announce the document
        /// in the changes feed). Chunks that do not load and changes whose dependencies are
        /// missing cannot be repaired.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        storage: StorageConfig,
    },
    /// Load data.
    Seed {
        /// The demo workspace "DWO regio" with one member of every role.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        storage: StorageConfig,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace (a coalition or region).
    Add {
        slug: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        storage: StorageConfig,
    },
    /// Show or set the languages a workspace expects its stories in. A voice note whose language
    /// is not known is transcribed in the first of these unless the speech model is sure it is
    /// another of them; never in a language outside them.
    Languages {
        slug: String,
        /// Language codes, comma-separated and most common first (`nl,ar,tr`); without them the
        /// list is shown.
        codes: Option<String>,
        /// Go back to the server's list (`VERTEL_TRANSCRIBE_LANGUAGES`, or nl,en,ar,tr,pl,uk).
        #[arg(long, conflicts_with = "codes")]
        server_default: bool,
        #[command(flatten)]
        storage: StorageConfig,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Add a member; prints a one-time enrollment code.
    Add {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        /// professional, sleutelpersoon, coordinator or admin
        #[arg(long)]
        role: String,
        /// Display name (defaults to the part of the e-mail address before the @).
        #[arg(long)]
        name: Option<String>,
        /// Read a password from standard input instead of printing an enrollment code.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        storage: StorageConfig,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VERTEL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,whisper_rs=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("VERTEL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    // A file-size limit (`ulimit -f`, a quota) reached while writing must be a write error the
    // server recovers from, like a full disk, not a signal that kills it.
    // SAFETY: setting a signal's disposition to "ignore" at startup, before any thread relies on it.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    match Cli::parse().command {
        Command::Serve(config) => vertel_server::serve::run(*config).await,
        Command::Workspace {
            command:
                WorkspaceCommand::Add {
                    slug,
                    name,
                    storage,
                },
        } => {
            let db = admin::open(&storage).await?;
            let ws = admin::add_workspace(&db, &slug, &name).await?;
            println!("workspace {} ({}) created", ws.slug, ws.name);
            Ok(())
        }
        Command::Workspace {
            command:
                WorkspaceCommand::Languages {
                    slug,
                    codes,
                    server_default,
                    storage,
                },
        } => {
            let db = admin::open(&storage).await?;
            let set = if server_default {
                Some("")
            } else {
                codes.as_deref()
            };
            if set.is_some_and(|s| !server_default && s.trim().is_empty()) {
                anyhow::bail!("give language codes (nl,ar,tr), or --server-default");
            }
            let (languages, own) = admin::workspace_languages(&db, &slug, set).await?;
            let whose = if own {
                "the workspace's own"
            } else {
                "the server's"
            };
            println!("{slug}: {} ({whose})", languages.join(", "));
            Ok(())
        }
        Command::Member {
            command:
                MemberCommand::Add {
                    workspace,
                    email,
                    role,
                    name,
                    password_stdin,
                    storage,
                },
        } => {
            let db = admin::open(&storage).await?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\n', '\r']).to_string())
            } else {
                None
            };
            let added = admin::add_member(
                &db,
                &workspace,
                &email,
                &role,
                name.as_deref(),
                password.as_deref(),
            )
            .await?;
            match added.enrollment_code {
                Some(code) => println!("{code}"),
                None => println!("member {} added with a password", added.member.email),
            }
            Ok(())
        }
        Command::Transcribe(args) => vertel_server::media::transcribe::cli::run(args),
        Command::Tag(args) => vertel_server::tagging::cli::run(args).await,
        Command::Deidentify(args) => vertel_server::deidentify::cli::run(args),
        Command::Check { repair, storage } => {
            let db = admin::open(&storage).await?;
            let mut out = std::io::stdout();
            let summary = vertel_server::check::run(&db, repair, &mut out).await?;
            println!("{summary}");
            if !summary.ok() {
                // The report says what is wrong; an error on top would only repeat it (with a
                // backtrace where RUST_BACKTRACE is set). Exit status 1, as for an error.
                use std::io::Write;
                std::io::stdout().flush()?;
                db.pool.close().await;
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Reindex { storage } => {
            let db = admin::open(&storage).await?;
            let n = vertel_server::workspace::index::Indexer::new(db.clone())
                .reindex()
                .await?;
            println!("{n} stories indexed");
            db.pool.close().await;
            Ok(())
        }
        Command::Seed { demo, storage } => {
            if !demo {
                anyhow::bail!("nothing to seed: pass --demo");
            }
            let db = admin::open(&storage).await?;
            admin::seed_demo(&db).await?;
            print!("{}", admin::DEMO_CREDENTIALS);
            Ok(())
        }
    }
}
