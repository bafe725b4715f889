// What logs may show of a request.

/** Query strings can carry join tokens: logs keep only the path. */
export function redactUrl (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : `${url.slice(0, query)}?[redacted]`
}

interface LoggedRequest {
  method: string
  url: string
  host?: string
  ip?: string
  socket?: { remotePort?: number } | null
}

/**
 * The request as Fastify's default serializer logs it, with the query redacted: set as the `req` serializer of
 * the routes whose URL may carry a token (`/ws`, `/ice-servers`), whatever logger the host app has.
 */
export function redactedRequest (request: LoggedRequest): Record<string, unknown> {
  return { method: request.method, url: redactUrl(request.url), host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort }
}

/** Route option: log this route's requests with the query redacted. */
export const redactedLogSerializers = { req: redactedRequest }
