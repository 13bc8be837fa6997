//! Blobs: content-addressed bytes in the blob store — the data directory (the default) or an
//! S3-compatible bucket (`--blob-url s3://bucket[/prefix]`) behind one interface, the
//! `object_store` crate. Their rows are in the database (`crate::db::media`).
//!
//! A blob is named by the SHA-256 (lower-case hex) of the bytes a device uploaded: the name stories
//! reference in their `attachments`. Its bytes are the object `blobs/<first two hex>/<sha256>` (a
//! photo's thumbnail beside it as `<sha256>.thumb`), never inside a document or the database.
//! Objects appear whole or not at all: the local store writes a temporary file and renames it, S3
//! makes an object visible when its (multipart) upload completes.
//!
//! An upload in progress is a set of part objects `uploads/<id>/<offset>` in the same store, so a
//! device may resume its upload through another server process: the offset is what the parts add
//! up to. Only while an upload is finished (hashed, sanitised) and while a recording is
//! transcribed does a process hold the bytes in a local temporary file.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::NamedTempFile;

/// What a blob holds, which decides what the server does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Audio,
    Photo,
}

impl BlobKind {
    pub fn code(self) -> &'static str {
        match self {
            BlobKind::Audio => "audio",
            BlobKind::Photo => "photo",
        }
    }

    pub fn from_code(s: &str) -> Option<BlobKind> {
        match s {
            "audio" => Some(BlobKind::Audio),
            "photo" => Some(BlobKind::Photo),
            _ => None,
        }
    }

    /// The kind for a MIME type a device declared, or `None` when the server does not accept it.
    /// Browsers label audio-only recordings `audio/webm`, `audio/mp4`, `audio/ogg`, sometimes
    /// `video/webm` or `video/mp4`; parameters such as `;codecs=opus` are ignored.
    pub fn for_mime(mime: &str) -> Option<BlobKind> {
        let base = mime
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "image/jpeg" | "image/png" | "image/webp" => Some(BlobKind::Photo),
            "video/webm" | "video/mp4" | "application/ogg" => Some(BlobKind::Audio),
            b if b.starts_with("audio/") => Some(BlobKind::Audio),
            _ => None,
        }
    }
}

pub use crate::db::media::{Blob, NewBlob};

/// Whether `s` is a SHA-256 in lower-case hex, the only form blob names take (and so the only
/// form that ever reaches an object key).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Bytes of one upload part: a `PATCH` body is stored in parts of at most this size, so what
/// arrived before a connection broke counts, and a process holds at most this much of one
/// request in memory.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Where blobs live: the settings of `serve` (`--blob-url` and the `AWS_*` variables).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BlobArgs {
    /// Where voice notes and photos are stored: empty for `<data dir>/media`, or
    /// `s3://bucket[/prefix]` for an S3-compatible store (Garage, AWS S3, …), reached with
    /// `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for a
    /// plain-HTTP endpoint on a private network, `AWS_ALLOW_HTTP=true`. Every server process of
    /// one database must use the same store.
    #[arg(long, env = "VERTEL_BLOB_URL")]
    pub blob_url: Option<String>,
}

