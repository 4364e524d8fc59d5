// The instructor's view: asks for the class's figures every few seconds and shows them; looks up one
// learner's phone on demand. The browser sends the instructor's Basic credentials with each request.
const main = document.querySelector("main[data-refresh-seconds]");
const refreshSeconds = Number(main.dataset.refreshSeconds) || 3;
const refreshed = document.querySelector("[data-refreshed]");

function setCount(key, value) {
  const item = document.querySelector(`[data-progress] [data-key="${key}"] .count`);
  if (item) item.textContent = value ?? "–";
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "none";
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

function term(list, name, value, problem = false) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (problem) dd.classList.add("problem");
  list.append(dt, dd);
}

function showOverview(data) {
  for (const [key, value] of Object.entries(data.class_progress)) setCount(key, value);
  for (const key of ["registered_a_phone", "notifications_on", "push_delivered"]) setCount(key, data.bank?.[key]);
  const health = document.querySelector("[data-health]");
  health.replaceChildren();
  const queue = data.deployment.queue;
  term(health, "Message queue", !queue.configured ? "none: one process" :
    queue.ok ? `Redis answers (${queue.round_trip_ms} ms)` : queue.error, queue.configured && !queue.ok);
  if (data.bank) {
    const outbox = data.bank.outbox;
    term(health, "Webhooks waiting", `${outbox.webhooks_waiting} (oldest ${ago(outbox.oldest_webhook_seconds)})`,
      outbox.oldest_webhook_seconds > 30);
    term(health, "Pushes waiting", `${outbox.pushes_waiting} (oldest ${ago(outbox.oldest_push_seconds)})`,
      outbox.oldest_push_seconds > 30);
    const payments = data.bank.payments;
    term(health, "Payments", `${payments.approved} approved, ${payments.pending} pending, ${payments.declined} ` +
      `declined, ${payments.expired} expired, ${payments.cancelled} cancelled`);
  } else {
    term(health, "Bank", data.bank_error || "no answer", true);
  }
  const processes = document.querySelector("[data-processes]");
  processes.replaceChildren(...data.deployment.processes.map((p) =>
    row([p.role, p.host, String(p.pid), String(p.sockets), new Date(p.started_at).toLocaleTimeString()])));
}

async function refresh() {
  try {
    const response = await fetch("/instructor/api/overview", {credentials: "same-origin"});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    showOverview(await response.json());
    refreshed.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${refreshSeconds} s.`;
  } catch (error) {
    refreshed.textContent = `Could not refresh (${error.message}); trying again in ${refreshSeconds} s.`;
  } finally {
    setTimeout(refresh, refreshSeconds * 1000);
  }
}

function showLearner(target, data) {
  target.replaceChildren();
  const heading = document.createElement("h3");
  heading.textContent = `${data.username}: ${data.devices.length} device(s), ${data.pending_payments} payment(s) waiting`;
  target.append(heading);
  if (!data.devices.length) {
    const hint = document.createElement("p");
    hint.textContent = "No phone registered yet: in the bank app, Devices → enter the PIN → Enable notifications.";
    target.append(hint);
  }
  for (const device of data.devices) {
    const list = document.createElement("dl");
    list.className = "health";
    term(list, "Device", `${device.name}, registered ${new Date(device.registered_at).toLocaleString()}`);
    term(list, "Notifications", device.notifications ? `on (${device.push_service})` : "off", !device.notifications);
    const last = device.last_push;
    term(list, "Last push sent", last ? `${new Date(last.at).toLocaleTimeString()}: ` +
      (last.accepted ? `accepted (HTTP ${last.status})` : (last.error || `HTTP ${last.status}`)) : "none yet",
      last && !last.accepted);
    term(list, "Last push received by the phone", device.last_receipt_at ?
      new Date(device.last_receipt_at).toLocaleTimeString() : "none yet", last && last.accepted && !device.last_receipt_at);
    target.append(list);
  }
}

document.querySelector("[data-learner-form]").addEventListener("submit", async (event) => {
  event.preventDefault();
  const target = document.querySelector("[data-learner]");
  const username = new FormData(event.target).get("username").trim();
  target.textContent = "Looking…";
  try {
    const response = await fetch(`/instructor/api/learner?username=${encodeURIComponent(username)}`,
      {credentials: "same-origin"});
    const data = await response.json();
    if (!response.ok) {
      target.textContent = data.message || `HTTP ${response.status}`;
      return;
    }
    showLearner(target, data);
  } catch (error) {
    target.textContent = `Could not ask the bank (${error.message}).`;
  }
});

refresh();
