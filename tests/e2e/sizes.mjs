// Transfer size of the page: what a first visit downloads before the worked example shows
// (HTML, JS glue, CSS, both wasm binaries, the default model = first entry of models/index.json,
// the default sample), each gzip -9 compressed as a web server would send it.
// Usage: node tests/e2e/sizes.mjs [DIST_DIR]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const dist = path.resolve(process.argv[2] ?? 'dist');
const rows = [];
const add = (label, file) => {
  const buf = fs.readFileSync(file);
  rows.push({ label, raw: buf.length, gz: zlib.gzipSync(buf, { level: 9 }).length });
};
const files = fs.readdirSync(dist);
add('index.html', path.join(dist, 'index.html'));
for (const f of files.filter((f) => /\.(js|css|wasm)$/.test(f)).sort()) add(f, path.join(dist, f));
const manifestFile = path.join(dist, 'models/index.json');
if (fs.existsSync(manifestFile)) {
  const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8'))[0];
  const dir = (m.path ?? m.name).replace(/^\/?(models\/)?/, '').replace(/\/$/, '');
  add(`models/${dir}/config.json`, path.join(dist, 'models', dir, 'config.json'));
  add(`models/${dir}/model.safetensors (default model)`, path.join(dist, 'models', dir, 'model.safetensors'));
}
add('samples/horse.jpg (default sample)', path.join(dist, 'samples/horse.jpg'));
const kb = (n) => `${(n / 1024).toFixed(0).padStart(7)} KiB`;
console.log('[size] first visit (gzip -9):');
for (const r of rows) console.log(`[size] ${kb(r.gz)} gzip ${kb(r.raw)} raw  ${r.label}`);
const sum = (f) => rows.filter(f).reduce((s, r) => s + r.gz, 0);
const code = sum((r) => !r.label.startsWith('models/') && !r.label.startsWith('samples/'));
const total = sum(() => true);
console.log(`[size] code (html+js+css+wasm): ${(code / 1e6).toFixed(2)} MB gzip; with the default model and sample: ${(total / 1e6).toFixed(2)} MB gzip (goal ≤ 3 MB)`);
