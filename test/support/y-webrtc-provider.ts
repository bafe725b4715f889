// A real y-webrtc provider with its own Y.Doc in a process of its own, as a browser tab would be (y-webrtc keeps its
// rooms in module state and syncs tabs of one process over BroadcastChannel): driven by its parent over IPC.
// argv: signalling URL, room name. It reports its text, its WebRTC peers and the server's `error` codes after every change.
import WebSocket from 'ws'

// lib0's signalling client opens `new WebSocket(url)`; Node 20 has no global one
;(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket
const { default: wrtc } = await import('@roamhq/wrtc')
const Y = await import('yjs')
const { WebrtcProvider } = await import('y-webrtc')

const [url, roomName] = process.argv.slice(2) as [string, string]
const doc = new Y.Doc()
const text = doc.getText('text')
const provider = new WebrtcProvider(roomName, doc, { signaling: [url], peerOpts: { wrtc } })

interface Room { webrtcConns: Map<string, { connected: boolean }> }
interface SignalingConn { on: (event: 'message', listener: (message: { type?: string, code?: string }) => void) => void }

/** The `error` frames of our server, which the client itself ignores. */
const errors: string[] = []
for (const conn of provider.signalingConns as SignalingConn[]) {
  conn.on('message', (message) => {
    if (message.type !== 'error') return
    errors.push(String(message.code))
    report()
  })
}

function report (): void {
  const room = provider.room as unknown as Room | null
  const webrtcPeers = room === null ? [] : [...room.webrtcConns].filter(([, conn]) => conn.connected).map(([id]) => id)
  process.send?.({ text: text.toString(), webrtcPeers, errors })
}

doc.on('update', report)
provider.on('peers', report)
process.on('message', (command: { insert?: string }) => {
  if (command.insert !== undefined) text.insert(text.length, command.insert)
  report()
})
// wrtc's peers call back for a while; the parent kills this process when it is done
setInterval(report, 500)
