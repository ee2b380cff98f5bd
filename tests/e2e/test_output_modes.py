"""Output modes, recap, closing line, verbosity, and the library API example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.ctl import ROOT, Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab


def run(ctl: Ctl, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    return ctl("run", "-i", str(ctl.inventory), "-B", "60", *args, check_code=code)


def test_default_output_has_a_recap_and_a_closing_line(ctl: Ctl, lab: SshdLab) -> None:
    out = run(ctl, "-P", "0", "--", "true")
    jid = jid_of(out.stdout)
    recap = out.stdout[out.stdout.index("RECAP"):].splitlines()[1:]
    assert sorted(line.split(" :")[0].strip() for line in recap) == \
        sorted(h.name for h in lab.hosts)
    assert all("changed=1" in line for line in recap)
    assert f"next: ctl poll {jid} --all-hosts" in out.stderr
    assert "\x1b[" not in out.stdout  # not a terminal: no colour


def test_one_line_mode(ctl: Ctl, lab: SshdLab) -> None:
    out = run(ctl, "-P", "1", "-o", "-l", "h1:h2", "--", "sh", "-c", "echo hi; echo oops >&2")
    lines = [line for line in out.stdout.splitlines() if " | " in line and "ASYNC" not in line]
    assert sorted(lines) == [f"{h} | CHANGED | rc=0 | (stdout) hi (stderr) oops"
                             for h in ("h1", "h2")]
    launch = run(ctl, "-P", "0", "-o", "-l", "h3", "--", "true")
    line = next(x for x in launch.stdout.splitlines() if x.startswith("h3 | "))
    assert line.startswith("h3 | CHANGED => {") and json.loads(line.split(" => ", 1)[1])


def test_json_mode_prints_only_json_lines(ctl: Ctl, lab: SshdLab) -> None:
    out = run(ctl, "-P", "1", "--json", "-l", "h1:h2", "--", "sh", "-c", "sleep 1.5; echo x")
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events and all(set(e) == {"event", "op", "jid", "host", "status", "data"}
                          for e in events)
    assert {e["event"] for e in events} == {"poll", "done", "result"}
    finals = [e for e in events if e["event"] == "result"]
    assert sorted(e["host"] for e in finals) == ["h1", "h2"]
    assert all(e["data"]["stdout"] == "x" and e["status"] == "changed" for e in finals)
    assert len({e["jid"] for e in events}) == 1
    poll = ctl("poll", finals[0]["jid"], "--json", check_code=2)  # erased by -P: not found
    assert all(json.loads(line)["event"] == "result" for line in poll.stdout.splitlines())


def test_tree_writes_one_file_per_host(ctl: Ctl, lab: SshdLab, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    out = run(ctl, "-P", "1", "-t", str(tree), "--", "echo", "tree")
    assert sorted(p.name for p in tree.iterdir()) == sorted(h.name for h in lab.hosts)
    for host in lab.hosts:
        data = json.loads((tree / host.name).read_text())
        assert data["stdout"] == "tree" and data["rc"] == 0
    assert blocks(out.stdout)  # the normal output is still printed


def test_group_identical_folds_hosts_with_the_same_output(ctl: Ctl, lab: SshdLab) -> None:
    odd = lab.hosts[2]
    script = f'case "$SSH_CONNECTION" in *"{odd.address} {odd.port}"*) echo odd;; ' \
             '*) echo same;; esac'
    out = run(ctl, "-P", "1", "-g", "--shell", "--", script)
    headers = [line for line in out.stdout.splitlines() if " | CHANGED" in line]
    assert [h.name for h in lab.hosts] == ["h1", "h2", "h3", "h4", "h5"]
    assert headers == ["h[1-2,4-5] (4) | CHANGED", "h3 (1) | CHANGED"]
    assert out.stdout.count('"stdout": "same"') == 1 and out.stdout.count('"stdout": "odd"') == 1


def test_conflicting_output_modes_are_bad_input(ctl: Ctl) -> None:
    out = ctl("run", "-i", str(ctl.inventory), "-o", "--json", "--", "true")
    assert out.returncode == 5 and "choose one of" in out.stderr


def test_vvv_logs_name_host_and_jid_on_each_line(ctl: Ctl, lab: SshdLab) -> None:
    out = run(ctl, "-P", "0", "-l", "h1", "-vvv", "--", "true")
    jid = jid_of(out.stdout)
    lines = [line for line in out.stderr.splitlines() if line.startswith("ctl: [")]
    assert any("connected" in line for line in lines)
    assert any("[conn=" in line for line in lines)  # asyncssh's own conversation lines
    ssh_lines = [line for line in lines if "[conn=" in line]
    assert all(line.startswith(f"ctl: [h1 {jid}]") for line in ssh_lines)


def test_api_example_runs(ctl: Ctl, lab: SshdLab) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "api_example.py"),
                          str(ctl.inventory), "h1:h2"], env=ctl.env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("started j") and lines[0].endswith("on 2 host(s)")
    assert lines[1].startswith("h1: changed rc=0 stdout=") and lines[2].startswith("h2: ")
    assert lines[-1] == "erased on 2 host(s)"
