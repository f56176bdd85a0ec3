// Scenario acceptance runner, run INSIDE the sandbox: every acceptance/*.test.js exports {name: fn}; one
// "@@RESULT" JSON line.
const fs = require("fs");
let passed = 0;
const failed = [];
for (const f of fs.readdirSync("acceptance").filter((f) => f.endsWith(".test.js")).sort()) {
  let tests;
  try {
    tests = require("./acceptance/" + f);
  } catch (e) {
    failed.push(f + ": cannot load: " + e.message);
    continue;
  }
  for (const [name, fn] of Object.entries(tests)) {
    try {
      fn();
      passed++;
    } catch (e) {
      failed.push(f + " " + name + ": " + String(e.message).slice(0, 200));
    }
  }
}
console.log("@@RESULT " + JSON.stringify({ passed, total: passed + failed.length, failed }));
