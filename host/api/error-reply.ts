import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply } from 'fastify';

/** Send a JSON error body: `{ error: { code, message } }`, the one shape of every HTTP error. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

/** The body of an error response, for places that write bytes themselves. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/**
 * What a framework error (fastify's own, raised before or around a handler) is called in the
 * documented shape. Messages are ours: nothing from the request (URL, header, body) is echoed.
 */
export function describeFrameworkError(e: FastifyError): { status: number; code: string; message: string } {
  const status = e.statusCode ?? 500;
  switch (e.code) {
    case 'FST_ERR_BAD_URL':
      return { status: 400, code: 'bad-url', message: 'the URL is not valid (a malformed percent-encoding?)' };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, code: 'url-too-long', message: 'a segment of the URL is too long' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'invalid-json', message: 'the body is not valid JSON' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'invalid-json', message: 'the body is empty but its content-type is application/json' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported-media-type', message: 'unsupported content-type; send application/json' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'bad-request', message: 'the content-length does not match the body' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'body-too-large', message: 'the body is larger than this route accepts' };
    case 'FST_ERR_CTP_INVALID_TYPE':
      return { status: 400, code: 'bad-request', message: 'the content-type header is not valid' };
  }
  if (status === 413) return { status, code: 'body-too-large', message: 'the body is larger than this route accepts' };
  if (status === 415) return { status, code: 'unsupported-media-type', message: 'unsupported content-type; send application/json' };
  if (status >= 400 && status < 500) return { status, code: 'bad-request', message: STATUS_CODES[status] ?? 'bad request' };
  return { status: 500, code: 'internal', message: 'internal error' };
}

/**
 * Node's HTTP parser refused a request (headers too large, a malformed request line, a
 * timeout) before fastify saw it: answer in the documented shape on the raw socket, then close.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers-too-large', 'the request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request-timeout', 'the request did not arrive in time']
        : [400, 'bad-request', 'the request is not valid HTTP'];
  const body = errorBody(code, message);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // end, not destroy: the answer is flushed before the connection closes.
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
