// Shared helpers for the interop scripts: log in to vertel-server over REST and open a standard
// automerge-repo Repo that syncs with it over the websocket protocol.

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

export const TIMEOUT_MS = 30_000

/** Print a message to stderr and exit non-zero. */
export function fail(message) {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

/** Check the argument count; print usage and exit 2 otherwise. */
export function args(names) {
  const given = process.argv.slice(2)
  if (given.length !== names.length) {
    const script = process.argv[1]?.split("/").pop() ?? "script"
    process.stderr.write(`usage: node ${script} ${names.map(n => `<${n}>`).join(" ")}\n`)
    process.exit(2)
  }
  return given
}

/** `POST /api/v1/auth/login`; returns the session `{token, member, workspace}`. */
export async function login(base, email, password) {
  const resp = await fetch(new URL("/api/v1/auth/login", base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  })
  if (!resp.ok) {
    throw new Error(`login ${email}: HTTP ${resp.status} ${await resp.text()}`)
  }
  const session = await resp.json()
  if (typeof session?.token !== "string") {
    throw new Error(`login ${email}: no token in the answer`)
  }
  return session
}

/** The sync websocket URL for an http(s) base URL, with the token as query parameter. */
export function syncUrl(base, token) {
  const url = new URL("/sync", base)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  url.searchParams.set("token", token)
  return url.toString()
}

/** Resolve with `value` when `promise` does, or reject after `ms` milliseconds. */
export function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * A Repo without storage whose only peer is the server at `wsUrl`. Resolves once the server
 * answered the handshake (`peer`), so documents can be found and announced right away.
 */
export async function connect(wsUrl) {
  const adapter = new WebSocketClientAdapter(wsUrl)
  const peer = new Promise(resolve => adapter.once("peer-candidate", resolve))
  const repo = new Repo({ network: [adapter] })
  const { peerId } = await withTimeout(peer, TIMEOUT_MS, "the server's peer message")
  return { repo, adapter, serverPeerId: peerId }
}

/** Close the connection and end the process with `code`. */
export async function finish(repo, code = 0) {
  try {
    await withTimeout(repo.shutdown(), 5_000, "repo shutdown")
  } catch (e) {
    process.stderr.write(`shutdown: ${e.message}\n`)
  }
  process.exit(code)
}

/** A string field that may be collaborative text (a JS string) or an ImmutableString. */
export function text(value) {
  if (value === undefined || value === null) return null
  if (typeof value === "string") return value
  if (typeof value.val === "string") return value.val
  return String(value)
}

/** Run `main`, turning any error into a message on stderr and exit status 1. */
export function run(main) {
  main().catch(e => fail(e?.stack ?? String(e)))
}
