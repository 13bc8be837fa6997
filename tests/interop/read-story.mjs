// Read a story from vertel-server with a standard automerge-repo client.
//
//   node read-story.mjs <http-base-url> <email> <password> <documentId>
//
// Prints one JSON line: {"title": ..., "body": ...}. Exits 1 if the server says the document is
// unavailable (it does not exist, or this member may not see it).

import { decodeHeads, interpretAsDocumentId, isValidDocumentId } from "@automerge/automerge-repo"
import { TIMEOUT_MS, args, connect, finish, login, run, syncUrl, text, withTimeout } from "./lib.mjs"

const [base, email, password, documentId] = args(["http-base-url", "email", "password", "documentId"])

run(async () => {
  const id = documentId.replace(/^automerge:/, "")
  if (!isValidDocumentId(id)) throw new Error(`not a document id: ${documentId}`)
  const session = await login(base, email, password)
  const { repo } = await connect(syncUrl(base, session.token))

  const handle = await withTimeout(
    repo.find(interpretAsDocumentId(id)),
    TIMEOUT_MS,
    `document ${id}`,
  )
  const doc = handle.doc()
  process.stdout.write(
    `${JSON.stringify({
      title: text(doc.title),
      body: text(doc.body),
      heads: decodeHeads(handle.heads()),
    })}\n`,
  )
  await finish(repo, 0)
})
