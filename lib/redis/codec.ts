// The messages nodes exchange on a room's channel: `<kind>\n<origin node>\n<a>\n<b>\n<rest>`, one letter per kind.
// The frame comes last, so it may hold any character, newlines included.
import type { BackplaneEvent, Handoff } from '../backplane.js'

const KINDS = { d: 'deliver', b: 'broadcast', k: 'kick', r: 'replaced', c: 'close-room', q: 'resume-request', s: 'resume-reply' } as const

export function encode (nodeId: string, event: BackplaneEvent): string {
  switch (event.kind) {
    case 'deliver': return `d\n${nodeId}\n${event.to}\n\n${event.frame}`
    case 'broadcast': return `b\n${nodeId}\n${event.except}\n\n${event.frame}`
    case 'kick': return `k\n${nodeId}\n${event.peerId}\n\n`
    case 'replaced': return `r\n${nodeId}\n${event.peerId}\n${event.connection}\n`
    case 'close-room': return `c\n${nodeId}\n\n\n`
    case 'resume-request': return `q\n${nodeId}\n${event.peerId}\n${event.requestId}\n${event.lastSeq}`
    case 'resume-reply': return `s\n${nodeId}\n${event.requestId}\n\n${JSON.stringify(event.reply)}`
  }
}

/** The event and the node that sent it; undefined for a message of no known kind. */
export function decode (message: string): { origin: string, event: BackplaneEvent } | undefined {
  const n1 = message.indexOf('\n')
  const n2 = message.indexOf('\n', n1 + 1)
  const n3 = message.indexOf('\n', n2 + 1)
  const n4 = message.indexOf('\n', n3 + 1)
  if (n1 < 0 || n2 < 0 || n3 < 0 || n4 < 0) return undefined
  const kind = KINDS[message.slice(0, n1) as keyof typeof KINDS]
  const origin = message.slice(n1 + 1, n2)
  const a = message.slice(n2 + 1, n3)
  const b = message.slice(n3 + 1, n4)
  const rest = message.slice(n4 + 1)
  switch (kind) {
    case 'deliver': return { origin, event: { kind, to: a, frame: rest } }
    case 'broadcast': return { origin, event: { kind, except: a, frame: rest } }
    case 'kick': return { origin, event: { kind, peerId: a } }
    case 'replaced': return { origin, event: { kind, peerId: a, connection: b } }
    case 'close-room': return { origin, event: { kind } }
    case 'resume-request': return { origin, event: { kind, peerId: a, requestId: b, lastSeq: Number(rest) } }
    case 'resume-reply': return { origin, event: { kind, requestId: a, reply: JSON.parse(rest) as Handoff } }
    default: return undefined
  }
}
