// Text frames written to a WebSocket's own TCP or TLS socket, in one piece.
//
// `ws` writes a frame as two chunks (a header Buffer, then the payload) under cork, which Node turns into a
// `writev`, after building options objects and arrays for it. The relay sends almost only ASCII JSON, whose UTF-8
// bytes are its Latin-1 bytes: such a frame can be one Latin-1 string, header included, written with one `write`.
// This is sound only while `ws` itself writes every frame of the socket at once and in order, which it does when no
// extension is negotiated (with `permessage-deflate` a frame may wait for the compressor, and a frame written here
// would overtake it): those sockets, and frames that are not ASCII or exceed 65,535 bytes, go through `ws.send`.
import type { WebSocket } from 'ws'

/** A socket's write, as `ws` holds it (`_socket`, set before the `connection` event). */
export interface DirectSocket {
  write: (chunk: string, encoding: 'latin1') => boolean
}

const FIN_TEXT = 0x81
const MAX_16_BIT_LENGTH = 0xffff

/** The socket under `socket` where frames may be written to it directly, or undefined where they may not. */
export function directSocket (socket: WebSocket): DirectSocket | undefined {
  if (socket.extensions !== '') return undefined
  const raw = (socket as unknown as { _socket?: Partial<DirectSocket> | null })._socket
  return typeof raw?.write === 'function' ? raw as DirectSocket : undefined
}

/** Sends `text` as one text frame: through `direct` when given and the frame allows it, else through `ws`. */
export function sendText (socket: WebSocket, direct: DirectSocket | undefined, text: string): void {
  const length = text.length
  // equal lengths: every character is ASCII (a character outside it takes two or more UTF-8 bytes)
  if (direct === undefined || length > MAX_16_BIT_LENGTH || Buffer.byteLength(text) !== length) return socket.send(text)
  const header = length < 126 ? String.fromCharCode(FIN_TEXT, length) : String.fromCharCode(FIN_TEXT, 126, length >>> 8, length & 0xff)
  direct.write(header + text, 'latin1')
}
