"""What one student costs a JupyterHub: peak memory and CPU seconds of each notebook and lab.

For every lesson (course/NN-*.ipynb) and lab (course/labs/*.ipynb) this starts a fresh
IPython kernel (in the notebook's folder, as JupyterLab does), runs every cell once with
nbclient, and reads from /proc (Linux only):

- the kernel's peak resident memory (VmHWM), and the peak of the kernel with its child
  processes (the twin's simulator, tshark), sampled every 50 ms;
- the CPU seconds of the kernel and its finished children (utime + stime + cutime + cstime);
- the kernel's peak private memory (USS: Private_Clean + Private_Dirty of
  /proc/PID/smaps_rollup, sampled with the rest): what it costs beyond the pages of
  libraries and files it shares with every other student's kernel on the same server.

The course's 300 MB goal is judged on RSS, the larger figure: it is what a student's
process holds whatever else runs, and the pages counted twice are at most the shared
libraries (USS is RSS less them). The USS column says how much of the RSS a second, third
... student adds on one server.

Then it starts a JupyterLab server of its own on 127.0.0.1, opens a notebook session
through its REST API (a kernel, as a student opening a lesson) and fetches the /lab page,
and reads the server's own peak memory (the kernel it started is not counted there).

A student's memory is the server's plus the heaviest kernel's; "N students on X GB" keeps
RESERVE_MB for the system, JupyterHub and its proxy and assumes, to be safe, that every
student runs the heaviest notebook at the same time.

    python benchmarks/bench_sizing.py                      # print the tables
    python benchmarks/bench_sizing.py --update docs/deploying.md   # and write them there
    python benchmarks/bench_sizing.py course/01-physical-layer.ipynb  # some notebooks only

Run it from the repository root with labkit installed (``pip install -e .``). It runs each
notebook once, one at a time: a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
#: Memory kept for the operating system, JupyterHub and its proxy on the server, MB.
RESERVE_MB = 1024
#: Server sizes the table is given for, GB.
SERVERS_GB = (8, 16, 32, 64)
#: The goal of the course: a student's server and heaviest kernel in at most this, MB.
GOAL_MB = 300
BEGIN, END = "<!-- bench_sizing:begin -->", "<!-- bench_sizing:end -->"


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()  # the fields after "(comm)", from "state" on


def _private_kb(pid: int) -> int:
    """Memory of ``pid`` that no other process shares (USS), now (kB); 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) for line in f
                       if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except OSError:
        return 0


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)  # utime, stime, cutime, cstime are fields 14-17, here 11-14
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, now (kB)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except (OSError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * PAGE_KB
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


class _Sampler(threading.Thread):
    """The peak of a process tree's resident memory, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb, self.peak_private_kb = pid, interval, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            except OSError:
                pass
            self.peak_private_kb = max(self.peak_private_kb, _private_kb(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_kb


@dataclass
class Run:
    name: str
    kernel_mb: float  # the kernel's own peak (VmHWM)
    tree_mb: float  # the kernel and its children, sampled peak
    cpu_s: float
    wall_s: float
    error: str = ""
    private_mb: float = 0.0  # the process's own peak private memory (USS), sampled

    @property
    def peak_mb(self) -> float:
        return max(self.kernel_mb, self.tree_mb)


#: Programs hidden from the kernels (``--without``): PATH as an image without them would have.
HIDDEN: tuple[str, ...] = ()


def _path_without(tools: tuple[str, ...]) -> str:
    """PATH with each folder that holds one of ``tools`` replaced by links to its other files."""
    parts = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not any(os.path.exists(os.path.join(folder, t)) for t in tools):
            parts.append(folder)
            continue
        copy = tempfile.mkdtemp(prefix="labkit-sizing-path-")
        for name in os.listdir(folder):
            if name not in tools:
                os.symlink(os.path.join(folder, name), os.path.join(copy, name))
        parts.append(copy)
    return os.pathsep.join(parts)


def _env() -> dict[str, str]:
    extra = {"PATH": _path_without(HIDDEN)} if HIDDEN else {}
    return {**os.environ, **extra, "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


def run_notebook(path: Path, timeout: int = 900, per_cell: bool = False) -> Run:
    """Run ``path`` in a fresh kernel and measure it (``per_cell``: print the peak after each cell)."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3")
    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=False,
                            record_timing=False, resources={"metadata": {"path": str(path.parent)}})
    start = time.monotonic()
    error = ""
    with client.setup_kernel(cwd=str(path.parent), env=_env()):
        pid = km.provisioner.process.pid  # type: ignore[union-attr]
        sampler = _Sampler(pid)
        sampler.start()
        try:
            for index, cell in enumerate(nb.cells):
                before = _status_kb(pid, "VmHWM")
                client.execute_cell(cell, index)
                after = _status_kb(pid, "VmHWM")
                if per_cell and cell.cell_type == "code":
                    first = cell.source.strip().splitlines()[0][:70] if cell.source.strip() else ""
                    print(f"  cell {index:3d}: peak {after / 1024:6.0f} MB (+{(after - before) / 1024:4.0f})"
                          f"  now {_status_kb(pid, 'VmRSS') / 1024:6.0f} MB  {first}", flush=True)
        except Exception as exc:  # a failing notebook is reported, not hidden
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        tree_kb = sampler.stop()
        kernel_kb = _status_kb(pid, "VmHWM")
        cpu = _cpu_seconds(pid)
    return Run(path.relative_to(ROOT).as_posix(), kernel_kb / 1024, tree_kb / 1024, cpu,
               time.monotonic() - start, error, sampler.peak_private_kb / 1024)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_NBGRADER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.assignment_list",
             "nbgrader.server_extensions.course_list", "nbgrader.server_extensions.validate_assignment")
