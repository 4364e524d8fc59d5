// The live sequence diagram: one lane per party, one arrow per message, drawn in SVG as messages arrive.
// Click an arrow for its real (redacted) JSON and headers. No library, no CDN.

const SVG = "http://www.w3.org/2000/svg";
const LANE_NAMES = {laptop: "Laptop browser", shop: "Shop server", idp: "Identity provider", bank: "Bank server",
                    push: "Push service", phone: "Phone", attacker: "Attacker"};
// Lanes drawn only on a journey that has their arrows (the attack lab's, at the left edge).
const OPTIONAL_LANES = ["attacker"];
const FACTOR_TEXT = {
  "knowledge:idp_password": ["knowledge", "Your PayLab ID password was checked before this code was issued: something you know."],
  "knowledge:pin": ["knowledge", "The PIN: something you know. Five wrong ones in a row lock the card."],
  "possession:device": ["possession", "Only a registered device of yours can approve: something you have. A stolen password is not enough."],
  "possession:passkey": ["possession", "The passkey's private key never leaves your phone: something you have."],
  "inherence:fingerprint": ["inherence", "Your fingerprint or face unlocked the passkey: something you are."],
  "possession:push_subscription": ["possession", "The push can only reach the phone that holds this subscription's private key."],
};
// The diagram fits its panel (a laptop at 1366 px needs no sideways scroll): lanes spread over the width
// there is, never closer than MIN_GAP (a phone then scrolls the diagram inside its own box).
const MAX_GAP = 150, MIN_GAP = 104, TOP = 56, ROW = 50, LEFT = 64, CHAR_PX = 6.4, BADGE_W = 74;

function spokenDescription(message) {
  // What a screen reader adds to an arrow's name (its visible label and badges): who talks to whom.
  const lane = (name) => LANE_NAMES[name] || name;
  return `${lane(message.from)} to ${lane(message.to)}`;
}

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

