// Writes docs/protocol-messages.md from the message table (src/protocol/message-table.ts).
// Run: node_modules/.bin/bun scripts/gen-protocol-docs.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderMessageDocs } from '../src/protocol/message-docs.ts';

export const PROTOCOL_MESSAGES_DOC = join(import.meta.dir, '..', 'docs', 'protocol-messages.md');

if (import.meta.main) {
  writeFileSync(PROTOCOL_MESSAGES_DOC, renderMessageDocs());
  console.log(`wrote ${PROTOCOL_MESSAGES_DOC}`);
}
