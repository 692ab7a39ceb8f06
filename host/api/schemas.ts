import { ID_PATTERN_TEXT } from '../tenancy/ids.js';

/** JSON Schemas shared by the API routes; the OpenAPI document is generated from them. */
export const idString = { type: 'string', pattern: ID_PATTERN_TEXT } as const;

export const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, retryable: { type: 'boolean' } },
    },
  },
} as const;

/** Error responses every authenticated route can give. */
export const authErrors = {
  400: { description: 'a header or parameter is missing or malformed', ...errorBody },
  401: {
    description: 'no token, or a token that does not verify (expired, not yet valid, wrong issuer or audience, bad signature, refused algorithm)',
    ...errorBody,
  },
  403: { description: 'the token is not for this tenant, team, environment, or lacks the scope', ...errorBody },
} as const;

/** The headers every authenticated route needs. */
export const scopeHeaders = {
  type: 'object',
  required: ['x-tenant-id', 'x-team-id'],
  properties: { 'x-tenant-id': idString, 'x-team-id': idString },
} as const;

export const envQuery = {
  type: 'object',
  required: ['env'],
  additionalProperties: false,
  properties: { env: idString },
} as const;

export const transcriptEntry = {
  type: 'object',
  properties: { from: { type: 'string', enum: ['user', 'bot'] }, text: { type: 'string' }, at: { type: 'integer' } },
} as const;
