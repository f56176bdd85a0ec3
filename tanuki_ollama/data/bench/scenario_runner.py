"""Scenario acceptance runner, run INSIDE the sandbox: unittest discovery over acceptance/test_*.py with the
repository on sys.path; one ``@@RESULT`` JSON line."""
import json
import sys
import unittest

sys.path.insert(0, ".")
suite = unittest.defaultTestLoader.discover("acceptance", pattern="test_*.py", top_level_dir="acceptance")
result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(suite)
failed = [t.id() for t, _ in result.failures + result.errors]
print("@@RESULT " + json.dumps({"passed": result.testsRun - len(failed), "total": result.testsRun, "failed": failed}))