/// The blob store: one interface over the local directory and an S3 bucket.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Local scratch space for files being hashed, sanitised or transcribed.
    tmp: PathBuf,
    /// `local <dir>` or `s3://bucket/prefix`, for logs and `/healthz`.
    pub describe: String,
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl BlobStore {
    /// The store `args` names: `<data_dir>/media` by default, an S3 bucket configured from the
    /// `AWS_*` environment for `s3://`.
    pub fn open(data_dir: &Path, args: &BlobArgs) -> std::io::Result<BlobStore> {
        let tmp = data_dir.join("media").join("tmp");
        match args.blob_url.as_deref().filter(|u| !u.trim().is_empty()) {
            None => BlobStore::local(&data_dir.join("media"), &tmp),
            Some(url) => BlobStore::s3(url, AmazonS3Builder::from_env(), &tmp),
        }
    }

    /// Objects as files under `root`.
    pub fn local(root: &Path, tmp: &Path) -> std::io::Result<BlobStore> {
        std::fs::create_dir_all(root)?;
        std::fs::create_dir_all(tmp)?;
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(other)?
            .with_automatic_cleanup(true);
        Ok(BlobStore {
            store: Arc::new(store),
            tmp: tmp.to_path_buf(),
            describe: format!("local {}", root.display()),
        })
    }

    /// Objects in the bucket of `url` (`s3://bucket[/prefix]`), reached as `builder` says.
    pub fn s3(url: &str, builder: AmazonS3Builder, tmp: &Path) -> std::io::Result<BlobStore> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| other(format!("--blob-url {url:?}: use s3://bucket[/prefix]")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        std::fs::create_dir_all(tmp)?;
        let s3 = builder.with_bucket_name(bucket).build().map_err(other)?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(BlobStore {
            store,
            tmp: tmp.to_path_buf(),
            describe: if prefix.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{prefix}")
            },
        })
    }

    /// The object of a blob's bytes. `sha256` must be checked with [`is_sha256_hex`] first.
    pub fn blob_key(sha256: &str) -> ObjectPath {
        ObjectPath::from(format!("blobs/{}/{sha256}", &sha256[..2]))
    }

    pub fn thumbnail_key(sha256: &str) -> ObjectPath {
        ObjectPath::from(format!("blobs/{}/{sha256}.thumb", &sha256[..2]))
    }

    fn parts_prefix(upload_id: &str) -> ObjectPath {
        ObjectPath::from(format!("uploads/{upload_id}"))
    }

    /// Store `bytes` as the object `key`, whole.
    pub async fn put(&self, key: &ObjectPath, bytes: Vec<u8>) -> std::io::Result<()> {
        self.store.put(key, bytes.into()).await?;
        Ok(())
    }

    /// Store a local file as the object `key`, streamed in parts.
    pub async fn put_file(&self, key: &ObjectPath, path: &Path) -> std::io::Result<()> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(path).await?;
        let mut upload = WriteMultipart::new(self.store.put_multipart(key).await?);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            upload.wait_for_capacity(4).await?;
            upload.write(&buf[..n]);
        }
        upload.finish().await?;
        Ok(())
    }

    /// A new empty local temporary file, removed when dropped.
    pub fn temp_file(&self) -> std::io::Result<NamedTempFile> {
        NamedTempFile::new_in(&self.tmp)
    }

    /// The object `key` copied into a local temporary file (audio decoding reads a file).
    /// `NotFound` when there is no such object.
    pub async fn fetch_to_temp(&self, key: &ObjectPath) -> std::io::Result<NamedTempFile> {
        let tmp = self.temp_file()?;
        let stream = self.store.get(key).await?.into_stream();
        write_stream(stream, tmp.path(), None).await?;
        Ok(tmp)
    }

    /// An object's size, `None` when it does not exist.
    pub async fn size(&self, key: &ObjectPath) -> std::io::Result<Option<u64>> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes `range` (inclusive) of an object, or all of them, as a stream.
    pub async fn stream(
        &self,
        key: &ObjectPath,
        range: Option<(u64, u64)>,
    ) -> std::io::Result<BoxStream<'static, Result<Bytes, object_store::Error>>> {
        let options = GetOptions {
            range: range.map(|(start, end)| GetRange::Bounded(start..end + 1)),
            ..Default::default()
        };
        Ok(self.store.get_opts(key, options).await?.into_stream())
    }

    /// Delete objects and check they are gone: a store that answered but still has one is an
    /// error (erasure must not report done while the bytes exist). Missing objects are fine.
    pub async fn delete_verified(&self, keys: &[ObjectPath]) -> std::io::Result<()> {
        for key in keys {
            match self.store.delete(key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            if self.size(key).await?.is_some() {
                return Err(other(format!(
                    "{key} is still in the blob store after deleting it"
                )));
            }
        }
        Ok(())
    }

    /// Remove a blob's bytes and thumbnail, verified.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        self.delete_verified(&[Self::blob_key(sha256), Self::thumbnail_key(sha256)])
            .await
    }

    /// The parts of an upload, in order of their offsets: (key, offset, size).
    async fn parts(&self, upload_id: &str) -> std::io::Result<Vec<(ObjectPath, u64, u64)>> {
        let prefix = Self::parts_prefix(upload_id);
        let metas: Vec<ObjectMeta> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut parts: Vec<_> = metas
            .into_iter()
            .filter_map(|m| {
                let offset = m.location.filename()?.parse::<u64>().ok()?;
                Some((m.location, offset, m.size))
            })
            .collect();
        parts.sort_by_key(|p| p.1);
        Ok(parts)
    }

    /// How many bytes of an upload are stored: the parts' sizes added up.
    pub async fn upload_offset(&self, upload_id: &str) -> std::io::Result<u64> {
        Ok(self.parts(upload_id).await?.iter().map(|p| p.2).sum())
    }

    /// Store a part of an upload that starts at `offset`.
    pub async fn put_part(
        &self,
        upload_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> std::io::Result<()> {
        let key = ObjectPath::from(format!("uploads/{upload_id}/{offset:020}"));
        self.put(&key, bytes).await
    }

    /// Append a body to an upload that holds `offset` bytes, in parts of at most [`PART_BYTES`],
    /// stopping at `limit` bytes in all. Returns the new offset, whether the body held more than
    /// the limit, and the error that broke it off, if one did: what arrived before counts.
    pub async fn append_body<S, B, E>(
        &self,
        upload_id: &str,
        offset: u64,
        limit: u64,
        body: S,
    ) -> std::io::Result<Appended<E>>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
    {
        let mut body = std::pin::pin!(body);
        let mut written = offset;
        let mut part: Vec<u8> = Vec::new();
        let mut outcome = Appended {
            offset,
            too_long: false,
            broken: None,
        };
        while let Some(chunk) = body.next().await {
            let bytes = match chunk {
                Ok(b) => b,
                Err(e) => {
                    outcome.broken = Some(e);
                    break;
                }
            };
            let mut bytes = bytes.as_ref();
            let room = limit - written - part.len() as u64;
            if bytes.len() as u64 > room {
                bytes = &bytes[..room as usize];
                outcome.too_long = true;
            }
            part.extend_from_slice(bytes);
            if part.len() >= PART_BYTES {
                let n = part.len() as u64;
                self.put_part(upload_id, written, std::mem::take(&mut part))
                    .await?;
                written += n;
            }
            if outcome.too_long {
                break;
            }
        }
        if !part.is_empty() {
            let n = part.len() as u64;
            self.put_part(upload_id, written, part).await?;
            written += n;
        }
        outcome.offset = written;
        Ok(outcome)
    }

    /// An upload's parts, concatenated into a local temporary file, with the SHA-256 of it.
    pub async fn assemble(&self, upload_id: &str) -> std::io::Result<(NamedTempFile, String)> {
        let tmp = self.temp_file()?;
        let mut hasher = Sha256::new();
        let mut expected = 0;
        for (key, offset, size) in self.parts(upload_id).await? {
            if offset != expected {
                return Err(other(format!(
                    "upload {upload_id}: part at {offset}, expected {expected}"
                )));
            }
            let stream = self.store.get(&key).await?.into_stream();
            write_stream(stream, tmp.path(), Some(&mut hasher)).await?;
            expected += size;
        }
        Ok((tmp, hex::encode(hasher.finalize())))
    }

    /// Delete an upload's parts (verified gone).
    pub async fn remove_upload(&self, upload_id: &str) -> std::io::Result<()> {
        let keys: Vec<ObjectPath> = self
            .parts(upload_id)
            .await?
            .into_iter()
            .map(|p| p.0)
            .collect();
        self.delete_verified(&keys).await
    }
}

