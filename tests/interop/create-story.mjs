// Create a story with a standard automerge-repo client and wait until vertel-server stored it.
//
//   node create-story.mjs <http-base-url> <email> <password> <title> <body>
//
// Prints one JSON line: {"id": "<document id>", "heads": ["<hex change hash>", ...]}.
// "Stored" means the server's changes feed lists the document with exactly these heads: the server
// publishes heads in the feed only after the changes are in its database.

import { ImmutableString, decodeHeads } from "@automerge/automerge-repo"
import { Uint } from "@automerge/automerge"
import { TIMEOUT_MS, args, connect, finish, login, run, syncUrl } from "./lib.mjs"

const [base, email, password, title, body] = args([
  "http-base-url",
  "email",
  "password",
  "title",
  "body",
])

/** Poll the changes feed until `id` appears with `heads` (compared as sets). */
async function waitForServer(token, id, heads) {
  const want = [...heads].sort().join(",")
  const deadline = Date.now() + TIMEOUT_MS
  let seen = null
  for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 250)) {
    let since = 0
    for (;;) {
      const resp = await fetch(new URL(`/api/v1/stories/changes?since=${since}&limit=5000`, base), {
        headers: { authorization: `Bearer ${token}` },
      })
      if (!resp.ok) throw new Error(`changes feed: HTTP ${resp.status} ${await resp.text()}`)
      const page = await resp.json()
      const entry = (page.changes ?? []).find(c => c.id === id)
      if (entry) {
        seen = [...entry.heads].sort().join(",")
        if (seen === want) return
      }
      if (!page.more) break
      since = page.next
    }
    await new Promise(resolve => setTimeout(resolve, delay))
  }
  throw new Error(`the server did not store ${id} with heads ${want} (last seen: ${seen})`)
}

run(async () => {
  const session = await login(base, email, password)
  const { repo } = await connect(syncUrl(base, session.token))

  // Fields are written in a change, not as `repo.create(initialValue)`: automerge's `from()` turns
  // a `Uint` into a map `{value: 1}` instead of an unsigned integer.
  const handle = repo.create()
  handle.change(
    doc => {
      doc.schema = new Uint(1)
      doc.type = new ImmutableString("story")
      doc.kind = new ImmutableString("impact-narrative")
      doc.title = new ImmutableString(title)
      doc.body = body // a plain string is collaborative text in automerge 3
      doc.language = new ImmutableString("nl")
      doc.capturedAt = new Date()
      doc.review = new ImmutableString("draft")
      doc.tags = {}
      doc.comments = []
      doc.attachments = []
    },
    { message: "create story" },
  )
  const heads = decodeHeads(handle.heads())
  await waitForServer(session.token, handle.documentId, heads)

  process.stdout.write(`${JSON.stringify({ id: handle.documentId, heads })}\n`)
  await finish(repo, 0)
})
