"""maildaemon benchmark suite: one command, one table, every figure next to its target.

    python bench/run.py            # the full suite (about 10 minutes on 2 cores)
    python bench/run.py --quick    # fewer messages, no 1M-ticket database (a smoke run)
    python bench/run.py --record   # also write bench/RESULTS.md with the machine description

Throughputs are ratios to a null aiosmtpd server measured in the same run, because these
machines are shared and noisy: absolute numbers move by a third between runs, ratios much less.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import growth, pg  # noqa: E402
from bench.load import LoadResult, run_load  # noqa: E402
from bench.procs import PY, ROOT, Daemon, NullServer, peak_rss, wait_until  # noqa: E402
from bench.slowest import per_message_seconds, slowest_over_median  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
HELPDESK_VENV = ROOT / "bench" / ".venv-helpdesk"
KB = 1024


@dataclass
class Row:
    what: str
    result: str
    target: str
    ok: bool | None  # None: no target on this row, or not measured

    def verdict(self) -> str:
        return {True: "ok", False: "MISSED", None: ""}[self.ok]


def fmt_load(r: LoadResult) -> str:
    return (f"{r.msgs_per_s:7.0f} msg/s  p50 {r.percentile(0.5):5.2f} ms  "
            f"p99 {r.percentile(0.99):5.2f} ms")


def smtp_acceptance(tmp: Path, quick: bool) -> tuple[list[Row], dict[tuple[int, int], float]]:
    rows: list[Row] = []
    null_rates: dict[tuple[int, int], float] = {}
    daemon = Daemon(fresh(tmp, "accept"))
    null = NullServer()
    accepted = 0
    try:
        for size in (2 * KB, 100 * KB):
            count = (600 if quick else 2000) if size == 2 * KB else (150 if quick else 400)
            for conns in (1, 8, 32):
                # The worker must be idle (every ack delivered) before the null server is
                # measured, or it would be measured against our leftover work.
                wait_until(lambda done=accepted: daemon.delivered() >= done, 300, "the worker")
                tag = f"{size // KB}k-c{conns}"
                n = run_load(null.port, count, conns, size, run=f"null-{tag}")
                m = run_load(daemon.port, count, conns, size, run=f"md-{tag}")
                accepted += m.sent
                null_rates[(size, conns)] = n.msgs_per_s
                ratio = m.msgs_per_s / n.msgs_per_s
                target, ok = "", None
                if conns == 8 and size == 2 * KB:
                    target = ">= 0.6x null, p99 <= 10 ms"
                    ok = ratio >= 0.6 and m.percentile(0.99) <= 10 and not m.errors
                elif conns == 8:
                    # p99 <= 10 ms is below the null server's own p99 for 100 KB here (the
                    # time includes reading the rest of the message): see bench/README.md.
                    target = ">= 0.7x null"
                    ok = ratio >= 0.7 and not m.errors
                rows.append(Row(
                    f"SMTP accept {size // KB:>3} KB, {conns:>2} conn",
                    f"{ratio:4.2f}x null  ({fmt_load(m)}; null {n.msgs_per_s:.0f}/s"
                    f" p99 {n.percentile(0.99):.2f} ms)"
                    + (f" {m.errors} errors" if m.errors else ""),
                    target, ok))
    finally:
        null.stop()
        daemon.stop()
    return rows, null_rates


def end_to_end(tmp: Path, null_rate: float, quick: bool) -> Row:
    count = 600 if quick else 2000
    daemon = Daemon(fresh(tmp, "e2e"))
    try:
        started = time.monotonic()
        load = run_load(daemon.port, count, 8, 2 * KB, run="e2e")
        wait_until(lambda: daemon.delivered() >= load.sent, 300, "every acknowledgement")
        elapsed = time.monotonic() - started
    finally:
        daemon.stop()
    rate = load.sent / elapsed
    ratio = rate / null_rate
    return Row(f"End to end, {count} x 2 KB, 8 conn",
               f"{ratio:4.2f}x null  ({rate:.0f} msg/s to ticket + ack in maildir)",
               ">= 0.3x null", ratio >= 0.3 and load.sent == count)


def corpus_files() -> list[Path]:
    rows = (CORPUS / "index.tsv").read_text().splitlines()[1:]
    return [CORPUS / r.split("\t")[0] for r in rows if r.strip()]


def slowest_message(tmp: Path) -> Row:
    what = "Slowest real message vs median"
    target = "<= 400x (2 s at a 5 ms median)"
    if not (CORPUS / "index.tsv").exists():
        return Row(what, f"skipped: no corpus at {CORPUS}", target, None)
    times = per_message_seconds(fresh(tmp, "slowest"), corpus_files())
    ratio, seconds, name = slowest_over_median(times)
    return Row(what, f"{ratio:5.0f}x  ({seconds * 1000:.0f} ms, {name}; {len(times)} messages)",
               target, ratio <= 400)


def ensure_helpdesk() -> str | None:
    """django-helpdesk in its own venv; returns why not, if it cannot be had."""
    python = HELPDESK_VENV / "bin" / "python"
    if python.exists():
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(HELPDESK_VENV)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "django-helpdesk==2.6.1"], check=True, capture_output=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(HELPDESK_VENV, ignore_errors=True)
        return f"could not install django-helpdesk: {exc}"
    return None


def versus_helpdesk(tmp: Path) -> Row:
    what = "Real mail vs django-helpdesk 2.6.1"
    if not CORPUS.is_dir():
        return Row(what, f"skipped: no corpus at {CORPUS}", ">= 10x, all processed", None)
    why = ensure_helpdesk()
    if why:
        return Row(what, f"skipped: {why}", ">= 10x, all processed", None)
    files = corpus_files()
    tmp = fresh(tmp, "helpdesk")
    mails = tmp / "helpdesk" / "mail"
    mails.mkdir(parents=True)
    for i, path in enumerate(files):
        shutil.copyfile(path, mails / f"{i:04d}.eml")
    out = subprocess.run([str(HELPDESK_VENV / "bin" / "python"),
                          str(ROOT / "bench" / "helpdesk_driver.py"), str(tmp / "helpdesk"),
                          str(mails)], capture_output=True, text=True, timeout=1800, check=True)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    their_rate = theirs["processed"] / theirs["seconds"]

    config = tmp / "ours.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp / "ours"}"\n'
                      f'[outbound]\nmaildir = "{tmp / "ours-out"}"\n')
    ours = subprocess.run([PY, "-m", "maildaemon", "--config", str(config), "ingest",
                           *map(str, files)], capture_output=True, text=True, timeout=600,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    # Like theirs, timed over the processing alone (ingest reports it), not interpreter
    # start-up: theirs excludes Django's set-up and migrations too.
    elapsed = float(ours.stderr.strip().splitlines()[-1].split(" in ")[1].split()[0])
    lines = ours.stdout.splitlines()
    handled = sum(1 for line in lines if line.split(": ", 1)[1].split()[0]
                  not in ("pending",))
    our_rate = handled / elapsed
    ratio = our_rate / their_rate
    return Row(what,
               f"{ratio:5.1f}x  (ours {our_rate:.0f} msg/s, {handled}/{len(files)} processed; "
               f"theirs {their_rate:.0f} msg/s, {theirs['processed']}/{theirs['messages']}, "
               f"{theirs['failed']} refused)",
               ">= 10x, all processed", ratio >= 10 and handled == len(files))


def database_growth(tmp: Path, quick: bool) -> list[Row]:
    """Best round against best round; beside it, the range of the ratios round by round
    (each round runs every size back to back), to show how much of a result is noise."""
    sizes = (0, 100_000) if quick else (0, 100_000, 1_000_000)
    rates = growth.measure(fresh(tmp, "growth"), sizes, rounds=2 if quick else 5)
    best = {n: max(r) for n, r in rates.items()}
    rows = []
    for n in sizes:
        ratio = best[n] / best[0]
        paired = [mine / empty for mine, empty in zip(rates[n], rates[0], strict=True)]
        detail = f"; rounds {min(paired):.2f}-{max(paired):.2f}" if n else ""
        rows.append(Row(f"Worker with {n:>9,} tickets",
                        f"{ratio:4.2f}x of empty  ({best[n]:.0f} msg/s{detail})",
                        "within 10%" if n else "", ratio >= 0.9 if n else None))
    return rows


def five_files(size: int) -> bytes:
    """A message of five attachments just under the 10 MB limit: all of them accepted."""
    parts = [b"Content-Type: text/plain\r\n\r\nFive files.\r\n"]
    per_file = size // 5 * 3 // 4 - 4096
    for i in range(5):
        data = b"%PDF-1.4\n" + bytes([65 + i]) * per_file
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
                     b'Content-Disposition: attachment; filename="f%d.pdf"\r\n\r\n' % i
                     + encoded)
    return (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            + b"\r\n--b\r\n".join(parts) + b"\r\n--b--\r\n")


def big_message_rss(tmp: Path) -> list[Row]:
    rows = [_rss_row(fresh(tmp, "rss"), "Peak RSS, one 70 MB message", 70 * 1024 * 1024, None)]
    rows.append(_rss_row(fresh(tmp, "rss5"), "Peak RSS, 68 MB with five 10 MB files",
                         68 * 1024 * 1024, five_files(68 * 1024 * 1024)))
    return rows


def _rss_row(workdir: Path, what: str, size: int, body: bytes | None) -> Row:
    null = NullServer()
    try:
        run_load(null.port, 1, 1, size, run="rss-null", body=body)
    finally:
        null_peak = null.stop()
    daemon = Daemon(workdir, max_message_size=100 * 1024 * 1024)
    try:
        edge_before = peak_rss(daemon.proc.pid)
        result = run_load(daemon.port, 1, 1, size, run="rss", body=body)
        wait_until(lambda: daemon.tickets() == 1 and daemon.spool_pending() == 0, 300,
                   "the big message to become a ticket")
        worker_pid = daemon.worker_pid()
        assert worker_pid is not None
        edge, worker = peak_rss(daemon.proc.pid), peak_rss(worker_pid)
    finally:
        daemon.stop()
    worst = max(edge, worker)
    return Row(what,
               f"{worst / size:4.2f}x  (edge {edge / 2**20:.0f} MB from {edge_before / 2**20:.0f},"
               f" worker {worker / 2**20:.0f} MB; null server {null_peak / size:.2f}x)",
               "<= 4.5x the message", worst / size <= 4.5 and result.sent == 1)


def sweep_row(tmp: Path) -> Row:
    seconds = growth.sweep_seconds(fresh(tmp, "sweep"))
    return Row("Sweep over 100k open tickets", f"{seconds:4.2f} s  (1,000 of them due: "
               "1,000 reminders rendered and queued)", "<= 2 s", seconds <= 2)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}, {platform.platform()}")


def table(rows: list[Row]) -> str:
    width = max(len(r.what) for r in rows)
    lines = [f"{'benchmark':<{width}}  {'result':<86}  {'target':<28}  verdict",
             "-" * (width + 128)]
    lines += [f"{r.what:<{width}}  {r.result:<86}  {r.target:<28}  {r.verdict()}"
              for r in rows]
    return "\n".join(lines)


FILE_COST_US: dict[str, float] = {}  # each row's directory: kernel time per file created


def fresh(tmp: Path, row: str, healthy_us: float = 60.0, tries: int = 12) -> Path:
    """A directory for one row, in a block group where creating a file is cheap.

    The name is random: ext4 starts its search for a top directory's group (see
    `spread_subdirectories`) from a hash of the name, and a fixed one would land each run
    where the previous run's files of that row were just deleted. A directory where the
    probe finds recently deleted inodes is left (empty but for the probe) and another
    drawn; each row's cost is printed and recorded with the results.
    """
    for attempt in range(tries):
        directory = Path(tempfile.mkdtemp(prefix=f"{row}-", dir=tmp))
        cost = file_creation_us(directory)
        if cost <= healthy_us or attempt == tries - 1:
            break
        print(f"{row}: creating a file costs {cost:.0f} us of kernel time in {directory.name}"
              " (recently deleted inodes nearby, see bench/README.md); another directory",
              flush=True)
    FILE_COST_US[row] = cost
    return directory


def spread_subdirectories(directory: Path) -> bool:
    """Mark `directory` as the top of its own hierarchy for ext4's Orlov allocator (what
    `chattr +T` does), so that each row's directory lands in a block group of its own.

    On ext4 without a journal (this VM's root filesystem), creating a file skips, one by
    one, every inode of the group freed in the last few minutes (`recently_deleted()` in the
    kernel); after the previous run's cleanup of some 10,000 files, or the test suite's,
    each file created near them costs 0.4-1 ms of CPU instead of 10-50 us. The worker writes
    a maildir file per acknowledgement, so the end-to-end row fell to 0.20-0.29x from 0.37x
    with it. False where the filesystem has no such flag (tmpfs, others): nothing to do.
    """
    get_flags, set_flags, topdir = 0x80086601, 0x40086602, 0x00020000  # linux/fs.h
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            flags = bytearray(8)
            fcntl.ioctl(fd, get_flags, flags)
            value = int.from_bytes(flags[:4], sys.byteorder) | topdir
            fcntl.ioctl(fd, set_flags, value.to_bytes(4, sys.byteorder) + bytes(4))
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def file_creation_us(directory: Path, count: int = 300) -> float:
    """Microseconds of kernel time to create a small file in `directory` (in a subdirectory,
    which ext4 keeps in the same group of block groups). The files stay until the run ends:
    deleting them is what makes creation slow (see `spread_subdirectories`)."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=directory))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    for i in range(count):
        (probe / str(i)).write_bytes(b"x" * 600)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_stime - before) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--only", choices=["smtp", "e2e", "helpdesk", "growth", "rss",
                                           "postgresql"])
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="maildaemon-bench-") as name:
        tmp = Path(name)
        spread = spread_subdirectories(tmp)
        null_rates: dict[tuple[int, int], float] = {}
        if args.only in (None, "smtp", "e2e"):
            accept, null_rates = smtp_acceptance(tmp, args.quick)
            rows += accept if args.only != "e2e" else []
        if args.only in (None, "e2e"):
            rows.append(end_to_end(tmp, null_rates[(2 * KB, 8)], args.quick))
        if args.only in (None, "helpdesk"):
            rows.append(versus_helpdesk(tmp))
            rows.append(slowest_message(tmp))
        if args.only in (None, "growth"):
            rows += database_growth(tmp, args.quick)
            rows.append(sweep_row(tmp))
        if args.only in (None, "rss"):
            rows += big_message_rss(tmp)
        if args.only in (None, "postgresql"):
            rows += [Row(*row) for row in pg.rows(fresh(tmp, "postgresql"), args.quick)]
    where = (f"work directory {tmp.parent}"
             + ("" if spread else " (no top-directory flag there)")
             + ", kernel time per file created: "
             + ", ".join(f"{row} {us:.0f} us" for row, us in FILE_COST_US.items()))
    report = table(rows)
    print(where)
    print(report)
    if args.record:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        (ROOT / "bench" / "RESULTS.md").write_text(
            f"# Benchmark results\n\nRecorded {stamp} with `python bench/run.py"
            f"{' --quick' if args.quick else ''}` on {machine()}; {where}.\n\n```\n{report}"
            "\n```\n")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
