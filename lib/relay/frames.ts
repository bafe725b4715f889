// The outgoing grammar: relayed frames are built as text, `seq` appended to a frame still open (without its `}`).
import type { RawData } from 'ws'
import type { ErrorCode } from '../errors.js'
import { CloseCodes } from '../protocol.js'

/**
 * A relayed frame without its closing brace; `data` is JSON text. `type` is one of the protocol's and `from` a peer
 * id or SERVER_SENDER: neither needs escaping.
 */
export function openRelayFrame (type: string, from: string, data: string | undefined): string {
  return `{"type":"${type}","from":"${from}"${data === undefined ? '' : `,"data":${data}`}`
}

/** `data` of a parsed message as JSON text; it comes from JSON.parse and may be nested deeper than JSON.stringify can recurse. */
export function dataJson (data: unknown): string | undefined {
  return data === undefined ? undefined : stringifyJson(data)
}

/** JSON.stringify for values made by JSON.parse, falling back to an explicit stack when recursion runs out. */
function stringifyJson (value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch (err) {
    if (!(err instanceof RangeError)) throw err
  }
  const out: string[] = []
  const tasks: Array<{ value: unknown } | { text: string }> = [{ value }]
  while (tasks.length > 0) {
    const task = tasks.pop()!
    if ('text' in task) {
      out.push(task.text)
      continue
    }
    const v = task.value
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null')
    } else if (Array.isArray(v)) {
      out.push('[')
      tasks.push({ text: ']' })
      for (let i = v.length - 1; i >= 0; i--) {
        tasks.push({ value: v[i] })
        if (i > 0) tasks.push({ text: ',' })
      }
    } else {
      const keys = Object.keys(v)
      out.push('{')
      tasks.push({ text: '}' })
      for (let i = keys.length - 1; i >= 0; i--) {
        tasks.push({ value: (v as Record<string, unknown>)[keys[i]!] })
        tasks.push({ text: `${JSON.stringify(keys[i])}:` })
        if (i > 0) tasks.push({ text: ',' })
      }
    }
  }
  return out.join('')
}

/** Size of a frame as received, without decoding it. */
export function byteLength (data: RawData): number {
  if (Array.isArray(data)) {
    let total = 0
    for (const chunk of data) total += chunk.length
    return total
  }
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

/** The close code of a socket whose join failed with `code`. */
export function closeCodeFor (code: ErrorCode): number {
  switch (code) {
    case 'ROOM_FULL': return CloseCodes.ROOM_FULL
    case 'ROOM_NOT_FOUND': return CloseCodes.ROOM_CLOSED
    case 'SESSION_EXPIRED': return CloseCodes.SESSION_EXPIRED
    case 'BACKPLANE_UNAVAILABLE': return CloseCodes.TRY_AGAIN_LATER
    default: return 1011
  }
}
