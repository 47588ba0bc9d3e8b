// What the sandbox's "containers" run when a test installs no hook: a handful of commands that behave like
// their busybox namesakes closely enough for kubectl (output, stdin, exit codes, a TTY shell that answers
// `stty size` after resizes), plus the default attach process and port-forward targets.
import { connect } from 'node:net';
import type { ExecSession, PortForwardConnection, PortForwardHandler } from './types.ts';

type Size = { width: number; height: number };

/** Terminal state shared by the commands of one session. */
interface Terminal {
  s: ExecSession;
  size: Size | null;
  /** Output with a TTY turns "\n" into "\r\n" like a terminal line discipline (onlcr). */
  out(text: string): void;
  err(text: string): void;
}

function terminal(s: ExecSession): Terminal {
  const t: Terminal = {
    s,
    size: null,
    out: (text) => s.writeStdout(s.tty ? text.replace(/\r?\n/g, '\r\n') : text),
    err: (text) => s.writeStderr(s.tty ? text.replace(/\r?\n/g, '\r\n') : text),
  };
  s.onResize((size) => {
    t.size = size;
  });
  return t;
}

/** Splits a command line into words, honouring single and double quotes (enough for `sh -c`). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

function exitCodeArg(arg: string | undefined, fallback: number): number {
  const n = Number.parseInt(arg ?? '', 10);
  return Number.isFinite(n) ? n & 0xff : fallback;
}

type Outcome = { exit: number } | { status: number };

/**
 * Runs one simple command inside the shell or as the exec'd process. `{exit}` ends the shell (the `exit`
 * builtin); `{status}` is the command's status. Commands that need stdin (cat) are not here.
 */
function runSimple(t: Terminal, argv: string[]): Outcome {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case undefined:
      return { status: 0 };
    case 'echo':
      t.out(`${args.join(' ')}\n`);
      return { status: 0 };
    case 'exit':
      return { exit: exitCodeArg(args[0], 0) };
    case 'true':
      return { status: 0 };
    case 'false':
      return { status: 1 };
    case 'env':
      t.out(
        `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=${t.s.pod}\n` +
          `${t.s.tty ? 'TERM=xterm\n' : ''}HOME=/root\n`,
      );
      return { status: 0 };
    case 'hostname':
      t.out(`${t.s.pod}\n`);
      return { status: 0 };
    case 'tty':
      if (t.s.tty) {
        t.out('/dev/pts/0\n');
        return { status: 0 };
      }
      t.out('not a tty\n');
      return { status: 1 };
    case 'stty':
      if (args[0] === 'size') {
        if (!t.s.tty) {
          t.err("stty: standard input: Inappropriate ioctl for device\n");
          return { status: 1 };
        }
        // rows then columns, as stty prints them.
        t.out(t.size ? `${t.size.height} ${t.size.width}\n` : '0 0\n');
        return { status: 0 };
      }
      return { status: 0 };
    default:
      t.err(`sh: ${cmd}: not found\n`);
      return { status: 127 };
  }
}

/** `sh -c 'a; b'`: runs `;`-separated simple commands. */
function runScript(t: Terminal, script: string): number {
  let status = 0;
  for (const part of script.split(/;|\n/)) {
    const r = runSimple(t, splitWords(part));
    if ('exit' in r) return r.exit;
    status = r.status;
  }
  return status;
}

/** `cat`: stdin to stdout until stdin ends. */
function cat(s: ExecSession): void {
  if (!s.stdin) {
    s.exit(0);
    return;
  }
  s.onStdin((d) => s.writeStdout(d));
  s.onStdinEnd(() => s.exit(0));
}

/**
 * Interactive `sh`. With a TTY the shell is the line discipline too: it echoes keystrokes, takes "\r" as
 * enter, handles backspace and Ctrl-D, and prints the `# ` prompt. Without a TTY it reads lines silently.
 */
