// Child process for the crash test: saves ever-changing large states to one file in a tight loop and prints
// "saved N" after each save returns. The parent SIGKILLs it at arbitrary points.
import { FileStateStore } from '../../../src/state/file-store.ts';
import { bigState } from './big-state.ts';

const [path, baseArg] = process.argv.slice(2);
const store = new FileStateStore(path!);
const base = Number(baseArg ?? '0');
for (let i = base + 1; ; i++) {
  await store.save(bigState(i));
  process.stdout.write(`saved ${i}\n`);
}
