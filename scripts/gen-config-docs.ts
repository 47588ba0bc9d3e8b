// Writes docs/configuration.md (agent) and docs/hub-configuration.md (hub) from the config schemas.
// Run: node_modules/.bin/bun scripts/gen-config-docs.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigDocs } from '../src/config/docs.ts';
import { renderHubConfigDocs } from '../src/hub/config/docs.ts';

for (const [name, render] of [['configuration.md', renderConfigDocs], ['hub-configuration.md', renderHubConfigDocs]] as const) {
  const target = join(import.meta.dir, '..', 'docs', name);
  writeFileSync(target, render());
  console.log(`wrote ${target}`);
}
