// Keep this phone's push subscription alive: run each time the bank app opens.
//
// iOS and some Android builds drop or rotate a push subscription without firing
// `pushsubscriptionchange`, and the bank then pushes into the void. So on every open the app
// compares what the browser holds with what the bank holds for this device, and puts them back
// in step: a changed subscription is sent to the bank; a lost one is made again (when the bank
// had one and notifications are still allowed) and sent. The outcome is kept for Diagnostics.
import {csrfHeaders} from "./http.js";
import {SCOPE, pushSupport} from "./push.js";

const STORE = "baobab-push-check";
const REPAIRS = new Set(["renewed", "re-registered"]);

function base64UrlToBytes(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function sameKey(buffer, base64Url) {
  if (!buffer) return true; // a browser that does not say which key it used: nothing to compare
  const a = new Uint8Array(buffer);
  const b = base64UrlToBytes(base64Url);
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function getJson(url) {
  const response = await fetch(url, {credentials: "same-origin"});
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

async function tellTheBank(subscription) {
  const response = await fetch("/bank/app/api/devices/this/subscription", {
    method: "PUT", headers: csrfHeaders(), body: JSON.stringify({subscription: subscription.toJSON()}),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || `The bank answered ${response.status}.`);
  return body.changed;
}

// What happened, in words for Diagnostics. `ok` false means the learner has something to fix.
function outcome(state, ok, detail) {
  const result = {state, ok, detail, checked_at: new Date().toISOString()};
  try {
    localStorage.setItem(STORE, JSON.stringify(result));
    if (REPAIRS.has(state)) localStorage.setItem(`${STORE}-repair`, JSON.stringify(result));
  } catch (err) {
    // private mode or storage full: Diagnostics runs the check itself
  }
  return result;
}

// The last time a check had to put things right (Diagnostics shows it: a silent drop is worth knowing).
export function lastPushRepair() {
  try {
    return JSON.parse(localStorage.getItem(`${STORE}-repair`) || "null");
  } catch (err) {
    return null;
  }
}

export async function keepPushSubscription() {
  const support = pushSupport();
  if (!support.secureContext || !support.serviceWorker || !support.pushManager || !support.notifications) {
    return outcome("unsupported", true, "This browser cannot receive push here, so there is nothing to keep.");
  }
  const mine = await getJson("/bank/app/api/devices/this");
  if (!mine.registered) {
    return outcome("not-a-device", true, "This browser is not one of your devices, so the bank holds no subscription for it.");
  }
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  if (!registration) {
    return mine.push
      ? outcome("no-worker", false, "The bank pushes to this device, but its service worker is gone. Open Devices and tap Enable notifications.")
      : outcome("off", true, "Notifications are off for this device.");
  }
  const {public_key: key} = await getJson("/bank/app/api/push/key");
  let subscription = await registration.pushManager.getSubscription();
  let lost = !subscription;
  if (subscription && !sameKey(subscription.options?.applicationServerKey, key)) {
    await subscription.unsubscribe(); // made for another VAPID key (the bank's keys were made anew)
    subscription = null;
    lost = true;
  }
  if (!subscription) {
    if (!mine.push) return outcome("off", true, "Notifications are off for this device.");
    if (Notification.permission !== "granted") {
      return outcome("lost", false, "The browser dropped this device's push subscription and notifications are no longer allowed. Allow them in the site settings, then tap Enable notifications.");
    }
    subscription = await registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
  }
  if (!lost && subscription.endpoint === mine.endpoint) {
    return outcome("in-step", true, "The bank holds this browser's current push subscription.");
  }
  await tellTheBank(subscription);
  return lost
    ? outcome("renewed", true, "The browser had dropped its push subscription: the app subscribed again and gave the bank the new one.")
    : outcome("re-registered", true, mine.push
      ? "The browser's push subscription had changed: the app gave the bank the new one."
      : "The bank had no push subscription for this device: the app gave it the browser's.");
}

export function checkPushNow() {
  window.paylabPushCheck = keepPushSubscription()
    .catch((err) => outcome("failed", false, `The check failed: ${err.message}`));
  return window.paylabPushCheck;
}

// One check per page, whoever asks first (the page's base script or Diagnostics).
export function pushCheckOnce() {
  return window.paylabPushCheck || checkPushNow();
}

// Each time the app opens: a launch from the Home Screen or a new tab is a new session.
export function keepPushOnOpen() {
  try {
    if (sessionStorage.getItem("baobab-push-checked")) return null;
    sessionStorage.setItem("baobab-push-checked", "1");
  } catch (err) {
    // no session storage: check on every page, which is only two small GETs
  }
  return pushCheckOnce();
}
