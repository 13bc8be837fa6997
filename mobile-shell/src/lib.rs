//! The mobile shell's wasm module: client-core's engine and story API for the web app.
//!
//! [`shell`] does the work in plain Rust; this file only converts to and from JavaScript values.
//! The JavaScript driver (`web/js/core.js`) plays the role `client_core::native` plays natively: it
//! carries out every [`Effects`] it gets — store tasks first, in IndexedDB, then frames on the
//! websocket — and reports finished saves back with [`Core::handle_saved`].
//!
//! Effects reach JavaScript as `{send: Uint8Array[], store: ({op: "save", id, bytes} | {op:
//! "delete", id})[], events: {type, id?, confirmed?, remote?, code?, message?}[]}`, where `bytes` is
//! `client_core::store::encode_stored` of the document (what [`Core::load`] takes back).

pub mod shell;

use client_core::engine::{Effects, Event, StoreTask};
use client_core::store::encode_stored;
use js_sys::{Array, Object, Reflect, Uint8Array};
use shell::{Shell, ShellError};
use wasm_bindgen::prelude::*;

fn js_err(e: ShellError) -> JsError {
    JsError::new(&e.to_string())
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn event_js(event: &Event) -> JsValue {
    let o = Object::new();
    let (kind, id) = match event {
        Event::Connected { remote } => {
            set(&o, "remote", &JsValue::from_str(remote));
            ("connected", None)
        }
        Event::DocChanged { id } => ("doc-changed", Some(id)),
        Event::Saved { id } => ("saved", Some(id)),
        Event::SyncStatus { id, confirmed } => {
            set(&o, "confirmed", &JsValue::from_bool(*confirmed));
            ("sync-status", Some(id))
        }
        Event::Unavailable { id } => ("unavailable", Some(id)),
        Event::Purged { id } => ("purged", Some(id)),
        Event::Refused { id, code, message } => {
            set(&o, "code", &JsValue::from_str(code));
            set(&o, "message", &JsValue::from_str(message));
            ("refused", Some(id))
        }
        Event::RemoteError { message } => {
            set(&o, "message", &JsValue::from_str(message));
            ("remote-error", None)
        }
    };
    set(&o, "type", &JsValue::from_str(kind));
    if let Some(id) = id {
        set(&o, "id", &JsValue::from_str(&id.to_string()));
    }
    o.into()
}

fn effects_js(fx: Effects) -> JsValue {
    let send = Array::new();
    for frame in &fx.send {
        send.push(&Uint8Array::from(frame.as_slice()));
    }
    let store = Array::new();
    for task in &fx.store {
        let t = Object::new();
        match task {
            StoreTask::Save { id, doc } => {
                set(&t, "op", &JsValue::from_str("save"));
                set(&t, "id", &JsValue::from_str(&id.to_string()));
                set(
                    &t,
                    "bytes",
                    &Uint8Array::from(encode_stored(doc).as_slice()),
                );
            }
            StoreTask::Delete { id } => {
                set(&t, "op", &JsValue::from_str("delete"));
                set(&t, "id", &JsValue::from_str(&id.to_string()));
            }
        }
        store.push(&t);
    }
    let events = Array::new();
    for e in &fx.events {
        events.push(&event_js(e));
    }
    let o = Object::new();
    set(&o, "send", &send);
    set(&o, "store", &store);
    set(&o, "events", &events);
    o.into()
}

/// JavaScript numbers carry `Date.now()`; client-core takes integer milliseconds.
fn ms(now: f64) -> i64 {
    now as i64
}

/// One device's engine and documents.
#[wasm_bindgen]
pub struct Core {
    shell: Shell,
}

#[wasm_bindgen]
impl Core {
    /// `actor`: 16 random bytes (`crypto.getRandomValues`), fresh for every start: the actor id
    /// of every change this device writes until it stops.
    #[wasm_bindgen(constructor)]
    pub fn new(peer_id: String, actor: &[u8]) -> Result<Core, JsError> {
        Ok(Core {
            shell: Shell::new(peer_id, actor).map_err(js_err)?,
        })
    }

    /// Add a document read from the local store at start-up.
    pub fn load(&mut self, id: &str, stored: &[u8]) -> Result<(), JsError> {
        self.shell.load(id, stored).map_err(js_err)
    }

    /// Add a stored document while running (opened, edited, or named by the changes feed); its
    /// sync starts at once when connected.
    #[wasm_bindgen(js_name = loadAndSync)]
    pub fn load_and_sync(&mut self, id: &str, stored: &[u8]) -> Result<JsValue, JsError> {
        self.shell
            .load_and_sync(id, stored)
            .map(effects_js)
            .map_err(js_err)
    }

    /// Create a story from the capture form's JSON (see `shell::StoryInput`).
    #[wasm_bindgen(js_name = createStory)]
    pub fn create_story(&mut self, id: &str, input: &str) -> Result<JsValue, JsError> {
        self.shell
            .create_story(id, input)
            .map(effects_js)
            .map_err(js_err)
    }

    /// Create a draft (no consent needed yet) from the capture screen's JSON.
    #[wasm_bindgen(js_name = createDraft)]
    pub fn create_draft(&mut self, id: &str, input: &str) -> Result<JsValue, JsError> {
        self.shell
            .create_draft(id, input)
            .map(effects_js)
            .map_err(js_err)
    }

    /// Hand a draft in ("Indienen"): review `submitted`; needs consent for a story about a person.
    #[wasm_bindgen(js_name = handIn)]
    pub fn hand_in(&mut self, id: &str, now: f64) -> Result<JsValue, JsError> {
        self.shell
            .hand_in(id, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    #[wasm_bindgen(js_name = createPersona)]
    pub fn create_persona(&mut self, id: &str, input: &str, now: f64) -> Result<JsValue, JsError> {
        self.shell
            .create_persona(id, input, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    /// Edit a story with a `client_core::story::StoryPatch` as JSON.
    #[wasm_bindgen(js_name = editStory)]
    pub fn edit_story(&mut self, id: &str, patch: &str, now: f64) -> Result<JsValue, JsError> {
        self.shell
            .edit_story(id, patch, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    #[wasm_bindgen(js_name = setTag)]
    pub fn set_tag(
        &mut self,
        id: &str,
        code: &str,
        state: &str,
        by: &str,
        now: f64,
    ) -> Result<JsValue, JsError> {
        self.shell
            .set_tag(id, code, state, by, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    /// Add an attachment `{sha256, mime, size}` (JSON) to a story.
    #[wasm_bindgen(js_name = addAttachment)]
    pub fn add_attachment(
        &mut self,
        id: &str,
        attachment: &str,
        now: f64,
    ) -> Result<JsValue, JsError> {
        self.shell
            .add_attachment(id, attachment, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    /// Answer a coordinator's review with `{comment_id, author, text, resubmit}` (JSON, see
    /// `shell::ReplyInput`): the reply as a comment and, for a returned story, submitted again.
    #[wasm_bindgen(js_name = replyToReview)]
    pub fn reply_to_review(&mut self, id: &str, input: &str, now: f64) -> Result<JsValue, JsError> {
        self.shell
            .reply(id, input, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    /// Undo the change the server refused: fields that belong to someone else go back to the
    /// server's version, the rest stays, and the story syncs again.
    #[wasm_bindgen(js_name = undoRefused)]
    pub fn undo_refused(&mut self, id: &str, now: f64) -> Result<JsValue, JsError> {
        self.shell
            .undo_refused(id, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    /// Keep a copy of a story as the new story `new_id`, without the fields that belong to
    /// someone else.
    #[wasm_bindgen(js_name = keepCopy)]
    pub fn keep_copy(&mut self, id: &str, new_id: &str, now: f64) -> Result<JsValue, JsError> {
        self.shell
            .keep_copy(id, new_id, ms(now))
            .map(effects_js)
            .map_err(js_err)
    }

    /// Ids of documents the server refused (and has not confirmed since).
    pub fn refused(&self) -> Vec<String> {
        self.shell.refused()
    }

    /// Ask the server for a document this device does not hold (from the changes feed).
    pub fn want(&mut self, id: &str) -> Result<JsValue, JsError> {
        self.shell.want(id).map(effects_js).map_err(js_err)
    }

    pub fn purge(&mut self, id: &str) -> Result<JsValue, JsError> {
        self.shell.purge(id).map(effects_js).map_err(js_err)
    }

    /// The store finished a save effect for `id` (the IndexedDB transaction completed).
    #[wasm_bindgen(js_name = handleSaved)]
    pub fn handle_saved(&mut self, id: &str) -> Result<JsValue, JsError> {
        self.shell.handle_saved(id).map(effects_js).map_err(js_err)
    }

    #[wasm_bindgen(js_name = handleConnected)]
    pub fn handle_connected(&mut self, now: f64) -> JsValue {
        effects_js(self.shell.engine_mut().handle_connected(ms(now)))
    }

    #[wasm_bindgen(js_name = handleDisconnected)]
    pub fn handle_disconnected(&mut self) {
        self.shell.engine_mut().handle_disconnected();
    }

    /// A websocket frame arrived. An error means: close the socket (documents stay intact).
    #[wasm_bindgen(js_name = handleFrame)]
    pub fn handle_frame(&mut self, frame: &[u8], now: f64) -> Result<JsValue, JsError> {
        self.shell
            .engine_mut()
            .handle_frame(frame, ms(now))
            .map(effects_js)
            .map_err(|e| js_err(e.into()))
    }

    /// True when the handshake took too long and the socket should be closed.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self, now: f64) -> bool {
        self.shell.engine().poll_timeout(ms(now))
    }

    #[wasm_bindgen(js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        self.shell.engine().is_connected()
    }

    /// Whether the device holds a document (or is waiting for it).
    pub fn has(&self, id: &str) -> bool {
        shell::parse_id(id).is_ok_and(|id| self.shell.engine().document(&id).is_some())
    }

    /// One document as JSON (`shell::View`), or undefined.
    pub fn view(&self, id: &str) -> Result<Option<String>, JsError> {
        let view = self.shell.view(id).map_err(js_err)?;
        view.map(|v| serde_json::to_string(&v))
            .transpose()
            .map_err(|e| js_err(e.into()))
    }

    /// Every document as a JSON array of views.
    pub fn views(&self) -> Result<String, JsError> {
        serde_json::to_string(&self.shell.views()).map_err(|e| js_err(e.into()))
    }

    /// Ids of documents with changes the server has not confirmed.
    pub fn unconfirmed(&self) -> Vec<String> {
        self.shell.unconfirmed()
    }
}

/// A document id (base58check) from 16 random bytes.
#[wasm_bindgen(js_name = newDocumentId)]
pub fn new_document_id(bytes: &[u8]) -> Result<String, JsError> {
    shell::new_document_id(bytes).map_err(js_err)
}

/// Lower-case hex SHA-256 of the bytes (attachments are named by it).
#[wasm_bindgen(js_name = sha256Hex)]
pub fn sha256_hex(bytes: &[u8]) -> String {
    shell::sha256_hex(bytes)
}

thread_local! {
    static DEIDENTIFIER: client_core::deidentify::Deidentifier =
        client_core::deidentify::Deidentifier::new();
}

/// What in `text` looks like a name, an address, a number and the like (issue 16,
/// `docs/deidentify.md`), as JSON `[{start, end, kind, label}]` with UTF-16 offsets: the shell
/// marks it gently as it is typed ("Dit lijkt een adres"); it never blocks anything.
#[wasm_bindgen(js_name = findIdentifiers)]
pub fn find_identifiers(text: &str) -> String {
    let spans = DEIDENTIFIER.with(|d| d.find(text));
    let (mut at, mut units) = (0usize, 0usize);
    let mut utf16 = |byte: usize| {
        units += text[at..byte].encode_utf16().count();
        at = byte;
        units
    };
    let found: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| {
            serde_json::json!({
                "start": utf16(s.start),
                "end": utf16(s.end),
                "kind": s.kind.code(),
                "label": s.kind.label(),
            })
        })
        .collect();
    serde_json::Value::Array(found).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_with_utf16_offsets() {
        let found: serde_json::Value =
            serde_json::from_str(&super::find_identifiers("👶 Bel Anja op 06-12345678.")).unwrap();
        assert_eq!(found[0]["kind"], "naam");
        assert_eq!(
            (found[0]["start"].as_u64(), found[0]["end"].as_u64()),
            (Some(7), Some(11))
        );
        assert_eq!(found[1]["kind"], "telefoon");
        assert_eq!(found[1]["label"], "[telefoon]");
    }
}
