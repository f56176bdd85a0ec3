"""HumanEval+ grader, run INSIDE the sandbox (one run per candidate program).

Files next to it: problem.json (entry point, inputs per test set, atol, oracle), reference.py (the canonical
solution), candidate.py (the program under test). The reference gives the expected outputs (as in EvalPlus);
each input runs under its own time limit. One line per test set goes to stdout, prefixed by ``@@RESULT ``, as soon
as the set finishes, so a run that dies later still reports the sets it finished. After a timeout the rest of
the set is skipped (counted as failed), so a hanging candidate costs one time limit per set.
"""
import contextlib
import copy
import io
import json
import math
import signal
import sys
import time


class InputTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise InputTimeout()


def load(path, entry):
    ns = {"__name__": "__tanuki_bench__"}
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, path, "exec"), ns)  # noqa: S102 - this file runs inside the sandbox
    return ns[entry]


def is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def close(out, exp, atol):
    if isinstance(exp, float):
        return isinstance(out, (int, float)) and not isinstance(out, bool) and math.isclose(out, exp, rel_tol=1e-7, abs_tol=atol)
    if not isinstance(out, (list, tuple)) or len(out) != len(exp):
        return False
    return all(close(o, e, atol) for o, e in zip(out, exp))


def poly(xs, x):
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def same(out, exp, inp, spec):
    atol = spec["atol"]
    if spec.get("oracle") == "poly_root":  # HumanEval/32: any root is right
        return isinstance(out, (int, float)) and abs(poly(inp[0], out)) <= max(atol, 1e-6)
    if is_floats(exp):
        return close(out, exp, atol or 1e-6)
    return out == exp


def call(fn, args, limit):
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn(*copy.deepcopy(args))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main():
    signal.signal(signal.SIGALRM, _alarm)
    sys.setrecursionlimit(10000)
    with open("problem.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    ref = load("reference.py", spec["entry_point"])
    try:
        cand = load("candidate.py", spec["entry_point"])
        load_error = None
    except BaseException as exc:  # noqa: BLE001 - any failure to load is a failed candidate
        cand, load_error = None, f"{type(exc).__name__}: {exc}"[:300]
    for name in spec["sets"]:
        inputs = spec["inputs"][name]
        passed, failure, hung = 0, None, False
        for i, inp in enumerate(inputs):
            if hung:  # a candidate that hangs once is not run on the rest of the set (they count as failed)
                break
            t0 = time.perf_counter()
            exp = call(ref, inp, spec["ref_limit_s"])
            limit = max(spec["min_limit_s"], spec["limit_factor"] * (time.perf_counter() - t0))
            if cand is None:
                failure = failure or {"index": i, "error": load_error}
                continue
            try:
                out = call(cand, inp, limit)
                ok = same(out, exp, inp, spec)
                err = None if ok else "wrong answer"
            except InputTimeout:
                ok, err = False, f"timeout ({limit:.2f}s)"
                hung = True
            except BaseException as exc:  # noqa: BLE001 - the candidate's exception is its failure
                ok, err = False, f"{type(exc).__name__}: {exc}"[:300]
            if ok:
                passed += 1
            elif failure is None:
                failure = {"index": i, "error": err, "input": repr(inp)[:200]}
        line = {"set": name, "passed": passed, "total": len(inputs), "failure": failure}
        sys.__stdout__.write("@@RESULT " + json.dumps(line) + "\n")
        sys.__stdout__.flush()


main()
