// The standalone server: reads the environment, listens, and closes gracefully on SIGINT/SIGTERM.
import { readFileSync } from 'node:fs'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type ServerConfig } from './lib/config.js'

function fail (message: string): never {
  process.stderr.write(`signalling: ${message}\n`)
  process.exit(1)
}

function readPem (name: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    fail(`cannot read ${name} "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
}

let config: ServerConfig
try {
  config = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) fail(err.message)
  throw err
}

const https = config.tls === undefined
  ? undefined
  : { cert: readPem('TLS_CERT', config.tls.certFile), key: readPem('TLS_KEY', config.tls.keyFile) }

let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp({
    apiKey: config.apiKey,
    jwtSecret: config.jwtSecret,
    heartbeatInterval: config.heartbeatInterval,
    ice: config.ice,
    demo: config.demo,
    redis: config.redis,
    trustProxy: config.trustProxy,
    messageRate: config.messageRate,
    requestRate: config.requestRate,
    maxBufferedBytes: config.maxBufferedBytes,
    roomDefaults: config.roomDefaults,
    resume: config.resume,
    drainTimeout: config.drainTimeout,
    allowedOrigins: config.allowedOrigins,
    peerjs: config.peerjs,
    yWebrtc: config.yWebrtc,
    webhooks: config.webhooks,
    metrics: { token: config.metricsToken },
    https,
    logger: { level: config.logLevel }
  })
} catch (err) {
  // a certificate that is not PEM, or a key that does not match it, fails here
  fail(`cannot start: ${(err as Error).message}`)
}

if (config.generated.length > 0) {
  app.log.warn({ generated: config.generated }, 'secrets not set: generated random ones for this run (development only)')
  if (config.generated.includes('SIGNALLING_API_KEY')) process.stdout.write(`API key for this run: ${config.apiKey}\n`)
}

if (typeof config.trustProxy === 'number') {
  app.log.warn({ trustProxy: config.trustProxy }, 'TRUST_PROXY is a hop count: the nearest hops are trusted whatever their address; the proxies\' addresses are safer')
}

closeWithGrace({ delay: config.drainTimeout + 5000 }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

try {
  await app.listen({ port: config.port, host: config.host, backlog: config.listenBacklog })
} catch (err) {
  fail(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`)
}
