export async function runDemoCommand(_argv: string[], _io: unknown): Promise<number> { process.stderr.write("demo: not yet\\n"); return 1; }