export function createDiagram(container, everyDiagramsLanes, onSelect) {
  // Messages are kept in time order (a request is placed when it started), and the SVG is redrawn
  // from them, so an answer that arrives late still lands under the request that caused it.
  const lanes = [...everyDiagramsLanes];
  let gap = MAX_GAP, width = 0;
  const x = (lane) => LEFT + lanes.indexOf(lane) * gap;
  const messages = [];
  let selectedId = null;
  const arrows = [];

  function draw(freshId) {
    const available = container.clientWidth || MAX_GAP * lanes.length;
    gap = Math.max(MIN_GAP, Math.min(MAX_GAP, (available - LEFT * 2) / (lanes.length - 1)));
    width = Math.round(LEFT * 2 + (lanes.length - 1) * gap);
    const height = TOP + messages.length * ROW + 10;
    // A group, not an img: an img's children are presentational, and the arrows inside are buttons.
    const svg = el("svg", {width, height, role: "group", "aria-label": "Sequence diagram of this checkout"});
    const defs = el("defs");
    const marker = el("marker", {id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 14, markerHeight: 14,
                                markerUnits: "userSpaceOnUse", orient: "auto-start-reverse"});  // same head on a bold (selected) line
    marker.append(el("path", {d: "M0,0 L10,5 L0,10 z", fill: "currentColor"}));
    defs.append(marker);
    svg.append(defs);
    lanes.forEach((lane) => {
      svg.append(el("text", {x: x(lane), y: 22, "text-anchor": "middle", class: `lane-title lane-${lane}`}, LANE_NAMES[lane] || lane));
      svg.append(el("line", {x1: x(lane), y1: 34, x2: x(lane), y2: height, class: "lane-line"}));
    });
    arrows.length = 0;
    messages.forEach((message, row) => arrows.push({group: drawArrow(svg, message, row, message.id === freshId), message}));
    container.replaceChildren(svg);
    fitLaneTitles(svg);
    fitLabels(svg);
  }

  function fitLaneTitles(svg) {
    // Lanes close together (a phone): a title wider than its lane breaks onto two lines, "Identity / provider".
    for (const title of svg.querySelectorAll(".lane-title")) {
      const words = title.textContent.split(" ");
      if (title.getComputedTextLength() <= gap - 8 || words.length < 2) continue;
      const centre = title.getAttribute("x");
      const half = Math.ceil(words.length / 2);
      title.replaceChildren(el("tspan", {x: centre, y: 14}, words.slice(0, half).join(" ")),
                            el("tspan", {x: centre, y: 29}, words.slice(half).join(" ")));
    }
  }

  function fitLabels(svg) {
    // Measured once drawn (fonts differ): move each label inside the diagram, and shorten one that is
    // wider than the diagram itself (its whole text stays in a tooltip and in the payload panel).
    for (const text of svg.querySelectorAll(".label")) {
      const full = text.textContent;
      while (text.getComputedTextLength() > width - 8 && text.textContent.length > 8) {
        text.textContent = `${text.textContent.slice(0, -2)}…`;
      }
      if (text.textContent !== full) text.append(el("title", {}, full));
      const half = text.getComputedTextLength() / 2;
      const centre = Number(text.getAttribute("x"));
      text.setAttribute("x", Math.min(Math.max(centre, 4 + half), width - 4 - half));
    }
  }

  function drawArrow(svg, message, row, fresh) {
    const y = TOP + row * ROW + 18;
    const refusal = message.refusal;
    const group = el("g", {class: `arrow kind-${message.kind} step-${message.step}${refusal ? " refused" : ""}${fresh ? " new" : ""}${message.id === selectedId ? " selected" : ""}`,
                           tabindex: 0, role: "button", "data-step": message.step, "data-testid": "arrow",
                           "data-refused": refusal ? "true" : "false"});
    // Its name is its visible text (label and factor badges); the lanes it joins are its description.
    group.append(el("desc", {}, spokenDescription(message)));
    const from = x(message.from), to = x(message.to);
    if (from === to) {
      group.append(el("path", {d: `M${from},${y - 8} h34 v16 h-34`, class: "line", "marker-end": "url(#arrowhead)"}));
    } else {
      group.append(el("line", {x1: from, y1: y, x2: to + (to > from ? -4 : 4), y2: y, class: "line", "marker-end": "url(#arrowhead)"}));
    }
    // A refused step says so in words, not only in colour: "✗ refused".
    const label = `${refusal ? "✗ refused: " : ""}${message.label}${message.status ? ` → ${message.status}` : ""}${message.duration_ms ? ` · ${Math.round(message.duration_ms)} ms` : ""}`;
    // The label sits over its arrow (fitLabels keeps it inside the diagram once it can be measured).
    const centre = from === to ? from + 40 + (label.length * CHAR_PX) / 2 : (from + to) / 2;
    group.append(el("text", {x: centre, y: y - 6, "text-anchor": "middle", class: "label"}, label));
    // Factor badges go under the arrow, from its left end, kept inside the diagram.
    const badgesWidth = (message.factors || []).length * (BADGE_W + 6);
    let badgeX = Math.max(4, Math.min(Math.min(from, to) + 4, width - 4 - badgesWidth));
    const badgeY = y + 15;
    for (const factor of message.factors || []) {
      const [kind] = FACTOR_TEXT[factor] || [factor.split(":")[0]];
      const failed = refusal && refusal.factor === factor;
      const badge = el("g", {class: `factor ${kind}${failed ? " failed" : ""}`, "data-testid": "factor-badge",
                             "data-factor": factor, "data-failed": failed ? "true" : "false"});
      badge.append(el("rect", {x: badgeX, y: badgeY - 9, width: BADGE_W, height: 18, rx: 9}));
      badge.append(el("text", {x: badgeX + BADGE_W / 2, y: badgeY + 4, "text-anchor": "middle"}, failed ? `✗ ${kind}` : kind));
      if (failed) badge.append(el("title", {}, `${kind} failed: ${refusal.reason}`));
      group.append(badge);
      badgeX += BADGE_W + 6;
    }
    group.addEventListener("click", () => select(message, true));
    group.addEventListener("keydown", (event) => {  // a button opens on Enter and on Space
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();  // Space would otherwise scroll the page
        select(message, true);
      }
    });
    svg.append(group);
    return group;
  }

  function select(message, byArrow = false) {
    selectedId = message.id;
    arrows.forEach((a) => a.group.classList.toggle("selected", a.message.id === message.id));
    onSelect(message, byArrow);
  }

  function add(message, animate = true) {
    for (const lane of [message.from, message.to]) {
      if (!lanes.includes(lane) && OPTIONAL_LANES.includes(lane)) lanes.unshift(lane);
    }
    messages.push(message);
    messages.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id - b.id));
    draw(animate ? message.id : null);
  }

  function point(step) {
    // The shop caches its bank token: a later checkout shows it on its API calls instead of a token call.
    const found = arrows.find((a) => a.message.step === step) ||
      (step === "bank_token" ? arrows.find((a) => a.message.details?.bearer_token) : undefined);
    if (found) {
      select(found.message);
      found.group.scrollIntoView({block: "center", behavior: "smooth"});
    }
    return Boolean(found);
  }

  draw(null);
  let lastWidth = container.clientWidth;
  new ResizeObserver(() => {  // a rotated phone or a resized window: spread the lanes again
    if (container.clientWidth !== lastWidth) {
      lastWidth = container.clientWidth;
      draw(null);
    }
  }).observe(container);
  return {add, point, arrows};
}