#: Server configurations measured: name -> server extensions turned off (None: as installed).
#: The sizing table has a column for each but the first.
SERVERS: dict[str, tuple[str, ...] | None] = {
    "as installed here": None,
    "a student's on a hub with graded labs (nbgrader's formgrader off)": _NBGRADER[:1],
    "a student's without nbgrader (labs fetched with nbgitpuller)": _NBGRADER,
}


def measure_server(notebook: Path, label: str = "as installed here",
                   off: tuple[str, ...] | None = None) -> Run:
    """A JupyterLab server's own peak memory and CPU with one notebook session open.

    ``off`` names server extensions to turn off (a user config of its own says so).
    """
    port, token = _free_port(), secrets.token_hex(16)
    state = Path(tempfile.mkdtemp(prefix="labkit-sizing-"))
    config = state / "config"
    config.mkdir()
    if off:
        (config / "jupyter_server_config.json").write_text(json.dumps(
            {"ServerApp": {"jpserver_extensions": {name: False for name in off}}}))
    env = {**_env(), "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces")}
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={ROOT}", f"--IdentityProvider.token={token}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    start = time.monotonic()
    log = (state / "server.log").open("w")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

    def call(method: str, url: str, body: dict | None = None) -> bytes:
        req = urllib.request.Request(base + url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=60) as reply:
            return reply.read()

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                call("GET", "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((state / "server.log").read_text()) from None
                time.sleep(0.5)
        rel = notebook.relative_to(ROOT).as_posix()
        call("GET", "/lab")  # the page and its settings, as a browser opens it
        call("GET", "/lab/api/settings")
        call("GET", f"/api/contents/{rel}?content=1")
        session = json.loads(call("POST", "/api/sessions", {
            "path": rel, "type": "notebook", "kernel": {"name": "python3"}}))
        time.sleep(3)
        server_kb = _status_kb(proc.pid, "VmHWM")
        private_kb = _private_kb(proc.pid)
        cpu = _cpu_seconds(proc.pid)
        call("DELETE", f"/api/sessions/{session['id']}")
        loaded = sorted(set(re.findall(r"\]\s+(\S+) \| extension was successfully loaded",
                                       (state / "server.log").read_text())))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    name = f"JupyterLab server, {label}: {', '.join(loaded) or 'no server extension'}"
    return Run(name, server_kb / 1024, server_kb / 1024, cpu, time.monotonic() - start,
               private_mb=private_kb / 1024)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} x {cpu}, {mem_gb:.0f} GB, Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average before the run {load}")


