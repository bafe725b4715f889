// What logs may show of a request.

/** Query strings can carry join tokens: logs keep only the path. */
export function redactUrl (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : `${url.slice(0, query)}?[redacted]`
}
