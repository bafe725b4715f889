// The demo call page and its token route. Development only by default: it lets anyone create rooms and join them.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { isSignallingError } from '../lib/errors.js'
import { RoomId } from '../lib/protocol.js'

/** The package root: the nearest folder up from here with a package.json (works from source and from dist/). */
function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('package.json not found above routes/demo')
    dir = parent
  }
  return dir
}

const DemoJoinBody = Type.Object({
  room: RoomId,
  name: Type.String({ minLength: 1, maxLength: 40 })
}, { additionalProperties: false })

const demo: FastifyPluginAsyncTypebox = async (app) => {
  const root = packageRoot()
  await app.register(fastifyStatic, { root: join(root, 'public'), prefix: '/', index: 'index.html' })
  // the browser build of the client SDK (compiled by `npm run build`)
  await app.register(fastifyStatic, { root: join(root, 'dist', 'client'), prefix: '/client/', decorateReply: false })

  app.post('/demo/join', {
    schema: {
      hide: true,
      body: DemoJoinBody,
      response: {
        200: Type.Object({ token: Type.String(), peerId: Type.String(), roomId: Type.String() })
      }
    }
  }, async (request) => {
    const { room, name } = request.body
    try {
      await app.signalling.createRoom({ roomId: room, maxPeers: 8 })
    } catch (err) {
      if (!isSignallingError(err) || err.code !== 'ROOM_EXISTS') throw err
    }
    const { token, peerId, roomId } = await app.signalling.issueToken(room, { metadata: { name } })
    return { token, peerId, roomId }
  })
}

export default demo
