// The reference automerge-repo sync server, as the automerge-repo README builds it: a Repo with the
// websocket server adapter on a `ws` WebSocketServer and file storage. Benchmarks compare
// vertel-server against it.
//
//   node reference-server.mjs <port> <storage-dir>
//
// Listens on 127.0.0.1 at any path and ignores tokens. Prints `listening on ws://127.0.0.1:<port>`
// once ready (port 0 picks a free port, and the line says which). Stops on SIGTERM or SIGINT.

import { createServer } from "node:http"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"

const given = process.argv.slice(2)
const port = Number(given[0])
if (given.length !== 2 || given[0] === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write("usage: node reference-server.mjs <port> <storage-dir>\n")
  process.exit(2)
}

// The Repo hands the adapter its peer id only after reading its storage id from disk, and the
// adapter starts listening for websocket connections only then. A connection accepted earlier
// would never be answered, so the port opens once the adapter is connected.
let adapterConnected
const connected = new Promise(resolve => (adapterConnected = resolve))
class Adapter extends WebSocketServerAdapter {
  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    adapterConnected()
  }
}

const http = createServer((_, res) => res.writeHead(426).end("websocket only\n"))
const wss = new WebSocketServer({ server: http })
const repo = new Repo({
  network: [new Adapter(wss)],
  storage: new NodeFSStorageAdapter(given[1]),
  // As @automerge/automerge-repo-sync-server does: documents go only to peers that ask for them
  // by id, never pushed to every connected peer.
  sharePolicy: async () => false,
})

function failed(e) {
  process.stderr.write(`reference server: ${e.message}\n`)
  process.exit(1)
}
http.on("error", failed)
wss.on("error", failed) // ws re-emits the http server's errors here
await connected
http.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening on ws://127.0.0.1:${http.address().port}\n`)
})

async function stop() {
  wss.close()
  http.close()
  await repo.shutdown()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