/// What [`BlobStore::append_body`] did.
pub struct Appended<E> {
    /// The upload's offset now.
    pub offset: u64,
    /// The body had more bytes than the limit; those were not stored.
    pub too_long: bool,
    /// The body broke off with this error.
    pub broken: Option<E>,
}

/// Append a stream of bytes to a local file, feeding `hasher` too.
async fn write_stream(
    mut stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    path: &Path,
    mut hasher: Option<&mut Sha256>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await?;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes?;
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&bytes);
        }
        file.write_all(&bytes).await?;
    }
    file.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lower_case_hex_names_a_blob() {
        let ok = "a".repeat(64);
        assert!(is_sha256_hex(&ok));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&format!("../{}", "a".repeat(61))));
        assert!(!is_sha256_hex("abc"));
    }

    #[test]
    fn kinds_follow_what_phones_declare() {
        assert_eq!(
            BlobKind::for_mime("audio/webm;codecs=opus"),
            Some(BlobKind::Audio)
        );
        assert_eq!(BlobKind::for_mime("audio/mp4"), Some(BlobKind::Audio));
        assert_eq!(BlobKind::for_mime("video/webm"), Some(BlobKind::Audio));
        assert_eq!(BlobKind::for_mime("image/jpeg"), Some(BlobKind::Photo));
        assert_eq!(BlobKind::for_mime("text/html"), None);
        assert_eq!(BlobKind::for_mime("image/svg+xml"), None);
    }

    /// An S3 bucket for a test, under a prefix of its own: the real S3 server the test command
    /// starts (`VERTEL_TEST_S3_*`, scripts/lib.sh). Missing variables fail the test.
    pub(crate) fn test_s3(tmp: &Path) -> BlobStore {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: the blob store's S3 tests need the S3 server the test \
                     command starts (scripts/lib.sh start_test_s3)"
                )
            })
        };
        let builder = AmazonS3Builder::new()
            .with_endpoint(var("VERTEL_TEST_S3_ENDPOINT"))
            .with_access_key_id(var("VERTEL_TEST_S3_ACCESS_KEY"))
            .with_secret_access_key(var("VERTEL_TEST_S3_SECRET_KEY"))
            .with_region("us-east-1")
            .with_allow_http(true);
        let url = format!(
            "s3://{}/unit-{:016x}",
            var("VERTEL_TEST_S3_BUCKET"),
            rand::random::<u64>()
        );
        BlobStore::s3(&url, builder, tmp).expect("S3 blob store")
    }

    fn body(
        pieces: Vec<Result<Vec<u8>, &'static str>>,
    ) -> impl Stream<Item = Result<Vec<u8>, &'static str>> {
        futures_util::stream::iter(pieces)
    }

    /// What every store must do: whole objects, ranges, multipart files, upload parts that add up
    /// to the offset across a broken body, assembly with the hash, verified deletion.
    async fn behaves(store: BlobStore) {
        let sha = "ab".repeat(32);
        let key = BlobStore::blob_key(&sha);
        assert_eq!(store.size(&key).await.expect("size"), None);
        store.put(&key, b"0123456789".to_vec()).await.expect("put");
        assert_eq!(store.size(&key).await.expect("size"), Some(10));
        let part: Vec<Bytes> = store
            .stream(&key, Some((2, 5)))
            .await
            .expect("range")
            .try_collect()
            .await
            .expect("bytes");
        assert_eq!(part.concat(), b"2345");
        let local = store.fetch_to_temp(&key).await.expect("fetch");
        assert_eq!(std::fs::read(local.path()).expect("read"), b"0123456789");

        // A file larger than one part of a multipart upload.
        let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let file = store.temp_file().expect("temp");
        std::fs::write(file.path(), &big).expect("write");
        let big_key = BlobStore::blob_key(&"cd".repeat(32));
        store
            .put_file(&big_key, file.path())
            .await
            .expect("put_file");
        let back = store.fetch_to_temp(&big_key).await.expect("fetch big");
        assert!(
            std::fs::read(back.path()).expect("read") == big,
            "same bytes back"
        );

        // An upload in two requests, the first broken off after 9 MiB + 3 bytes.
        let id = "0123abcd";
        let first = body(vec![
            Ok(big[..9 * 1024 * 1024].to_vec()),
            Ok(big[9 * 1024 * 1024..9 * 1024 * 1024 + 3].to_vec()),
            Err("connection reset"),
            Ok(b"never".to_vec()),
        ]);
        let total = big.len() as u64;
        let a = store
            .append_body(id, 0, total, first)
            .await
            .expect("append");
        assert_eq!(
            (a.offset, a.broken),
            (9 * 1024 * 1024 + 3, Some("connection reset"))
        );
        assert_eq!(store.upload_offset(id).await.expect("offset"), a.offset);
        let rest = body(vec![
            Ok(big[a.offset as usize..].to_vec()),
            Ok(b"extra".to_vec()),
        ]);
        let b = store
            .append_body(id, a.offset, total, rest)
            .await
            .expect("append");
        assert_eq!((b.offset, b.too_long), (total, true));
        let (whole, hash) = store.assemble(id).await.expect("assemble");
        assert_eq!(hash, hex::encode(Sha256::digest(&big)));
        assert!(std::fs::read(whole.path()).expect("read") == big);
        store.remove_upload(id).await.expect("remove upload");
        assert_eq!(store.upload_offset(id).await.expect("offset"), 0);

        // Erasure: gone, and checked gone; removing again is fine.
        store
            .put(&BlobStore::thumbnail_key(&sha), b"t".to_vec())
            .await
            .expect("thumb");
        store.remove(&sha).await.expect("remove");
        assert_eq!(store.size(&key).await.expect("size"), None);
        assert_eq!(
            store
                .size(&BlobStore::thumbnail_key(&sha))
                .await
                .expect("size"),
            None
        );
        store.remove(&sha).await.expect("remove again");
        store.remove(&"cd".repeat(32)).await.expect("remove big");
    }

    #[tokio::test]
    async fn the_local_store_behaves() {
        let dir = tempfile::tempdir().expect("dir");
        let store =
            BlobStore::local(&dir.path().join("media"), &dir.path().join("tmp")).expect("store");
        behaves(store).await;
    }

    #[tokio::test]
    async fn the_s3_store_behaves() {
        let dir = tempfile::tempdir().expect("dir");
        behaves(test_s3(dir.path())).await;
    }
}
