#!/usr/bin/env python3
"""The README's walkthroughs, run as written (issue 9: the newcomer's path).

Takes every ```sh and ```python block under the README's "Walkthrough" headings, in order,
and runs them as one bash script in a fresh folder beside a real `carillon serve` started
there on its embedded defaults, the way a newcomer pastes them into a second shell. The only
changes are the ones a reader's machine makes for them: the listeners are bound on free ports
(so the default addresses are replaced by the bound ones), `cargo run --release -q --` is the
binary under test, and `aws` is the one in the test environment. A block whose first line says
it "needs published DNS records" is left out (no DNS here), and nothing may depend on it.

Usage: readme.py --carillon PATH [--readme README.md]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

from harness import FAILURES, check

# The walkthrough's default addresses, as the README gives them (carillon serve's defaults).
DEFAULTS = {
    "http": "127.0.0.1:8080",
    "smtp": "127.0.0.1:2525",
    "submission": "127.0.0.1:5870",
    "imap": "127.0.0.1:1143",
    "imaps": "127.0.0.1:9930",
}
NEEDS_DNS = "needs published DNS records"


def walkthrough_blocks(readme):
    """(language, code) of every fenced block under a '## Walkthrough' heading, in order."""
    blocks, in_walkthrough, fence, lines = [], False, None, []
    for line in readme.splitlines():
        if fence is None and line.startswith("## "):
            in_walkthrough = line.startswith("## Walkthrough")
        elif fence is None and line.startswith("```") and in_walkthrough:
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            blocks.append((fence, "\n".join(lines) + "\n"))
            fence = None
        elif fence is not None:
            lines.append(line)
    return blocks


def start(binary, folder):
    """`carillon serve` on its defaults in `folder`, but on free ports: {name: "ip:port"}."""
    proc = subprocess.Popen(
        [binary, "serve", "--http-addr", "127.0.0.1:0", "--smtp-addr", "127.0.0.1:0",
         "--submission-addr", "127.0.0.1:0", "--imap-addr", "127.0.0.1:0",
         "--imaps-addr", "127.0.0.1:0"],
        cwd=folder, stdout=subprocess.PIPE, text=True)
    addrs = {}
    while len(addrs) < len(DEFAULTS):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"carillon exited early with {proc.wait()}")
        parts = line.split()
        if len(parts) == 3 and parts[0] == "listening":
            addrs[parts[1]] = parts[2]
    return proc, addrs


def localize(code, addrs, binary, python):
    """`code` as it runs on this machine: bound addresses, the binary under test, our Python."""
    for name, default in DEFAULTS.items():
        host, port = default.rsplit(":", 1)
        bound_host, bound_port = addrs[name].rsplit(":", 1)
        code = code.replace(default, addrs[name])
        code = re.sub(rf'"{re.escape(host)}", {port}\b', f'"{bound_host}", {bound_port}', code)
    code = code.replace("cargo run --release -q --", binary)
    return code.replace("python3 -c", f"{python} -c")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--carillon", required=True)
    parser.add_argument("--readme", default=os.path.join(os.path.dirname(__file__), "..", "..", "README.md"))
    args = parser.parse_args()
    with open(args.readme) as f:
        blocks = walkthrough_blocks(f.read())
    runnable = [(lang, code) for lang, code in blocks if not code.startswith(f"# {NEEDS_DNS}")]
    check(len(blocks) - len(runnable) == 1, f"exactly one walkthrough block needs DNS ({len(blocks) - len(runnable)})")
    check(all(lang in ("sh", "python") for lang, _ in runnable),
          f"walkthrough blocks are sh or python ({sorted({lang for lang, _ in runnable})})")

    folder = tempfile.mkdtemp(prefix="carillon-readme-")
    binary = os.path.abspath(args.carillon)
    proc, addrs = start(binary, folder)
    try:
        script = ["set -euo pipefail"]
        for i, (lang, code) in enumerate(runnable):
            code = localize(code, addrs, binary, sys.executable)
            left = [d for d in DEFAULTS.values() if re.search(rf"\b{d.rsplit(':', 1)[1]}\b", code)]
            check(not left, f"block {i + 1}: every default address replaced by the bound one ({left})")
            script.append(f"echo '--- walkthrough block {i + 1} ({lang})'")
            if lang == "sh":
                script.append(code)
            else:
                script.append(f"{sys.executable} - <<'CARILLON_README_PYTHON'\n{code}CARILLON_README_PYTHON")
        env = dict(os.environ, AWS_CONFIG_FILE=os.devnull, AWS_PAGER="",
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        out = subprocess.run(["bash", "-c", "\n".join(script)], cwd=folder, env=env,
                             capture_output=True, text=True, timeout=300)
        print(out.stdout)
        print(out.stderr, file=sys.stderr)
        check(out.returncode == 0, f"every walkthrough block ran (exit {out.returncode})")
        check("Hi Alice" in out.stdout, "Alice read the mail sent to sales@ over IMAP")
        check('"Messages":[{"Content":"Hello, launch team"' in out.stdout,
              "Alice's room message is in the room's history")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{len(FAILURES)} failed" if FAILURES else "all checks passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
