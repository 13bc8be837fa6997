// The WebM rewrite both the integration tests (`tests/integration/media.rs`, as
// `vertel_tests::webm`) and the server's decoder test (`server/src/media/audio.rs`, through
// `include!`) use: one copy, so no inner attributes or `//!` here.

/// Rewrite every Cluster's size as "unknown" (0x01FFFFFFFFFFFFFF), as a live recorder (Chrome's
/// MediaRecorder) writes WebM.
pub fn unknown_size_clusters(data: &[u8]) -> Vec<u8> {
    const CLUSTER: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(&CLUSTER) && i + 4 < data.len() {
            let first = data[i + 4];
            let len = first.leading_zeros() as usize + 1;
            if (1..=8).contains(&len) && i + 4 + len <= data.len() {
                out.extend_from_slice(&CLUSTER);
                out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
                i += 4 + len;
                continue;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}
