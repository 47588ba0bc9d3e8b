"""Runs kubectl under a real pseudo-terminal for the stream tests: `exec -it … sh`, checks `stty size` before
and after a window-size change (TIOCSWINSZ + SIGWINCH, exactly what a terminal emulator does), then exits the
shell with a status. Prints one JSON object with what it observed. Waits on output, never on the clock, except
for an overall deadline."""
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time

DEADLINE = time.time() + float(os.environ.get("PTY_DEADLINE", "20"))


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    argv = sys.argv[1:]
    pid, master = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, os.environ)
    set_size(master, 30, 100)
    os.kill(pid, signal.SIGWINCH)
    buf = b""
    result = {"transcript": "", "sizes": [], "exit": None, "error": None}

    def wait_for(pattern):
        nonlocal buf
        rx = re.compile(pattern)
        while time.time() < DEADLINE:
            m = rx.search(buf)
            if m:
                buf = buf[m.end():]
                return m
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                result["transcript"] += chunk.decode("utf-8", "replace")
                buf += chunk
        raise TimeoutError("waiting for %r; got %r" % (pattern, buf[-300:]))

    try:
        # The initial size travels on its own stream too (SPDY's resize stream, channel 4 over WebSocket), so
        # the shell can print its first prompt before it arrives and report "0 0"; a real kubelet has the
        # same race. Ask until the shell has a size, bounded by the deadline.
        while True:
            wait_for(rb"# ")
            os.write(master, b"stty size\r")
            m = wait_for(rb"(\d+) (\d+)\r\n")
            size = [int(m.group(1)), int(m.group(2))]
            if size != [0, 0]:
                result["sizes"].append(size)
                break
        set_size(master, 40, 120)
        os.kill(pid, signal.SIGWINCH)
        # The resize travels asynchronously; ask until the shell has seen it (bounded by the deadline).
        while True:
            wait_for(rb"# ")
            os.write(master, b"stty size\r")
            m = wait_for(rb"(\d+) (\d+)\r\n")
            size = [int(m.group(1)), int(m.group(2))]
            if size != result["sizes"][-1]:
                result["sizes"].append(size)
                break
        wait_for(rb"# ")
        os.write(master, b"echo typed-through-pty\r")
        wait_for(rb"typed-through-pty\r\n")
        wait_for(rb"# ")
        os.write(master, b"exit 3\r")
    except Exception as e:  # reported to the test, which fails with it
        result["error"] = str(e)
        os.kill(pid, signal.SIGKILL)
    while True:
        try:
            if not os.read(master, 65536):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    result["exit"] = os.waitstatus_to_exitcode(status)
    print(json.dumps(result))


main()
