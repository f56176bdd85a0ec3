"""Runs a batch of small Python checks in ONE interpreter (started by execution.py; never imported by tanuki).

argv: jobs.json results.json. Each job: {"id", "code", "script" (str|null), "cases": [[expr, expected_repr|null]],
"timeout"}. For each job: exec ``code`` in a fresh namespace, then ``script``, then evaluate every case expression
and compare its repr with the expected one (null = just record it). Every job has its own alarm.
Writes {"id": {"load_error", "script_error", "cases": [{"got", "error", "pass"}]}}.
"""
import io
import json
import signal
import sys


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _err(exc):
    if isinstance(exc, _Timeout):
        return "Timeout: took too long"
    text = str(exc).strip().splitlines()
    return type(exc).__name__ + (": " + text[0][:200] if text else "")


def _plain(value, depth=0):
    if depth > 4:
        return False
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return len(value) <= 50 and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 50 and all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _guard():
    import builtins
    import os
    import shutil
    import subprocess

    for name in ("system", "kill", "killpg", "fork", "forkpty", "remove", "unlink", "rmdir", "removedirs",
                 "rename", "renames", "replace", "truncate", "chmod", "chown", "putenv", "execv", "execve",
                 "spawnv", "popen"):
        if hasattr(os, name):
            setattr(os, name, None)
    shutil.rmtree = shutil.move = None
    subprocess.Popen = None
    builtins.exit = builtins.quit = None
    builtins.input = None


def main():
    import os

    if os.environ.get("PYTHONHASHSEED") != "0":  # set/str-hash order must not vary between runs
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    jobs = json.load(open(sys.argv[1]))
    out_path = sys.argv[2]
    sys.setrecursionlimit(2000)
    signal.signal(signal.SIGALRM, _alarm)
    _guard()
    real_stdout = sys.stdout
    results = {}
    for job in jobs:
        res = {"load_error": None, "script_error": None, "cases": []}
        ns = {"__name__": "__tanuki_check__"}
        sys.stdout = io.StringIO()
        signal.setitimer(signal.ITIMER_REAL, float(job.get("timeout", 2.0)))
        try:
            try:
                exec(compile(job["code"], "<code>", "exec"), ns)
            except BaseException as exc:  # noqa: BLE001 - the job's own failure is data
                res["load_error"] = _err(exc)
            if res["load_error"] is None and job.get("script"):
                try:
                    exec(compile(job["script"], "<script>", "exec"), ns)
                except BaseException as exc:  # noqa: BLE001
                    res["script_error"] = _err(exc)
            if res["load_error"] is None:
                for expr, expected in job.get("cases", []):
                    case = {"got": None, "error": None, "pass": False, "plain": False}
                    try:
                        value = eval(compile(expr, "<case>", "eval"), ns)
                        got = repr(value)
                        case["got"] = got[:300]
                        case["plain"] = _plain(value) and len(got) <= 300
                        case["pass"] = expected is None or got == expected
                    except BaseException as exc:  # noqa: BLE001
                        if isinstance(exc, _Timeout):
                            case["error"] = _err(exc)
                            res["cases"].append(case)
                            break
                        case["error"] = _err(exc)
                    res["cases"].append(case)
        except _Timeout:
            res["load_error"] = res["load_error"] or "Timeout: took too long"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout = real_stdout
        results[job["id"]] = res
    with open(out_path, "w") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