function shell(s: ExecSession): void {
  const t = terminal(s);
  let line = '';
  let status = 0;
  let done = false;
  const prompt = () => {
    if (s.tty) s.writeStdout('# ');
  };
  const finish = (code: number) => {
    if (done) return;
    done = true;
    s.exit(code);
  };
  const enter = () => {
    const cmd = line;
    line = '';
    const r = runSimple(t, splitWords(cmd));
    if ('exit' in r) {
      finish(r.exit);
      return;
    }
    status = r.status;
    prompt();
  };
  prompt();
  s.onStdin((d) => {
    for (const ch of Buffer.from(d).toString('utf8')) {
      if (done) return;
      if (ch === '\r' || ch === '\n') {
        if (s.tty) s.writeStdout('\r\n');
        enter();
      } else if (ch === '\x7f' || ch === '\b') {
        if (line.length > 0) {
          line = line.slice(0, -1);
          if (s.tty) s.writeStdout('\b \b');
        }
      } else if (ch === '\x04') {
        if (line === '') finish(status);
      } else if (ch === '\x03') {
        line = '';
        if (s.tty) s.writeStdout('^C\r\n');
        prompt();
      } else {
        line += ch;
        if (s.tty) s.writeStdout(ch);
      }
    }
  });
  s.onStdinEnd(() => {
    if (line.trim() !== '' && !done) enter();
    finish(status);
  });
}

/** The default exec hook. */
export function defaultExecProgram(s: ExecSession): void {
  const [cmd, ...args] = s.command;
  const base = (cmd ?? '').split('/').pop() ?? '';
  if (base === 'cat' && args.length === 0) {
    cat(s);
    return;
  }
  if (base === 'sh' || base === 'bash') {
    if (args[0] === '-c') {
      const t = terminal(s);
      s.exit(runScript(t, args[1] ?? ''));
      return;
    }
    shell(s);
    return;
  }
  if (base === 'sleep') {
    const timer = setTimeout(() => s.exit(0), Number.parseFloat(args[0] ?? '0') * 1000);
    s.onClose(() => clearTimeout(timer));
    return;
  }
  if (!['echo', 'exit', 'true', 'false', 'env', 'hostname', 'tty', 'stty'].includes(base)) {
    // What runc reports for a missing binary; kubectl shows it and exits 126/127 like a real cluster.
    s.exit(
      127,
      `OCI runtime exec failed: exec failed: unable to start container process: exec: "${cmd}": executable file not found in $PATH: unknown`,
    );
    return;
  }
  const r = runSimple(terminal(s), [base, ...args]);
  s.exit('exit' in r ? r.exit : r.status);
}

/** The default attach target: a process echoing its stdin (with a TTY, a terminal that echoes keystrokes). */
export function defaultAttachProgram(s: ExecSession): void {
  if (!s.stdin) {
    s.writeStdout(`attached to ${s.pod}/${s.container}\n`);
    s.exit(0);
    return;
  }
  s.onStdin((d) => {
    if (!s.tty) {
      s.writeStdout(d);
      return;
    }
    const text = Buffer.from(d).toString('utf8');
    if (text.includes('\x04')) {
      s.exit(0);
      return;
    }
    s.writeStdout(text.replace(/\r/g, '\r\n'));
  });
  s.onStdinEnd(() => s.exit(0));
}

/** Upper-casing echo: the sandbox pod's "server" on any declared port. */
export function upperCaseEcho(c: PortForwardConnection): void {
  c.onData((d) => c.write(Buffer.from(Buffer.from(d).toString('latin1').toUpperCase(), 'latin1')));
  c.onEnd(() => c.end());
}

export function declaredPorts(pod: Record<string, unknown>): number[] {
  const spec = pod.spec as { containers?: { ports?: { containerPort?: unknown }[] }[] } | undefined;
  const ports: number[] = [];
  for (const c of spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (typeof p.containerPort === 'number') ports.push(p.containerPort);
  }
  return ports;
}

/**
 * Default port-forward target: an upper-casing echo on ports the pod declares (or any port if it declares
 * none); other ports are refused as a kubelet's dial would be.
 */
export function defaultPortForward(pod: Record<string, unknown>): PortForwardHandler {
  const ports = declaredPorts(pod);
  return (c) => {
    if (ports.length > 0 && !ports.includes(c.port)) {
      c.error(`dial tcp4 127.0.0.1:${c.port}: connect: connection refused`);
      return;
    }
    upperCaseEcho(c);
  };
}

/** A port-forward hook that pipes each forwarded connection to a real TCP port (e.g. a test's echo server). */
export function pipeToTcp(host: string, port: number): PortForwardHandler {
  return (c) => {
    const tcp = connect({ host, port });
    let connected = false;
    tcp.on('connect', () => {
      connected = true;
    });
    tcp.on('data', (d: Buffer) => c.write(d));
    tcp.on('end', () => c.end());
    tcp.on('error', (err: Error) => {
      if (!connected) c.error(`dial tcp4 ${host}:${port}: ${err.message}`);
      else c.end();
    });
    c.onData((d) => tcp.write(d));
    c.onEnd(() => tcp.end());
  };
}
