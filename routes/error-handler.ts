// Every error leaves the plugin's routes in one shape, with one of the codes of lib/errors.ts.
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, isSignallingError, type ErrorCode } from '../lib/errors.js'

function replyError (reply: FastifyReply, statusCode: number, code: ErrorCode, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message })
}

/** Every error leaves as `{ statusCode, code, error, message }` with one of our stable codes. */
export function errorHandler (this: FastifyInstance, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isSignallingError(error)) return replyError(reply, error.statusCode, error.code, error.message)
  if (error.validation !== undefined) {
    return replyError(reply, 400, 'INVALID_REQUEST', `Invalid request: ${error.validationContext ?? 'request'}${error.message.replace(/^(body|params|querystring|headers)/, '')}`)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) return replyError(reply, status, 'INVALID_REQUEST', `Invalid request: ${error.message}`)
  request.log.error({ err: error }, 'request failed')
  return replyError(reply, 500, 'INTERNAL_ERROR', ErrorCodes.INTERNAL_ERROR.message.replace('%s', 'see the server log'))
}
