// The diagnostics panel: every link of the push chain, green or red, with the fix.
import {checkPushNow, lastPushRepair, pushCheckOnce} from "./keep-push.js";
import {isIos, isStandalone, lastPushReceived, pushSupport} from "./push.js";

function show(row, ok, detail) {
  row.classList.toggle("ok", ok);
  row.classList.toggle("bad", !ok);
  row.querySelector("[data-state]").textContent = ok ? "OK" : "Fix";
  row.querySelector("[data-detail]").textContent = detail;
  row.querySelector("[data-fix]").hidden = ok;
}

export async function runDiagnostics(root, again = false) {
  const row = (name) => root.querySelector(`[data-check="${name}"]`);
  const support = pushSupport();
  show(row("secure"), support.secureContext, support.secureContext ? location.origin : "This page is not on https.");

  const registration = support.serviceWorker ? await navigator.serviceWorker.getRegistration("/bank/app/") : null;
  const active = Boolean(registration && registration.active && registration.active.state === "activated");
  show(row("worker"), active, active ? `Active, scope ${registration.scope}` : "No active service worker.");

  const permission = support.notifications ? Notification.permission : "unsupported";
  show(row("permission"), permission === "granted", `Permission: ${permission}`);

  // First put the subscription back in step (as each app start does), then judge what is left.
  const kept = await (again ? checkPushNow() : pushCheckOnce());
  const repair = lastPushRepair();
  const time = (iso) => new Date(iso).toLocaleTimeString();
  show(row("kept"), kept.ok, `${kept.detail} Checked at ${time(kept.checked_at)}.` +
       (repair && repair.checked_at !== kept.checked_at ? ` Last put right at ${time(repair.checked_at)}: ${repair.detail}` : ""));
  row("kept").dataset.outcome = kept.state;

  const subscription = active && support.pushManager ? await registration.pushManager.getSubscription() : null;
  const known = await (await fetch("/bank/app/api/diagnostics")).json();
  const match = subscription && known.devices.find((d) => d.endpoint === subscription.endpoint);
  show(row("subscribed"), Boolean(match),
       match ? `Known to the bank as "${match.name}"` : subscription ? "Subscribed, but the bank does not know it." : "Not subscribed.");

  const standalone = isStandalone();
  const needsInstall = isIos();
  show(row("installed"), standalone || !needsInstall,
       standalone ? "Opened from the Home Screen." : needsInstall ? "Not installed: iPhone only delivers push to installed apps."
         : "In a browser tab: fine for push here (installing is optional).");

  showSocket(row("socket"));

  const received = await lastPushReceived();
  const sent = known.last_push;
  const sentOk = Boolean(sent && sent.status >= 200 && sent.status < 300);
  const when = (iso) => new Date(iso).toLocaleString();
  show(row("push"), sentOk && Boolean(received),
       `Last sent: ${sent ? `${when(sent.attempted_at)} (${sent.status || sent.error})` : "never"} · ` +
       `last received here: ${received ? when(received.received_at) : "never"}`);
  root.dataset.done = "true";
}

function showSocket(socketRow) {
  const socket = window.paylabBankSocket;
  const connected = Boolean(socket && socket.connected);
  show(socketRow, connected, connected ? `Connected (${socket.io.engine.transport.name})` : "Not connected.");
}

export function startDiagnostics(root) {
  const run = (again = false) => runDiagnostics(root, again).catch((err) => { root.dataset.error = err.message; });
  const rerun = root.querySelector("[data-rerun]");
  rerun.addEventListener("click", () => run(true));
  rerun.disabled = false; // disabled in the page until this listener exists
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data?.type === "push-received") run();
  });
  // The socket row follows the socket itself: a slow phone connects whenever it connects (and
  // may upgrade to WebSocket later), rather than being judged once after a guessed delay.
  const socket = window.paylabBankSocket;
  const socketRow = root.querySelector('[data-check="socket"]');
  const refresh = () => socketRow && showSocket(socketRow);
  socket?.on("disconnect", refresh);
  socket?.on("connect", () => {
    refresh();
    socket.io.engine.once("upgrade", refresh);  // polling → websocket
  });
  run();
}
