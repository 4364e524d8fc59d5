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

// Attack 7 runs here, in the phone's own browser: a thief holding the unlocked phone types PINs into the
// approval screen, and these are the very requests that screen sends (its form, its token, the phone's
// device cookie). The commonest PINs first; never 1234, the demo card's, so the demo shows the lockout.
const PIN_GUESSES = ["0000", "1111", "2580", "9999", "4321"];

function needs(box, text) {
  box.replaceChildren(element("p", {class: "verdict", "data-testid": "needs"}, text));
}

async function approvalStatus(paymentId) {
  const response = await fetch(`/bank/app/api/approvals/${paymentId}`, {credentials: "same-origin"});
  return response.ok ? response.json() : null;
}

async function guessThePin(box) {
  const paymentId = target.payment?.payment_id;
  if (!paymentId) return needs(box, "Check out in the shop first (Pay now): this attack aims at your own payment.");
  const listed = await fetch("/bank/app/api/approvals", {credentials: "same-origin", redirect: "manual"});
  if (!listed.ok) {
    return needs(box, "Open this page on your phone, in the browser where your bank app is logged in: the thief has your phone, not your PIN.");
  }
  // Only your own newest payment, and only in the bank app logged in here (yours: it is on your phone).
  if (!((await listed.json()).approvals || []).some((approval) => approval.id === paymentId)) {
    return needs(box, "Your newest payment is not waiting in the bank app logged in here. Check out again and leave the payment waiting.");
  }
  const home = new DOMParser().parseFromString(await (await fetch("/bank/app/", {credentials: "same-origin"})).text(), "text/html");
  const token = home.querySelector('meta[name="csrf-token"]')?.content || "";
  const tries = [];
  let state = {status: "pending"};
  for (const pin of PIN_GUESSES) {
    await fetch(`/bank/app/approvals/${paymentId}/approve`, {method: "POST", credentials: "same-origin", redirect: "manual",
                                                               body: new URLSearchParams({csrf_token: token, pin})});
    // What the approval screen then says (reading it also clears the message from the bank app).
    const page = new DOMParser().parseFromString(await (await fetch(`/bank/app/approvals/${paymentId}`, {credentials: "same-origin"})).text(), "text/html");
    const said = [...page.querySelectorAll("main > p.notice")].map((node) => node.textContent.trim()).join(" ");
    state = await approvalStatus(paymentId) || state;
    tries.push({pin, said, status: state.status});
    if (state.status !== "pending" || /registered devices/.test(said)) break;
  }
  const list = element("ol", {class: "attempts"}, ...tries.map((t) => element("li", {"data-testid": "attempt"},
    `PIN ${t.pin} `, element("code", {}, `POST /bank/app/approvals/…/approve`), element("span", {class: "hint"}, ` ${t.said}`))));
  const locked = state.status === "declined" && state.decline_reason === "card_blocked";
  if (locked) {
    box.replaceChildren(element("p", {class: "verdict held", "data-testid": "verdict"},
      `✓ The defence held. After ${tries.length} wrong PINs the card locked and the bank declined the payment: a thief gets 5 of 10,000 chances, whatever their speed.`),
      list, element("p", {class: "order-check", "data-testid": "unlock"},
        "The card stays locked for every PIN, right or wrong, until the bank unlocks it. You are the bank: on the computer running PayLab, ",
        element("code", {}, "make unlock-card CUSTOMER=<your bank username>"), " (in a class, ask your instructor). Then check out again."));
  } else if (state.status === "approved") {
    box.replaceChildren(element("p", {class: "verdict broke", "data-testid": "verdict"},
      "✗ A guess was right: your PIN is one of the commonest, so a thief with your phone paid. Choose a PIN nobody would guess first."), list);
  } else {
    needs(box, tries.some((t) => /registered devices/.test(t.said))
      ? "This browser is not one of your registered devices, so the bank checked no PIN at all. Run this attack on your phone."
      : `The payment is ${state.status}, not locked: ${tries.at(-1)?.said || "the bank did not say why"}`);
    box.append(list);
  }
  box.append(element("p", {}, element("a", {href: "/walkthrough/", target: "_blank", rel: "noopener"}, "See the refused PINs in the walkthrough")));
}

// Attack 8 runs here too, in the laptop's browser: Pay now pressed twice at once, with the review page's own
// form (its anti-forgery token and this checkout's payment token) and the card number the learner types.
// The card number goes from this browser to the shop only, as the review page would send it.
async function doubleClickPayNow(card, box) {
  const review = await fetch("/shop/checkout/review", {credentials: "same-origin"});
  if (!review.ok || !new URL(review.url).pathname.endsWith("/shop/checkout/review")) {
    return needs(box, "Fill your cart in the shop and go on to the review page (step 3, the one with Pay now), then come back and try it.");
  }
  const form = new DOMParser().parseFromString(await review.text(), "text/html").querySelector('form[action$="/checkout/pay"]');
  const field = (name) => form?.querySelector(`[name="${name}"]`)?.value || "";
  const body = new URLSearchParams({csrf_token: field("csrf_token"), payment_token: field("payment_token"),
                                    card_number: card.querySelector('[data-input="card_number"]').value});
  const press = () => fetch("/shop/checkout/pay", {method: "POST", credentials: "same-origin", body});
  const answers = await Promise.all([press(), press()]);  // two presses, neither waiting for the other
  const orders = answers.map((answer) => (new URL(answer.url).pathname.match(/\/shop\/orders\/(\d+)$/) || [])[1] || null);
  // The walkthrough records on a thread of its own: wait a moment for it to file this order's payment request.
  for (let wait = 0; wait < 20; wait += 1) {
    await loadTarget();
    if (orders[0] && target.payment?.order_id === Number(orders[0])) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const created = target.payment?.payment_requests_for_the_order || [];
  const list = element("ol", {class: "attempts"}, ...answers.map((answer, i) => element("li", {"data-testid": "attempt"},
    `Press ${i + 1}: `, element("code", {}, "POST /shop/checkout/pay"),
    element("span", {class: "hint"}, orders[i] ? ` → your order #${orders[i]}` : ` → ${new URL(answer.url).pathname} (${answer.status})`))));
  if (orders[0] && orders[0] === orders[1] && created.length === 1 && target.payment.order_id === Number(orders[0])) {
    box.replaceChildren(element("p", {class: "verdict held", "data-testid": "verdict"},
      `✓ The defence held. Two presses, one order (#${orders[0]}) and one payment request at the bank (${created[0]}): the checkout's one token is the order's key and the bank's Idempotency-Key, so a replay gets the same answer, never a second charge.`), list);
  } else if (!orders[0] && !orders[1]) {
    needs(box, "The shop did not take the payment: check the card number (the review page would say why), then try again from the review page.");
    box.append(list);
  } else {
    box.replaceChildren(element("p", {class: "verdict broke", "data-testid": "verdict"},
      `✗ Two presses made orders ${orders.join(" and ")} and ${created.length} payment request(s). Look at it in the walkthrough.`), list);
  }
  box.append(element("p", {}, element("a", {href: "/walkthrough/", target: "_blank", rel: "noopener"}, "See both presses in the walkthrough")));
}

async function runAttack(card) {
  const button = card.querySelector("[data-run]");
  const box = card.querySelector("[data-result]");
  button.disabled = true;
  box.replaceChildren(element("p", {class: "hint"}, "Attacking…"));
  try {
    if (card.dataset.runsIn === "phone") return await guessThePin(box);
    if (card.dataset.runsIn === "laptop") return await doubleClickPayNow(card, box);
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