function showPayload(root, message) {
  const panel = root.querySelector("[data-payload]");
  panel.hidden = false;
  root.querySelector("[data-payload-title]").textContent =
    `${message.from} → ${message.to}: ${message.label}${message.status ? ` (${message.status})` : ""}`;
  const refusal = message.refusal;
  const notes = (message.factors || []).map((factor) => {
    const [kind, sentence] = FACTOR_TEXT[factor] || [factor, factor];
    const p = document.createElement("span");
    const failed = refusal && refusal.factor === factor;
    p.className = `factor-note ${kind}${failed ? " failed" : ""}`;
    p.textContent = failed ? `✗ ${kind} failed: ${refusal.reason}` : `${kind}: ${sentence}`;
    return p;
  });
  const attack = message.details?.attack;
  if (attack) {
    const p = document.createElement("span");
    p.className = "attack-note";
    p.dataset.testid = "attack-note";
    p.textContent = `Attack lab, "${attack.name}": ${attack.tried}`;
    notes.push(p);
  }
  if (refusal) {
    const p = document.createElement("strong");
    p.className = "refusal-note";
    p.dataset.testid = "refusal";
    p.textContent = `✗ Refused: ${refusal.reason}`;
    notes.unshift(p);
  }
  const token = message.details?.bearer_token;
  if (token) {
    const p = document.createElement("span");
    p.className = "token-note";
    p.dataset.testid = "token-story";
    p.append(`The shop proves itself with a bearer token (shown redacted in the Authorization header), issued in ${token.issued_in} at ${token.issued_at}, valid until ${token.expires_at}. `);
    if (token.issued_in_journey && token.issued_in_journey !== message.journey_id) {
      const link = document.createElement("a");
      link.href = `/walkthrough/${token.issued_in_journey}`;
      link.textContent = "See the token being issued";
      p.append(link);
    }
    notes.push(p);
  }
  root.querySelector("[data-payload-factors]").replaceChildren(...notes);
  root.querySelector("[data-payload-body]").textContent = JSON.stringify(message.details, null, 2);
}

function revealPayload(root) {
  // On a phone the panel is under the whole diagram: bring it up, or a tap on an arrow seems to do nothing.
  const panel = root.querySelector("[data-payload]");
  if (panel.getBoundingClientRect().top >= window.innerHeight) panel.scrollIntoView({block: "start"});
}

function showLedger(root, message) {
  if (message.step !== "ledger" || !message.details.entries) return;
  const body = root.querySelector("[data-ledger] tbody");
  body.replaceChildren(...message.details.entries.map((entry) => {
    const tr = document.createElement("tr");
    const amount = (entry.amount / 100).toFixed(2);
    tr.innerHTML = "<td></td><td class='num'></td>";
    tr.children[0].textContent = `${entry.account} (${entry.account_number})`;
    tr.children[1].textContent = `${entry.amount < 0 ? "−" : "+"}R ${Math.abs(amount).toFixed(2)}`;
    return tr;
  }));
}

export async function startWalkthrough(root) {
  const lanes = JSON.parse(root.dataset.lanes);
  let journey = root.dataset.journey;
  const onSelect = (message, byArrow) => {
    showPayload(root, message);
    if (byArrow) revealPayload(root);
  };
  let diagram = createDiagram(root.querySelector("[data-diagram]"), lanes, onSelect);
  const seen = new Set();

  function add(message, animate) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    root.querySelector("[data-empty]").hidden = true;
    diagram.add(message, animate);
    showLedger(root, message);
  }

  async function load(id, animate = false) {
    const response = await fetch(`/walkthrough/api/journeys/${id}`, {headers: {Accept: "application/json"}});
    if (!response.ok) return [];
    const {messages} = await response.json();
    return messages;
  }

  if (journey) (await load(journey)).forEach((m) => add(m, false));
  window.paylabWalkthrough = {diagram: () => diagram};

  root.querySelector("[data-journey-select]")?.addEventListener("change", (event) => {
    window.location.href = `/walkthrough/${event.target.value}`;
  });
  root.querySelector("[data-replay]").addEventListener("click", async () => {
    const messages = await load(journey);
    diagram = createDiagram(root.querySelector("[data-diagram]"), lanes, onSelect);
    seen.clear();
    messages.forEach((message, i) => setTimeout(() => add(message, true), i * 450));
  });
  root.querySelectorAll("[data-point]").forEach((button) => button.addEventListener("click", () => {
    if (!diagram.point(button.dataset.point)) button.textContent = "Not in this journey yet";
  }));

  if (typeof io !== "function") return;
  // WebSocket first, polling only where a network refuses it (as the shop's order page: order-status.js).
  const socket = io("/walkthrough", {transports: ["websocket", "polling"], tryAllTransports: true});
  window.paylabWalkthroughSocket = socket;
  function follow(id) {
    journey = id;
    root.dataset.journey = journey;
    diagram = createDiagram(root.querySelector("[data-diagram]"), lanes, onSelect);
    seen.clear();
    load(journey).then((messages) => messages.forEach((m) => add(m, true)));
  }
  socket.on("message", (message) => {
    if (root.dataset.live === "true" && message.journey_id !== journey) {
      follow(message.journey_id); // a new checkout started: follow it
      return;
    }
    if (message.journey_id === journey) add(message, true);
  });
  // Messages are recorded off the request's path: what was stored between this page's load and the
  // socket joining its room (or while it was away) was never sent to it. Catch up on every connect.
  socket.on("connect", async () => {
    if (root.dataset.live !== "true") {
      if (journey) (await load(journey)).forEach((m) => add(m, true));
      return;
    }
    const response = await fetch("/walkthrough/api/journeys", {headers: {Accept: "application/json"}});
    if (!response.ok) return;
    const [latest] = (await response.json()).journeys;
    if (!latest) return;
    if (latest.id !== journey) follow(latest.id);
    else (await load(journey)).forEach((m) => add(m, true));
  });
}