def report(runs: list[Run], servers: list[Run], when: str, machine: str, load_after: str) -> str:
    """The tables of the guide: every run, then students per server for each of ``servers[1:]``."""
    rows = ["| notebook or server | peak RSS (MB) | with children (MB) | private, USS (MB) | CPU s "
            "| wall s |", "|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        note = f" (failed: {r.error})" if r.error else ""
        rows.append(f"| {r.name}{note} | {r.kernel_mb:.0f} | {r.tree_mb:.0f} | {r.private_mb:.0f} "
                    f"| {r.cpu_s:.1f} | {r.wall_s:.0f} |")
    for server in servers:
        rows.append(f"| {server.name} | {server.kernel_mb:.0f} | | {server.private_mb:.0f} "
                    f"| {server.cpu_s:.1f} | |")
    ok = [r for r in runs if not r.error] or runs
    heaviest = max(ok, key=lambda r: r.peak_mb)
    busiest = max(ok, key=lambda r: r.cpu_s)
    basis = servers[1:] or servers
    lines = [f"Measured {when} on {machine} (after the run: {load_after}).", "", *rows, ""]
    students = []
    for server in basis:
        student = server.kernel_mb + heaviest.peak_mb
        students.append(student)
        verdict = "within" if student <= GOAL_MB else "over"
        label = server.name.split(", ", 1)[1].split(":", 1)[0]
        private = server.private_mb + heaviest.private_mb
        lines.append(f"- One student, server {label}: {server.kernel_mb:.0f} MB + the heaviest "
                     f"kernel ({heaviest.name}, {heaviest.peak_mb:.0f} MB) = **{student:.0f} MB**, "
                     f"{verdict} the course's goal of {GOAL_MB} MB (judged on RSS; of it "
                     f"{private:.0f} MB is the student's own, USS, and the rest libraries shared "
                     "with the other students' processes).")
    lines += ["", f"Students on one server, all running {Path(heaviest.name).stem} at once, "
              f"{RESERVE_MB} MB kept for the system and the hub:", "",
              "| server memory | " + " | ".join(
                  f"{s.name.split(', ', 1)[1].split(':', 1)[0]} ({m:.0f} MB each)"
                  for s, m in zip(basis, students)) + " |",
              "|---:|" + "---:|" * len(basis)]
    for gb in SERVERS_GB:
        lines.append(f"| {gb} GB | " + " | ".join(
            str(int((gb * 1024 - RESERVE_MB) // m)) for m in students) + " |")
    lines += ["", f"CPU: the busiest notebook ({busiest.name}) takes {busiest.cpu_s:.0f} CPU s "
              f"from start to end; a class running it at once on C cores needs about "
              f"N x {busiest.cpu_s:.0f} / C seconds in all."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every lesson and lab")
    parser.add_argument("--update", type=Path,
                        help=f"write the tables into this file between {BEGIN} and {END}")
    parser.add_argument("--without", action="append", default=[], metavar="PROGRAM",
                        help="hide PROGRAM from the kernels, as an image without it (repeatable)")
    parser.add_argument("--per-cell", action="store_true",
                        help="print each code cell's peak memory (to find what needs it)")
    args = parser.parse_args(argv)
    global HIDDEN
    HIDDEN = tuple(args.without)
    notebooks = [p.resolve() for p in args.notebooks] or sorted(
        list((ROOT / "course").glob("[0-9][0-9]-*.ipynb")) + list((ROOT / "course" / "labs").glob("*.ipynb")))
    machine = _machine()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    for nb in notebooks:
        r = run_notebook(nb, per_cell=args.per_cell)
        runs.append(r)
        print(f"{r.name}: kernel {r.kernel_mb:.0f} MB, with children {r.tree_mb:.0f} MB, "
              f"{r.cpu_s:.1f} CPU s, {r.wall_s:.0f} s{'  FAILED ' + r.error if r.error else ''}",
              flush=True)
    servers = []
    for label, off in SERVERS.items():
        server = measure_server(notebooks[0], label, off)
        servers.append(server)
        print(f"{server.name}: {server.kernel_mb:.0f} MB, {server.cpu_s:.1f} CPU s", flush=True)
    load_after = "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(runs, servers, when, machine, load_after)
    if HIDDEN:
        text = text.replace(" (after the run:", f", with {', '.join(HIDDEN)} hidden from the kernels "
                            "(as in the course's image) (after the run:", 1)
    print()
    print(text)
    if args.update:
        doc = args.update.read_text(encoding="utf-8")
        if BEGIN not in doc or END not in doc:
            print(f"{args.update}: no {BEGIN} ... {END} markers", file=sys.stderr)
            return 2
        head, rest = doc.split(BEGIN, 1)
        args.update.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}",
                               encoding="utf-8")
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
