// GAttANet Explorer's service worker: after the first visit the page works offline.
//
// Versioning. trunk builds with filehash = false (Trunk.toml), so a new deploy reuses every file
// name and URLs cannot tell versions apart. A trunk post_build hook (scripts/stamp-sw.sh)
// therefore writes into this file, in dist/ only, the build's file list and two content hashes:
// one over the app shell, one over models/. Any changed byte changes sw.js, the browser installs
// the new worker, and it precaches the new shell into a new cache in one go. We chose this over
// "network first, cache as fallback" because the page's files must match each other exactly
// (app.js with app_bg.wasm, worker.js with worker_bg.wasm and the page's message protocol): a
// network-first worker can mix versions when a deploy lands or a download fails midway, and it
// makes every online visit wait for the network. Here a page is always served from one cache.
//
// Updates. A new version waits (no skipWaiting on install) while an old page is open, because
// that page may still fetch files (a restarted inference worker loads worker.js again) and must
// get its own version. index.html offers "Reload" when a new version is ready; that message is
// what activates it. Closing every tab of the site activates it too.
//
// Scope. Registered as ./sw.js from index.html, so its scope is the folder the page is served
// from (e.g. https://user.github.io/gattanet/), and every URL below is relative to it.
'use strict';

// Replaced by scripts/stamp-sw.sh: {"shell": "<hash>", "models": "<hash>", "files": ["index.html", ...]}.
const BUILD = /*BUILD*/ null /*END*/;

const PREFIX = 'gattanet-';
const SHELL_CACHE = BUILD && `${PREFIX}shell-${BUILD.shell}`;
// Models are cached when first fetched, in a cache named after the hash of models/: a deploy that
// retrains a model in place (same URL) drops the stale copy, one that only changes the page
// keeps the downloaded models.
const MODELS_CACHE = BUILD && `${PREFIX}models-${BUILD.models}`;
// The user's own model ("Open your model…"): the page keeps and removes it, versions never do.
const OWN_MODEL_CACHE = `${PREFIX}own-model`;
const SCOPE = new URL('./', self.location.href);

/** The path of `url` relative to the scope, or null when it is outside it or malformed. */
function relative(url) {
  try {
    const u = new URL(url);
    if (u.origin !== SCOPE.origin || !u.pathname.startsWith(SCOPE.pathname)) return null;
    return decodeURIComponent(u.pathname.slice(SCOPE.pathname.length));
  } catch (e) {
    return null; // e.g. a bad percent-escape: not ours, the network answers it
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    // An unstamped sw.js (served from www/ without a trunk build) must not install: it would
    // cache nothing and still claim the page works offline.
    if (!BUILD || !Array.isArray(BUILD.files) || !BUILD.files.includes('index.html')) {
      throw new Error('sw.js was not stamped by scripts/stamp-sw.sh; offline caching is off');
    }
    const cache = await caches.open(SHELL_CACHE);
    // cache: 'reload' skips the HTTP cache, which may still hold the previous deploy's files.
    await cache.addAll(BUILD.files.map((f) => new Request(new URL(f, SCOPE), { cache: 'reload' })));
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== SHELL_CACHE && name !== MODELS_CACHE && name !== OWN_MODEL_CACHE) {
        await caches.delete(name);
      }
    }
    // The first visit's page becomes controlled at once, so it works offline without a reload.
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type === 'skip-waiting') {
    self.skipWaiting();
  } else if (data.type === 'cache-models' && Array.isArray(data.urls)) {
    // Models the page downloaded before this worker controlled it (the first visit) never
    // passed through the fetch handler; the page lists them and they are stored here.
    event.waitUntil(cacheModels(data.urls));
  }
});

async function cacheModels(urls) {
  const cache = await caches.open(MODELS_CACHE);
  for (const url of urls) {
    const rel = relative(url);
    if (rel === null || !rel.startsWith('models/')) continue;
    if (await cache.match(url, { ignoreSearch: true })) continue;
    try {
      // Revalidated with the server (a 304 when unchanged): a copy of the previous deploy's
      // model still in the HTTP cache must not be stored under this version.
      const response = await fetch(url, { cache: 'no-cache' });
      if (response.ok) await cache.put(url, response);
    } catch (e) {
      // Offline or gone: it will be cached the next time the page fetches it.
    }
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || !BUILD) return;
  const rel = relative(request.url);
  if (rel === null) return;
  if (request.mode === 'navigate') {
    // The page keeps its state in the query string, so every navigation to the scope's root
    // (or index.html) gets the cached index.html.
    if (rel === '' || rel === 'index.html') event.respondWith(fromCache(SHELL_CACHE, new URL('index.html', SCOPE).href, request));
    return;
  }
  if (BUILD.files.includes(rel)) {
    event.respondWith(fromCache(SHELL_CACHE, request.url, request));
  } else if (rel.startsWith('models/')) {
    event.respondWith(modelFile(request));
  }
});

/** The cached copy, else the network (a shell file whose precache was evicted). */
async function fromCache(cacheName, key, request) {
  const cached = await caches.match(key, { cacheName, ignoreSearch: true });
  return cached || fetch(request);
}

/** Models: cache first; on a miss, download and keep a copy (only complete, successful answers). */
async function modelFile(request) {
  const cache = await caches.open(MODELS_CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  if (cached) return cached;
  // Revalidated, as in cacheModels: what is stored here belongs to this version.
  const response = await fetch(request, { cache: 'no-cache' });
  if (response.ok && response.status === 200) {
    // The body streams to the page (with its download progress) and into the cache at once.
    cache.put(request.url.split('?')[0], response.clone()).catch(() => {});
  }
  return response;
}
