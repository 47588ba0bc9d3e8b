import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_BINDINGS, KEY_FLAGS, OTHER_FLAGS } from '../../src/config/bindings.ts';
import { renderConfigDocs } from '../../src/config/docs.ts';
import { helpText } from '../../src/config/help.ts';
import { configLeaves, leafByKey } from '../../src/config/leaves.ts';
import { agentConfigJsonSchema } from '../../src/config/schema.ts';

describe('generated references', () => {
  test('docs/configuration.md is up to date (run: bun scripts/gen-config-docs.ts)', () => {
    const committed = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    expect(committed).toBe(renderConfigDocs());
  });

  test('every leaf has a description and appears in the docs', () => {
    const doc = renderConfigDocs();
    for (const leaf of configLeaves()) {
      expect(leaf.description.length, leaf.key).toBeGreaterThan(5);
      expect(doc).toContain(`| \`${leaf.key}\` |`);
    }
  });

  test('every env binding and flag points at a real key', () => {
    for (const b of ENV_BINDINGS) expect(leafByKey(b.key), b.env).toBeDefined();
    for (const f of KEY_FLAGS) expect(leafByKey(f.key!), f.name).toBeDefined();
  });

  test('--help lists every flag', () => {
    const help = helpText();
    for (const f of [...KEY_FLAGS, ...OTHER_FLAGS]) expect(help).toContain(`--${f.name}`);
  });

  test('the schema converts to JSON Schema (for a Helm values.schema.json)', () => {
    const js = agentConfigJsonSchema() as { properties: Record<string, { properties: Record<string, unknown> }> };
    expect(Object.keys(js.properties)).toContain('timeouts');
    expect(js.properties.agent!.properties.port).toMatchObject({ type: 'integer', default: 8080, minimum: 0, maximum: 65535 });
    expect(js.properties.timeouts!.properties.websocket_ping).toMatchObject({ default: '10s' });
  });
});
