// Renders the OpenAPI document the running code produces, for `npm run openapi` and the drift test.
import { buildApp } from '../app.js'

export async function generateOpenapiYaml (): Promise<string> {
  const app = await buildApp({ jwtSecret: 'openapi-generation-secret-000000000', apiKey: 'openapi', logger: false })
  try {
    await app.ready()
    return app.swagger({ yaml: true })
  } finally {
    await app.close()
  }
}
