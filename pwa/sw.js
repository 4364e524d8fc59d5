// Baobab Bank's service worker: one listener per event, each inside waitUntil.
// It shows every push (iOS revokes subscriptions that stay silent), opens the approval screen
// on a tap, keeps the subscription alive, and serves an offline shell. API answers are never cached.

// The offline shell: the page and what it shows. The bank rewrites these two lines as it serves this script
// (app/bank/app/pwa.py): every URL gets its file's version (?v=…) and the cache's name a digest of them, so
// a changed file is a changed worker, which fills a new cache. Keep SHELL a JSON list of plain paths.
const SHELL_CACHE = "baobab-shell";
const SHELL = ["/bank/app/offline", "/bank/app/static/css/bank.css", "/bank/app/static/icons/baobab.svg",
               "/bank/app/static/icons/icon-192.png"];
const OFFLINE_URL = SHELL[0];
const SHELL_PATHS = new Set(SHELL.map((url) => new URL(url, self.location.origin).pathname));
const DIAG_CACHE = "baobab-diagnostics";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== SHELL_CACHE && key !== DIAG_CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

function isNeverCached(url) {
  return url.pathname.startsWith("/bank/app/api/") || url.pathname.startsWith("/socket.io/");
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || isNeverCached(url)) return;
  if (event.request.mode === "navigate") {
    // Pages: always the network (they carry live balances); the offline shell only when it fails.
    event.respondWith(fetch(event.request).catch(() => caches.match(OFFLINE_URL)));
  } else if (SHELL_PATHS.has(url.pathname)) {
    // The network first (a versioned URL comes from the browser's cache anyway); the copy only when offline,
    // whatever its version: the offline page names the files without one.
    event.respondWith(fetch(event.request).then(async (response) => {
      if (response.ok) await (await caches.open(SHELL_CACHE)).put(event.request, response.clone());
      return response;
    }).catch(() => caches.match(event.request, {ignoreSearch: true})));
  }
});

async function rememberPush(payload) {
  // The diagnostics panel reads this: proof that a push reached this very browser.
  const cache = await caches.open(DIAG_CACHE);
  const record = {received_at: new Date().toISOString(), id: payload.id || null, type: payload.type || null};
  if (payload.type === "payment_request") {  // tell the bank it arrived: the walkthrough draws push service → phone
    fetch("/bank/app/api/push/receipt", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({id: payload.id})}).catch(() => {});
  }
  await cache.put("/bank/app/__diagnostics/last-push", new Response(JSON.stringify(record),
    {headers: {"Content-Type": "application/json"}}));
  for (const client of await self.clients.matchAll({type: "window", includeUncontrolled: true})) {
    client.postMessage({type: "push-received", ...record});
  }
}

self.addEventListener("push", (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch (err) {
    payload = {body: event.data ? event.data.text() : ""};
  }
  const title = payload.title || "Baobab Bank";
  const options = {
    body: payload.body || "You have a new message from Baobab Bank.",
    // One notification per payment: a repeated push for it (a retry after a restart) replaces it, silently.
    tag: payload.id || "baobab",
    renotify: false,
    requireInteraction: payload.type === "payment_request",
    icon: "/bank/app/static/icons/icon-192.png",
    badge: "/bank/app/static/icons/icon-192.png",
    data: {url: payload.url || "/bank/app/", id: payload.id || null, binding_code: payload.binding_code || null},
  };
  event.waitUntil(Promise.all([self.registration.showNotification(title, options), rememberPush(payload)]));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/bank/app/", self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({type: "window", includeUncontrolled: true});
    for (const client of windows) client.postMessage({type: "open-approval", url: target});
    const inScope = windows.find((client) => new URL(client.url).pathname.startsWith("/bank/app/"));
    if (inScope) {
      try {
        await inScope.focus();
      } catch (err) {
        // focus() needs a real tap; navigating still brings up the approval screen
      }
      return inScope.navigate(target);
    }
    return self.clients.openWindow(target);
  })());
});

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const {public_key: key} = await (await fetch("/bank/app/api/push/key")).json();
    const subscription = await self.registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: key});
    // The device's HttpOnly token cookie rides along (same origin): it, not the old endpoint, is the proof.
    await fetch("/bank/app/api/devices/resubscribe", {
      method: "POST", headers: {"Content-Type": "application/json"}, credentials: "same-origin",
      body: JSON.stringify({old_endpoint: event.oldSubscription?.endpoint, subscription: subscription.toJSON()}),
    });
  })());
});
