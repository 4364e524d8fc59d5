// Opened before signing in (the README's first step): wait for the shop to know this browser, then go live.
// The sign-in happens in another tab, whose cookie this page shares; asking the server is the one way to know.
const POLL_MS = 2000;

async function signedIn() {
  try {
    const response = await fetch("/walkthrough/api/me", {headers: {Accept: "application/json"}, cache: "no-store"});
    return response.ok && (await response.json()).signed_in;
  } catch {
    return false;  // the server is restarting, say: ask again next time
  }
}

async function check() {
  if (await signedIn()) window.location.reload();  // the same URL now serves the live diagram
}

setInterval(check, POLL_MS);
document.addEventListener("visibilitychange", () => { if (!document.hidden) check(); });
