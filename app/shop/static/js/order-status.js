// The order page's live status: Socket.IO first, polling the shop while the socket is down.
// The server decides which orders this browser hears about (its shop session); we only filter by id.
import {showTimeLeft} from "/static/common/js/countdown.js";

const POLL_MS = 3000;

function showStep(step, { state, label }) {
  step.className = state;
  step.querySelector("[data-step-label]").textContent = label;
}

export function renderStatus(root, status) {
  const payment = status.payment || {};
  const state = payment.status;
  const waiting = state === "pending";
  root.querySelector("[data-message]").textContent = status.message;
  root.querySelector("[data-waiting]").hidden = !waiting;
  root.querySelector("[data-retry]").hidden = !status.can_pay;
  root.dataset.status = status.status;
  root.dataset.paymentStatus = state || "";

  // The server says what each step shows (the same as it rendered): "waiting" only while an approval is awaited.
  showStep(root.querySelector("[data-step=waiting]"), status.steps.waiting);
  showStep(root.querySelector("[data-step=final]"), status.steps.final);

  if (payment.binding_code) root.querySelector("[data-binding-code]").textContent = payment.binding_code;
  const countdown = root.querySelector("[data-countdown]");
  countdown.dataset.expiresAt = payment.expires_at || "";
}

export function tickCountdown(root) {
  showTimeLeft(root.querySelector("[data-countdown]"));
}

export function startOrderStatus(root, initialStatus) {
  const orderId = Number(root.dataset.orderId);
  const banner = document.querySelector("[data-connection]");
  let pollTimer = null;

  renderStatus(root, initialStatus);
  tickCountdown(root);
  setInterval(() => tickCountdown(root), 1000);

  async function fetchStatus() {
    try {
      const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) renderStatus(root, await response.json());
    } catch (err) {
      // offline for a moment: the next poll tries again
    }
  }

  function startPolling() {
    if (banner) banner.hidden = false;
    if (!pollTimer) pollTimer = setInterval(fetchStatus, POLL_MS);
  }

  function stopPolling() {
    if (banner) banner.hidden = true;
    clearInterval(pollTimer);
    pollTimer = null;
  }

  if (typeof io !== "function") {
    startPolling();
    return;
  }
  // WebSocket first: one connection that stays with the server process it reached, where long-polling's
  // many requests may each reach another process (a classroom runs several behind a proxy). Polling only
  // where a network refuses WebSockets (tryAllTransports).
  const socket = io("/shop", {transports: ["websocket", "polling"], tryAllTransports: true});
  window.paylabShopSocket = socket; // for the curious (and the browser tests)
  socket.on("connect", () => {
    stopPolling();
    fetchStatus(); // catch up on anything missed while disconnected
  });
  socket.on("disconnect", startPolling);
  socket.on("connect_error", startPolling);
  socket.on("order_status", (status) => {
    if (status.order_id === orderId) renderStatus(root, status);
  });
}
