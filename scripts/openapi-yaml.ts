// Renders the OpenAPI document the running code produces, for `npm run openapi` and the drift test.
import { buildApp } from '../app.js'

/** The compatible endpoints are off by default; the document describes them too. */
export const DOCUMENTED_OPTIONS = { peerjs: true, yWebrtc: true } as const

export async function generateOpenapiYaml (): Promise<string> {
  const app = await buildApp({ jwtSecret: 'openapi-generation-secret-000000000', apiKey: 'openapi', logger: false, ...DOCUMENTED_OPTIONS })
  try {
    await app.ready()
    return app.swagger({ yaml: true })
  } finally {
    await app.close()
  }
}
