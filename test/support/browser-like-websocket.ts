// `ws` dressed as a browser WebSocket for the client tests: no `.on`, hence no HTTP status on a refused upgrade.
import WebSocket from 'ws'
import type { WebSocketConstructor } from '../../client/index.js'

export const BrowserLikeWebSocket = class {
  constructor (url: string) {
    const socket = new WebSocket(url)
    return new Proxy(socket, {
      get (target, property) {
        if (property === 'on') return undefined
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
      set (target, property, value) { return Reflect.set(target, property, value, target) }
    })
  }
} as unknown as WebSocketConstructor
