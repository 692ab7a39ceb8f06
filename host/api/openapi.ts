import { isDeepStrictEqual } from 'node:util';
import type { OpenAPIV3 } from 'openapi-types';
import { ID_PATTERN_TEXT } from '../tenancy/ids.js';
import { errorBody } from './schemas.js';

/**
 * The OpenAPI document's frame, and what is added to whatever the routes declare, so that a
 * route registered anywhere (the admin routes of another module included) appears complete:
 * an operationId (from its method and path unless it names one), the shared error body as the
 * named schema `Error`, and a `default` error response. Generated from the route schemas by
 * @fastify/swagger; `transformObject` runs once per document.
 */

type Json = Record<string, unknown>;

/** The frame @fastify/swagger fills with the routes (a fresh object each time: the plugin writes into it). */
export function openApiFrame(): Partial<OpenAPIV3.Document> {
  return structuredClone(FRAME) as unknown as Partial<OpenAPIV3.Document>;
}

const FRAME = {
  openapi: '3.0.3',
  info: {
    title: 'greentic-host API',
    version: '1',
    description:
      "Every /api/v1 route except this document needs a Bearer JWT of the tenant named by X-Tenant-ID. Every /admin/v1 route needs the operator's admin token instead (and answers 404 on an instance without one). The webchat routes are public: their scope is the path, their session a cookie.",
    license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
  },
  servers: [{ url: '/', description: 'this host' }],
  tags: [
    { name: 'sessions', description: "the caller's sessions" },
    { name: 'messages', description: 'messages into a channel' },
    { name: 'flows', description: "the caller's flows" },
    { name: 'usage', description: "the caller's usage" },
    { name: 'audit', description: "the caller's audit log" },
    { name: 'health', description: 'liveness and readiness' },
    { name: 'webchat', description: 'the public webchat channels' },
  ],
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      admin: { type: 'http', scheme: 'bearer', description: "the operator's admin token (GREENTIC_ADMIN_TOKEN), for /admin/v1 only" },
    },
    schemas: { Error: errorBody },
  },
  security: [{ bearer: [] }],
} as const;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const ERROR_REF = { $ref: '#/components/schemas/Error' };

/** "get /api/v1/sessions/{id}" -> "getApiV1SessionsId". */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1));
  return `${method.toLowerCase()}${words.join('')}`;
}

/** Complete the generated document: operationIds, `Error` by reference, a default error response. */
export function completeOpenApi(doc: Json): Json {
  const paths = (doc.paths ?? {}) as Record<string, Json>;
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      op.operationId ??= operationIdOf(method, path);
      const responses = (op.responses ??= {}) as Record<string, Json>;
      for (const response of Object.values(responses)) {
        const media = (response.content as Record<string, { schema?: unknown }> | undefined)?.['application/json'];
        if (media && isDeepStrictEqual(stripDescription(media.schema), errorBody)) media.schema = ERROR_REF;
      }
      responses.default ??= { description: 'an error: { error: { code, message, retryable? } }', content: { 'application/json': { schema: ERROR_REF } } };
    }
  }
  return doc;
}

/** fast-json-stringify's keys aside, the schema as a route wrote it (@fastify/swagger copies the description into it). */
function stripDescription(schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null) return schema;
  const { description: _d, ...rest } = schema as Json;
  return rest;
}

const id = { type: 'string', pattern: ID_PATTERN_TEXT };
const channelParams = {
  type: 'object',
  required: ['tenant', 'env', 'team', 'channel'],
  properties: { tenant: id, env: id, team: id, channel: id },
};
const webchatMessage = {
  type: 'object',
  required: ['text'],
  properties: {
    text: { type: 'string' },
    buttons: {
      type: 'array',
      maxItems: 10,
      items: { type: 'object', required: ['title'], properties: { title: { type: 'string' }, value: { type: 'string' } } },
    },
    card: { type: 'object', description: 'an Adaptive Card subset: TextBlock and FactSet in the body, Action.Submit actions' },
  },
};
const tooMany = { description: 'over a webchat limit; see Retry-After', ...errorBody };
const unknownChannel = { description: 'no webchat channel at this path', ...errorBody };

/** What the webchat routes document (their handlers check their input themselves: these schemas are for the document only). */
export const WEBCHAT_DOCS = {
  page: {
    summary: "A webchat channel's chat page (HTML)",
    operationId: 'getWebchatPage',
    tags: ['webchat'],
    security: [],
    params: channelParams,
    response: { 200: { description: 'the page', content: { 'text/html': { schema: { type: 'string' } } } }, 404: unknownChannel },
  },
  history: {
    summary: 'The conversation so far of the session the cookie names (none: an empty one)',
    operationId: 'getWebchatHistory',
    tags: ['webchat'],
    security: [],
    params: channelParams,
    response: {
      200: {
        description: 'the transcript',
        type: 'object',
        properties: {
          session: { type: 'string', nullable: true },
          transcript: {
            type: 'array',
            items: { type: 'object', properties: { from: { type: 'string', enum: ['user', 'bot'] }, ...webchatMessage.properties } },
          },
          ended: { type: 'boolean' },
        },
      },
      404: unknownChannel,
      429: tooMany,
    },
  },
  messages: {
    summary: "Send the visitor's message; a new session (and cookie) when the cookie is missing or not this channel's",
    operationId: 'postWebchatMessage',
    tags: ['webchat'],
    security: [],
    params: channelParams,
    body: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string' } } },
    response: {
      200: {
        description: 'the replies',
        type: 'object',
        properties: {
          session: { type: 'string' },
          replies: { type: 'array', items: { type: 'string' } },
          messages: { type: 'array', items: webchatMessage },
          ended: { type: 'boolean' },
        },
      },
      400: { description: 'the body is not {"text": "..."}', ...errorBody },
      404: unknownChannel,
      429: tooMany,
      502: { description: 'the turn failed (an apology for the visitor; the reason is logged)', ...errorBody },
      503: { description: 'the turn failed and may succeed when retried', ...errorBody },
      504: { description: 'no answer in time', ...errorBody },
    },
  },
} as const;
