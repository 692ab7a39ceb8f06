import { cborBytesToJson } from './cbor.js';
import type { ComponentDescriptor, IoSchema, SchemaSource, SetupContract } from './contract.js';

/**
 * A component-descriptor as JSON, field names as the WIT spells them ("content-type"), variants
 * as { "case-name": value }, and CBOR byte lists decoded (inline schemas, examples), so that
 * `greentic-host describe --json` can be read and diffed.
 */
export function descriptorJson(d: ComponentDescriptor): Record<string, unknown> {
  return {
    name: d.name,
    version: d.version,
    summary: d.summary ?? null,
    capabilities: d.capabilities,
    ops: d.ops.map((op) => ({
      name: op.name,
      summary: op.summary ?? null,
      input: ioJson(op.input),
      output: ioJson(op.output),
      examples: op.examples.map((e) => ({ title: e.title, 'input-cbor': cborBytesToJson(e.inputCbor), 'output-cbor': cborBytesToJson(e.outputCbor) })),
    })),
    schemas: d.schemas.map((s) => ({
      id: s.id,
      'content-type': s.contentType,
      'blake3-hash': s.blake3Hash,
      version: s.version,
      bytes: s.bytes === undefined ? null : cborBytesToJson(s.bytes),
      uri: s.uri ?? null,
    })),
    setup: d.setup === undefined ? null : setupJson(d.setup),
  };
}

/** The descriptor as a few lines for a person: name and version, capabilities, two lines per op (what it does, its schemas). */
export function descriptorLines(d: ComponentDescriptor): string[] {
  const lines = [`${d.name} ${d.version}${d.summary ? `: ${d.summary}` : ''}`];
  lines.push(`capabilities: ${d.capabilities.join(', ') || 'none'}`);
  lines.push(`ops:${d.ops.length === 0 ? ' none' : ''}`);
  const width = Math.max(0, ...d.ops.map((o) => o.name.length));
  for (const op of d.ops) {
    lines.push(`  ${op.name.padEnd(width)}  ${op.summary ?? ''}`.trimEnd());
    const examples = op.examples.length === 0 ? '' : `, ${op.examples.length} example${op.examples.length === 1 ? '' : 's'}`;
    lines.push(
      `  ${' '.repeat(width)}  in ${op.input.contentType} (${sourceText(op.input.schema)}), out ${op.output.contentType} (${sourceText(op.output.schema)})${examples}`,
    );
  }
  lines.push(`schemas: ${d.schemas.map((s) => `${s.id}@${s.version}`).join(', ') || 'none'}`);
  const setup =
    d.setup &&
    `qa-spec (${sourceText(d.setup.qaSpec)}), ${d.setup.examples.length} example(s), outputs: ${d.setup.outputs.map((o) => o.tag).join(', ') || 'none'}`;
  lines.push(`setup: ${setup ?? 'none'}`);
  return lines;
}

function ioJson(io: IoSchema): Record<string, unknown> {
  return { schema: sourceJson(io.schema), 'content-type': io.contentType, 'schema-version': io.schemaVersion ?? null };
}

function sourceJson(s: SchemaSource): Record<string, unknown> {
  return { [s.tag]: s.tag === 'inline-cbor' ? cborBytesToJson(s.val) : s.val };
}

function sourceText(s: SchemaSource): string {
  return s.tag === 'inline-cbor' ? `inline schema, ${s.val.byteLength} bytes` : `${s.tag} ${s.val}`;
}

function setupJson(s: SetupContract): Record<string, unknown> {
  return {
    'qa-spec': sourceJson(s.qaSpec),
    'answers-schema': sourceJson(s.answersSchema),
    examples: s.examples.map((e) => ({ title: e.title, 'answers-cbor': cborBytesToJson(e.answersCbor) })),
    outputs: s.outputs.map((o) =>
      o.tag === 'config-only'
        ? { 'config-only': null }
        : { 'template-scaffold': { 'template-ref': o.val.templateRef, 'output-layout': o.val.outputLayout ?? null } },
    ),
  };
}
