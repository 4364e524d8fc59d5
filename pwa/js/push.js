// Push in the bank app: register the service worker, subscribe, tell the bank about this device.
// Small ES module, no bundler. The VAPID public key always comes from the bank.
import {csrfHeaders} from "./http.js";

export const SW_URL = "/bank/app/sw.js";
export const SCOPE = "/bank/app/";

export function pushSupport() {
  return {
    secureContext: window.isSecureContext,
    serviceWorker: "serviceWorker" in navigator,
    pushManager: "PushManager" in window,
    notifications: "Notification" in window,
  };
}

export function isIos() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
}

export function isStandalone() {
  return window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
}

export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.register(SW_URL, {scope: SCOPE});
}


export function deviceName() {
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? "Android" : isIos() ? "iPhone" : /Mac/.test(ua) ? "Mac" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "Browser";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "browser";
  return `${browser} on ${os}`;
}

export async function registerThisDevice(pin, subscription = null) {
  const response = await fetch("/bank/app/api/devices", {
    method: "POST", headers: csrfHeaders(),
    body: JSON.stringify({pin, name: deviceName(), ...(subscription ? {subscription: subscription.toJSON()} : {})}),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || "The bank did not accept this device.");
  return body;
}

export async function enableNotifications(pin) {
  // Must run from a click: iOS (and good manners) require a user gesture for the permission prompt.
  const support = pushSupport();
  if (!support.secureContext) throw new Error("Push needs HTTPS (or localhost). Open the app through your https:// address.");
  if (!support.serviceWorker || !support.pushManager) {
    throw new Error(isIos() && !isStandalone()
      ? "On iPhone, add Baobab Bank to your Home Screen first, then open it from there."
      : "This browser cannot receive push messages.");
  }
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("Notifications are blocked. Allow them in the browser's site settings.");
  const registration = await registerServiceWorker();
  await navigator.serviceWorker.ready;
  const {public_key: key} = await (await fetch("/bank/app/api/push/key")).json();
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription) {
    subscription = await registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
  }
  return registerThisDevice(pin, subscription);
}

export async function removeDevice(id) {
  const response = await fetch(`/bank/app/api/devices/${id}`, {method: "DELETE", headers: csrfHeaders()});
  if (!response.ok && response.status !== 404) throw new Error("Could not remove the device.");
}

export async function sendTestNotification() {
  const response = await fetch("/bank/app/api/devices/test", {method: "POST", headers: csrfHeaders()});
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || "The test could not be sent.");
  return body;
}

export async function lastPushReceived() {
  const hit = await (await caches.open("baobab-diagnostics")).match("/bank/app/__diagnostics/last-push");
  return hit ? hit.json() : null;
}
