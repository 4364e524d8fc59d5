// The attack lab's page: run an attack, show each request and what stopped it, and check the order did not move.
// The order's state comes from the shop's own status API, read with the learner's own session, before and after.

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";
let target = {payment: null, captured_webhook: null};

function money(cents, currency) {
  return `${currency === "ZAR" ? "R" : currency} ${(cents / 100).toFixed(2)}`;
}

function element(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

async function orderStatus() {
  // What the shop itself says of the order, or null (no order yet, or the shop did not answer).
  if (!target.payment?.order_id) return null;
  try {
    const response = await fetch(`/shop/api/orders/${target.payment.order_id}/status`, {credentials: "same-origin"});
    return response.ok ? (await response.json()).status : null;
  } catch {
    return null;
  }
}

async function loadTarget() {
  const paymentLine = document.querySelector("[data-target-payment]");
  const captureLine = document.querySelector("[data-target-capture]");
  const response = await fetch("/lab/api/targets", {credentials: "same-origin"});
  if (!response.ok) {
    paymentLine.textContent = "Sign in to the shop, then reload this page.";
    return;
  }
  target = await response.json();
  if (target.payment) {
    const status = await orderStatus();
    paymentLine.textContent = `Your newest payment: ${target.payment.reference}, ${money(target.payment.amount, target.payment.currency)}` +
      (status ? `; the shop shows the order as ${status}.` : ".");
  } else {
    paymentLine.textContent = "No payment of yours yet: check out in the shop (Pay now) to aim the attacks at it.";
  }
  captureLine.textContent = target.captured_webhook
    ? `The wiretap caught a signed webhook of yours: ${target.captured_webhook.event_id}, at ${target.captured_webhook.captured_at}.`
    : "No signed webhook caught yet: approve a payment on your phone, and the lab's wiretap on the bank → shop link catches the bank's event.";
}

function showOutcome(box, outcome, before, after) {
  const verdict = element("p", {class: `verdict ${outcome.held ? "held" : "broke"}`, "data-testid": "verdict"},
                          outcome.held ? "✓ The defence held. " : "✗ ", outcome.summary);
  const attempts = element("ol", {class: "attempts"});
  for (const attempt of outcome.attempts) {
    const path = new URL(attempt.url, location.href).pathname;
    const item = element("li", {"data-testid": "attempt"}, attempt.tried, " ",
                         element("code", {}, `${attempt.method} ${path} → ${attempt.status ?? "no answer"}`),
                         element("span", {class: "hint"}, ` ${attempt.answer}`));
    item.append(attempt.stopped_by
      ? element("span", {class: "stopped-by"}, `Stopped by: ${attempt.stopped_by}`)
      : element("span", {class: "not-stopped"}, "Not stopped."));
    attempts.append(item);
  }
  box.replaceChildren(verdict, attempts);
  if (before !== null || after !== null) {
    const same = before === after;
    box.append(element("p", {class: "order-check", "data-testid": "order-check"},
                       `Your order, as the shop shows it: ${before ?? "?"} before, ${after ?? "?"} after: `,
                       element("strong", {}, same ? "unchanged." : "it changed!")));
  }
  box.append(element("p", {}, element("a", {href: `/walkthrough/${outcome.journey_id}`, target: "_blank", rel: "noopener"},
                                      "See the red arrows in the walkthrough")));
}

async function runAttack(card) {
  const button = card.querySelector("[data-run]");
  const box = card.querySelector("[data-result]");
  button.disabled = true;
  box.replaceChildren(element("p", {class: "hint"}, "Attacking…"));
  try {
    const before = await orderStatus();
    // What the attack asks the learner to type in for the attacker (the "stolen" log-in), if anything.
    const inputs = Object.fromEntries([...card.querySelectorAll("[data-input]")].map((input) => [input.dataset.input, input.value]));
    const response = await fetch(`/lab/api/attacks/${card.dataset.attack}`, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(inputs),
      headers: {"X-CSRFToken": csrfToken, "Accept": "application/json", "Content-Type": "application/json"}});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      box.replaceChildren(element("p", {class: "verdict", "data-testid": "needs"}, body.message || `The lab answered HTTP ${response.status}.`));
      return;
    }
    showOutcome(box, body, before, await orderStatus());
  } catch {
    box.replaceChildren(element("p", {class: "verdict"}, "The lab did not answer. Check your connection and try again."));
  } finally {
    button.disabled = false;
    loadTarget();
  }
}

for (const card of document.querySelectorAll("[data-attack]")) {
  card.querySelector("[data-run]").addEventListener("click", () => runAttack(card));
}
loadTarget();
