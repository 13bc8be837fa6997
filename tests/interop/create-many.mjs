// Create many stories at once with a standard automerge-repo client, one of which writes a field
// the member may not write (`review: "approved"`, which only a coordinator may set), and report
// what the server stored and whether the connection held.
//
//   node create-many.mjs <http-base-url> <email> <password> <count> <forbidden-index>
//
// Prints one JSON line: {"ids": [...the allowed ones], "forbidden": "<id>", "stored_ms": <ms from
// the first create until the changes feed listed every allowed story with its heads>,
// "forbidden_listed": <whether the feed lists the forbidden one a second later>, "handshakes": <n>,
// "disconnects": <n>}. The JavaScript client knows nothing of Vertel's refusals: the server's
// `doc-unavailable` only marks that one document unavailable at the server. A refusal that closed
// the connection would show as a disconnect and a second handshake (the adapter reconnects).

import { ImmutableString, decodeHeads } from "@automerge/automerge-repo"
import { Uint } from "@automerge/automerge"
import { TIMEOUT_MS, args, connect, finish, login, run, syncUrl } from "./lib.mjs"

const [base, email, password, countArg, forbiddenArg] = args([
  "http-base-url",
  "email",
  "password",
  "count",
  "forbidden-index",
])
const count = Number(countArg)
const forbidden = Number(forbiddenArg)
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(forbidden) || forbidden < 0 || forbidden >= count) {
  throw new Error(`bad count ${countArg} or forbidden index ${forbiddenArg}`)
}

/** Every feed entry the token sees, by id: its heads, sorted. */
async function feed(token) {
  const out = new Map()
  let since = 0
  for (;;) {
    const resp = await fetch(new URL(`/api/v1/stories/changes?since=${since}&limit=5000`, base), {
      headers: { authorization: `Bearer ${token}` },
    })
    if (!resp.ok) throw new Error(`changes feed: HTTP ${resp.status} ${await resp.text()}`)
    const page = await resp.json()
    for (const c of page.changes ?? []) out.set(c.id, [...(c.heads ?? [])].sort().join(","))
    if (!page.more) return out
    since = page.next
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

run(async () => {
  const session = await login(base, email, password)
  const { repo, adapter } = await connect(syncUrl(base, session.token))
  let handshakes = 1
  let disconnects = 0
  adapter.on("peer-candidate", () => handshakes++)
  adapter.on("peer-disconnected", () => disconnects++)

  const started = Date.now()
  const stories = []
  for (let i = 0; i < count; i++) {
    const handle = repo.create()
    handle.change(
      doc => {
        doc.schema = new Uint(1)
        doc.type = new ImmutableString("story")
        doc.kind = new ImmutableString("impact-narrative")
        doc.title = new ImmutableString(`Verhaal ${i + 1}`)
        doc.body = `Moeders vertellen over week ${i + 1}.`
        doc.language = new ImmutableString("nl")
        doc.capturedAt = new Date()
        // Only a coordinator may approve; a field member's story starts as a draft.
        doc.review = new ImmutableString(i === forbidden ? "approved" : "draft")
        doc.tags = {}
        doc.comments = []
        doc.attachments = []
      },
      { message: "create story" },
    )
    stories.push({
      id: handle.documentId,
      heads: [...decodeHeads(handle.heads())].sort().join(","),
      allowed: i !== forbidden,
    })
  }
  const allowed = stories.filter(s => s.allowed)
  const refused = stories.find(s => !s.allowed)

  const deadline = started + TIMEOUT_MS
  let storedMs = null
  let missing = allowed.length
  for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 250)) {
    const seen = await feed(session.token)
    missing = allowed.filter(s => seen.get(s.id) !== s.heads).length
    if (missing === 0) {
      storedMs = Date.now() - started
      break
    }
    await sleep(delay)
  }
  if (storedMs === null) {
    throw new Error(`${missing} of ${allowed.length} allowed stories were not stored within ${TIMEOUT_MS} ms`)
  }
  // A moment more: the refused story stays out, and the connection stays up.
  await sleep(1000)
  const forbiddenListed = (await feed(session.token)).has(refused.id)

  process.stdout.write(
    `${JSON.stringify({
      ids: allowed.map(s => s.id),
      forbidden: refused.id,
      stored_ms: storedMs,
      forbidden_listed: forbiddenListed,
      handshakes,
      disconnects,
    })}\n`,
  )
  await finish(repo, 0)
})
