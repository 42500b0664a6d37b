// trunk post_build hook (Trunk.toml), before stamp-sw.sh: gives the built index.html a strict
// Content-Security-Policy, so that "images never leave your device" is enforced by the browser,
// not only promised. Static hosts (GitHub Pages) cannot set headers, so the policy is a <meta>
// element. Inline scripts (trunk's loader, the start-up and service-worker scripts of
// index.html) are allowed by the SHA-256 of their exact text, computed here from the final file.
//
//   connect-src 'self'       fetches (models, samples) go to the page's own origin only
//   'wasm-unsafe-eval'       compiling WebAssembly, and nothing else eval-like
//   style-src 'unsafe-inline'  style attributes, which the views set (no script can run from them)
//   img-src data: blob:      the model's view of the image (a PNG data URL), uploads (blob URLs)
//
// frame-ancestors cannot be set from <meta>; a host that can send headers should add
// `frame-ancestors 'none'` there.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) {
  console.error('csp: run by trunk as a post_build hook (TRUNK_STAGING_DIR is not set)');
  process.exit(1);
}
const file = join(dir, 'index.html');
let html = readFileSync(file, 'utf8');
if (html.includes('http-equiv="Content-Security-Policy"')) {
  console.error('csp: index.html already has a policy');
  process.exit(1);
}

const hashes = [];
for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
  if (/\bsrc\s*=/.test(m[1])) continue;
  hashes.push(`'sha256-${createHash('sha256').update(m[2], 'utf8').digest('base64')}'`);
}
const policy = [
  "default-src 'self'",
  `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(' ')}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const charset = /<meta charset="utf-8" \/>/;
if (!charset.test(html)) {
  console.error('csp: no <meta charset="utf-8" /> to put the policy after');
  process.exit(1);
}
html = html.replace(charset, (m) => `${m}\n    <meta http-equiv="Content-Security-Policy" content="${policy}" />`);
writeFileSync(file, html);
console.log(`csp: ${hashes.length} inline script(s) allowed by hash`);
