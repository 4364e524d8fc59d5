// The bank app's live parts: the pending list and the approval screen follow the bank over Socket.IO.
// The server puts this socket in its customer's room from the bank session; we never name a room.
import {showTimeLeft} from "/static/common/js/countdown.js";

function connect(onChange) {
  if (typeof io !== "function") return null;
  // WebSocket first, polling only where a network refuses it (as the shop's order page: order-status.js).
  const socket = io("/bank", {transports: ["websocket", "polling"], tryAllTransports: true});
  window.paylabBankSocket = socket; // for the curious (and the browser tests)
  socket.on("payment_request", onChange);
  socket.on("connect", () => onChange(null));
  return socket;
}

function approvalItem(approval) {
  const li = document.createElement("li");
  const link = document.createElement("a");
  link.className = "approval-item";
  link.href = approval.url;
  link.dataset.testid = "approval-item";
  const left = document.createElement("span");
  const merchant = document.createElement("strong");
  merchant.textContent = approval.merchant;
  const code = document.createElement("span");
  code.className = "muted small";
  code.textContent = `Code ${approval.binding_code}`;
  left.append(merchant, code);
  const amount = document.createElement("span");
  amount.className = "amount";
  amount.textContent = approval.amount_text;
  link.append(left, amount);
  li.append(link);
  return li;
}

export function startApprovalList(section) {
  const list = section.querySelector("[data-approval-list]");
  const empty = section.querySelector("[data-empty]");
  const live = section.querySelector("[data-live]");

  async function refresh() {
    const response = await fetch(section.dataset.api, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { approvals } = await response.json();
    list.replaceChildren(...approvals.map(approvalItem));
    empty.hidden = approvals.length > 0;
  }

  const socket = connect(() => refresh().catch(() => {}));
  if (socket) {
    socket.on("connect", () => live.classList.add("on"));
    socket.on("disconnect", () => live.classList.remove("on"));
  }
  setInterval(() => refresh().catch(() => {}), 15000); // a safety net if the socket is blocked
}

export function watchApproval(section) {
  const countdown = section.querySelector("[data-countdown]");
  if (countdown) {
    showTimeLeft(countdown);
    setInterval(() => showTimeLeft(countdown), 1000);
  }
  let submitting = false;
  section.querySelectorAll("form").forEach((form) => form.addEventListener("submit", () => { submitting = true; }));
  // If the shop cancels or the request expires while this screen is open, reload to show the outcome.
  connect((change) => {
    if (!submitting && change && change.id === section.dataset.id && change.status !== section.dataset.status) {
      window.location.reload();
    }
  });
}
