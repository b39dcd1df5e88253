"""Small files written whole: what mode a new one gets, read without disturbing other threads."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

# A child process with umask 077 (so this test's own umask is never touched): one thread keeps
# asking for the umask while the main thread creates files. Reading the umask by setting it and
# setting it back would, now and then, let a file be born under the other mask (0644).
RACE = """
import os, sys, threading
from cacherr.atomic import current_umask

os.umask(0o077)
sys.setswitchinterval(1e-5)
folder, seen, stop = sys.argv[1], set(), threading.Event()

def ask() -> None:
    while not stop.is_set():
        seen.add(current_umask())

asker = threading.Thread(target=ask)
asker.start()
modes = set()
for n in range(2000):
    path = os.path.join(folder, str(n))
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
    modes.add(oct(os.stat(path).st_mode & 0o777))
stop.set()
asker.join()
print(sorted(modes), sorted(oct(m) for m in seen))
"""


def test_reading_the_umask_never_changes_it_under_other_threads(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RACE, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['0o600']", "['0o77']"]


def test_a_new_file_gets_the_mode_less_the_umask(tmp_path: Path) -> None:
    script = (
        "import os, sys; from pathlib import Path; from cacherr.atomic import atomic_write_text\n"
        "os.umask(0o027); atomic_write_text(Path(sys.argv[1]), 'x')"
    )
    path = tmp_path / "cacherr.json"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
