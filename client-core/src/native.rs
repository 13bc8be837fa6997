//! The native driver: runs an [`Engine`] over a real websocket with a file store.
//!
//! This is the third driver beside the server and the wasm shell. Tests, tools and benchmarks use
//! it to act as real devices against a real `vertel-server`. It does IO, so it lives behind the
//! `native` feature and nothing else in client-core depends on it.

use crate::engine::{Effects, Engine, EngineError, Event, Role, StoreTask};
use crate::store::{LocalStore, StoreError, StoredDoc, decode_stored, encode_stored};
use crate::story::{self, NewStory, Story};
use crate::wire::{DocumentId, PeerMetadata, Refusal};
use automerge::Automerge;
use futures_util::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, Notify, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Documents as files in a directory, written atomically (temp file, fsync, rename).
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir.as_ref()).map_err(|e| StoreError(e.to_string()))?;
        Ok(FileStore {
            dir: dir.as_ref().to_path_buf(),
        })
    }

    fn path(&self, id: &DocumentId) -> PathBuf {
        self.dir.join(format!("{id}.doc"))
    }
}

impl LocalStore for FileStore {
    async fn load(&self, id: &DocumentId) -> Result<Option<StoredDoc>, StoreError> {
        match tokio::fs::read(self.path(id)).await {
            Ok(bytes) => decode_stored(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError(e.to_string())),
        }
    }

    async fn save(&self, id: &DocumentId, doc: &StoredDoc) -> Result<(), StoreError> {
        let err = |e: std::io::Error| StoreError(e.to_string());
        let tmp = self.dir.join(format!("{id}.tmp"));
        let mut f = tokio::fs::File::create(&tmp).await.map_err(err)?;
        tokio::io::AsyncWriteExt::write_all(&mut f, &encode_stored(doc))
            .await
            .map_err(err)?;
        f.sync_all().await.map_err(err)?;
        tokio::fs::rename(&tmp, self.path(id)).await.map_err(err)
    }

