// The OpenAPI document's frame. Routes add their own schemas; the WebSocket messages are listed as components.
import { clientMessages, IceServer, PeerInfo, serverMessages } from './protocol.js'

const components = Object.fromEntries(
  [...clientMessages, ...serverMessages, PeerInfo, IceServer].map((schema) => [schema.title, schema])
)

export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'WebRTC signalling server',
    version: '0.1.0',
    description: 'Rooms, join tokens and a WebSocket relay for WebRTC signalling. ' +
      'The REST routes need `Authorization: Bearer <API key>`; `/ws` needs a join token. ' +
      'WebSocket messages are JSON text frames: the client sends the `Client*Message` schemas and receives the `Server*Message` ones.'
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'http', scheme: 'bearer', description: 'The server API key (SIGNALLING_API_KEY)' },
      joinToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A join token, also accepted as `?token=`' }
    },
    schemas: components
  }
} as const
