// Writes docs/configuration.md from the config schema. Run: node_modules/.bin/bun scripts/gen-config-docs.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigDocs } from '../src/config/docs.ts';

const target = join(import.meta.dir, '..', 'docs', 'configuration.md');
writeFileSync(target, renderConfigDocs());
console.log(`wrote ${target}`);