    async fn delete(&self, id: &DocumentId) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError(e.to_string())),
        }
    }

    async fn list(&self) -> Result<Vec<DocumentId>, StoreError> {
        let mut out = Vec::new();
        let mut rd = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| StoreError(e.to_string()))?
        {
            let name = entry.file_name();
            if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".doc"))
                && let Ok(id) = stem.parse()
            {
                out.push(id);
            }
        }
        Ok(out)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("websocket: {0}")]
    Ws(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

struct Shared {
    engine: Mutex<Engine>,
    store: FileStore,
    changed: Notify,
    events: std::sync::Mutex<Vec<Event>>,
    outbox: std::sync::Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    /// Bumped by every connect and disconnect; a connection's tasks act only while it is current.
    generation: std::sync::atomic::AtomicU64,
    observer: std::sync::RwLock<Option<Observer>>,
}

/// A function told about every [`Event`] the moment the driver emits it, with the engine's copy of
/// the document the event is about (if it has one). See [`Device::observe`].
pub type Observer = Arc<dyn Fn(&Event, Option<&Automerge>) + Send + Sync>;

/// The document an event is about.
fn event_document(event: &Event) -> Option<&DocumentId> {
    match event {
        Event::DocChanged { id }
        | Event::Saved { id }
        | Event::SyncStatus { id, .. }
        | Event::Unavailable { id }
        | Event::Purged { id }
        | Event::Refused { id, .. } => Some(id),
        Event::Connected { .. } | Event::RemoteError { .. } => None,
    }
}

/// A device: an engine, its file store and (when connected) one websocket to a server.
#[derive(Clone)]
pub struct Device {
    shared: Arc<Shared>,
}

impl Device {
    /// Open a device whose documents live in `dir`, loading what is there.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Device, DeviceError> {
        let store = FileStore::open(dir)?;
        let peer_id = format!("device-{:016x}", rand::random::<u64>());
        // A fresh actor for every start: see `Engine::new`.
        let actor = automerge::ActorId::from(rand::random::<[u8; 16]>());
        let mut engine = Engine::new(
            peer_id,
            actor,
            Role::Initiating,
            PeerMetadata {
                storage_id: None,
                is_ephemeral: false,
            },
        );
        for id in store.list().await? {
            if let Some(doc) = store.load(&id).await? {
                engine.load(id, &doc)?;
            }
        }
        Ok(Device {
            shared: Arc::new(Shared {
                engine: Mutex::new(engine),
                store,
                changed: Notify::new(),
                events: std::sync::Mutex::new(Vec::new()),
                outbox: std::sync::Mutex::new(None),
                generation: std::sync::atomic::AtomicU64::new(0),
                observer: std::sync::RwLock::new(None),
            }),
        })
    }

    /// Carry out effects: storage first, then frames, so nothing is announced that is not durable.
    async fn execute(&self, engine: &mut Engine, mut fx: Effects) -> Result<(), DeviceError> {
        loop {
            let mut more = Effects::default();
            for task in std::mem::take(&mut fx.store) {
                match task {
                    StoreTask::Save { id, doc } => {
                        self.shared.store.save(&id, &doc).await?;
                        let done = engine.handle_saved(id);
                        more.events.extend(done.events);
                    }
                    StoreTask::Delete { id } => self.shared.store.delete(&id).await?,
                }
            }
            if let Ok(guard) = self.shared.outbox.lock()
                && let Some(tx) = guard.as_ref()
            {
                for frame in fx.send.drain(..) {
                    let _ = tx.send(frame);
                }
            }
            let observer = self.shared.observer.read().ok().and_then(|o| o.clone());
            if let Some(observe) = observer {
                for event in fx.events.iter().chain(more.events.iter()) {
                    observe(
                        event,
                        event_document(event).and_then(|id| engine.document(id)),
                    );
                }
            }
            if let Ok(mut ev) = self.shared.events.lock() {
                ev.extend(fx.events.drain(..));
                ev.extend(more.events.drain(..));
            }
            self.shared.changed.notify_waiters();
            if more.store.is_empty() && more.send.is_empty() {
                return Ok(());
            }
            fx = more;
        }
    }

    pub async fn create_story(&self, story: &NewStory) -> Result<DocumentId, DeviceError> {
        let id = DocumentId::from_bytes(rand::random());
        let mut engine = self.shared.engine.lock().await;
        let (_, fx) = engine.create(id, |d| story::create_story(d, story))?;
        self.execute(&mut engine, fx).await?;
        Ok(id)
    }

    /// Create a persona document (it syncs like a story).
    pub async fn create_persona(
        &self,
        persona: &story::Persona,
        now_ms: i64,
    ) -> Result<DocumentId, DeviceError> {
        let id = DocumentId::from_bytes(rand::random());
        let mut engine = self.shared.engine.lock().await;
        let (_, fx) = engine.create(id, |d| story::create_persona(d, persona, now_ms))?;
        self.execute(&mut engine, fx).await?;
        Ok(id)
    }

    /// A persona document this device holds.
    pub async fn persona(&self, id: &DocumentId) -> Option<story::Persona> {
        let engine = self.shared.engine.lock().await;
        engine
            .document(id)
            .filter(|d| story::doc_type(*d) == Some(story::DocType::Persona))
            .map(story::Persona::read)
    }

    /// Make a local edit with one of the [`crate::story`] functions.
    pub async fn edit<E: std::fmt::Display>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<(), E>,
    ) -> Result<(), DeviceError> {
        let mut engine = self.shared.engine.lock().await;
        let (_, fx) = engine.change(id, f)?;
        self.execute(&mut engine, fx).await
    }

    /// Ask the server for documents this device does not hold (ids from the changes feed).
    pub async fn want(&self, ids: impl IntoIterator<Item = DocumentId>) -> Result<(), DeviceError> {
        let mut engine = self.shared.engine.lock().await;
        let mut all = Effects::default();
        for id in ids {
            let fx = engine.want(id);
            all.send.extend(fx.send);
        }
        self.execute(&mut engine, all).await
    }

    pub async fn purge(&self, id: DocumentId) -> Result<(), DeviceError> {
        let mut engine = self.shared.engine.lock().await;
        let fx = engine.purge(id);
        self.execute(&mut engine, fx).await
    }

    pub async fn story(&self, id: &DocumentId) -> Option<Story> {
        self.shared
            .engine
            .lock()
            .await
            .document(id)
            .map(Story::read)
    }

    pub async fn ids(&self) -> Vec<DocumentId> {
        self.shared
            .engine
            .lock()
            .await
            .document_ids()
            .copied()
            .collect()
    }

    pub async fn heads(&self, id: &DocumentId) -> Option<Vec<String>> {
        let engine = self.shared.engine.lock().await;
        engine
            .document(id)
            .map(|d| d.get_heads().iter().map(|h| h.to_string()).collect())
    }

    /// Whether the document contains the changes with these hashes (hex), i.e. these heads.
    pub async fn contains_heads(&self, id: &DocumentId, heads: &[String]) -> bool {
        let engine = self.shared.engine.lock().await;
        let Some(doc) = engine.document(id) else {
            return false;
        };
        heads.iter().all(|h| {
            h.parse::<automerge::ChangeHash>()
                .ok()
                .is_some_and(|hash| automerge::ReadDoc::get_change_by_hash(doc, &hash).is_some())
        })
    }

    /// The heads the server last advertised for this document: what it has acknowledged storing.
    pub async fn server_heads(&self, id: &DocumentId) -> Vec<String> {
        self.shared.engine.lock().await.server_heads(id)
    }

    pub async fn is_confirmed(&self, id: &DocumentId) -> bool {
        self.shared.engine.lock().await.is_confirmed(id)
    }

    pub async fn unconfirmed(&self) -> Vec<DocumentId> {
        self.shared.engine.lock().await.unconfirmed()
    }

    /// Why the server refused this document's changes, while it is marked refused.
    pub async fn refused(&self, id: &DocumentId) -> Option<Refusal> {
        self.shared.engine.lock().await.refusal(id).cloned()
    }

    /// Undo the change the server refused (the owned fields go back to the server's version) and
    /// push the document again. See [`Engine::undo_refused`].
    pub async fn undo_refused(&self, id: DocumentId) -> Result<(), DeviceError> {
        let mut engine = self.shared.engine.lock().await;
        let fx = engine.undo_refused(id, now_ms())?;
        self.execute(&mut engine, fx).await
    }

    /// Keep a copy of a story as a new story of this device (see [`Engine::keep_copy`]); returns
    /// the copy's id.
    pub async fn keep_copy(&self, id: DocumentId) -> Result<DocumentId, DeviceError> {
        let new_id = DocumentId::from_bytes(rand::random());
        let mut engine = self.shared.engine.lock().await;
        let fx = engine.keep_copy(id, new_id, now_ms())?;
        self.execute(&mut engine, fx).await?;
        Ok(new_id)
    }

    pub async fn is_connected(&self) -> bool {
        self.shared.engine.lock().await.is_connected()
    }

    /// Events seen so far (drained).
    pub fn take_events(&self) -> Vec<Event> {
        self.shared
            .events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    /// Call `f` for every event from now on, the moment it is emitted: after the store finished what
    /// the event reports (a changed document is durable by then), with the engine's copy of the
    /// document the event is about. `f` runs inside the driver while it holds the device, so it sees
    /// exactly the state the event describes; keep it short and never call the device from it. One
    /// observer per device: a new one replaces the old. Events still queue for
    /// [`Device::take_events`] as well. Benchmarks use this to time when an edit arrives.
    pub fn observe(&self, f: impl Fn(&Event, Option<&Automerge>) + Send + Sync + 'static) {
        if let Ok(mut o) = self.shared.observer.write() {
            *o = Some(Arc::new(f));
        }
    }

    /// Wait until `check` holds, re-checking on every change, for at most `timeout`.
    pub async fn wait_for<F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<(), DeviceError>
    where
        F: FnMut(Device) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if check(self.clone()).await {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return if check(self.clone()).await {
                    Ok(())
                } else {
                    Err(DeviceError::Timeout(what.to_string()))
                };
            }
        }
    }

    /// Connect to `ws_url` (e.g. `ws://127.0.0.1:8080/sync`) with a bearer token. Returns once the
    /// handshake finished. The connection runs in the background until [`Device::disconnect`], the
    /// server closing it, or an error.
    pub async fn connect(&self, ws_url: &str, token: &str) -> Result<(), DeviceError> {
        let mut req = ws_url
            .into_client_request()
            .map_err(|e| DeviceError::Ws(e.to_string()))?;
        let auth = format!("Bearer {token}")
            .parse()
            .map_err(|_| DeviceError::Ws("bad token".into()))?;
        req.headers_mut().insert("authorization", auth);
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| DeviceError::Ws(e.to_string()))?;
        use std::sync::atomic::Ordering;
        let generation = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        if let Ok(mut out) = self.shared.outbox.lock() {
            *out = Some(tx.clone());
        }
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if frame.is_empty() {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break;
                }
                if sink.send(WsMessage::Binary(frame.into())).await.is_err() {
                    break;
                }
            }
        });
        {
            let mut engine = self.shared.engine.lock().await;
            let fx = engine.handle_connected(now_ms());
            self.execute(&mut engine, fx).await?;
        }
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let data = match msg {
                    WsMessage::Binary(b) => b.to_vec(),
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                let mut engine = me.shared.engine.lock().await;
                if me.shared.generation.load(Ordering::SeqCst) != generation {
                    return; // superseded by disconnect() or a newer connection
                }
                match engine.handle_frame(&data, now_ms()) {
                    Ok(fx) => {
                        if me.execute(&mut engine, fx).await.is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            let mut engine = me.shared.engine.lock().await;
            if me.shared.generation.load(Ordering::SeqCst) == generation {
                engine.handle_disconnected();
                if let Ok(mut out) = me.shared.outbox.lock() {
                    *out = None;
                }
            }
            drop(engine);
            me.shared.changed.notify_waiters();
        });
        self.wait_for("handshake", Duration::from_secs(15), |d| async move {
            d.is_connected().await
        })
        .await
    }

    /// Close the websocket (as when the phone loses its connection).
    pub async fn disconnect(&self) {
        self.shared
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tx = self.shared.outbox.lock().ok().and_then(|mut o| o.take());
        if let Some(tx) = tx {
            let _ = tx.send(Vec::new());
        }
        self.shared.engine.lock().await.handle_disconnected();
        self.shared.changed.notify_waiters();
    }
}
