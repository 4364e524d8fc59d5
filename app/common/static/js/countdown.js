// The time left until an ISO 8601 deadline, as m:ss: the shop's order page and the bank app's
// approval screen count down the same payment, so they share one function (served at /static/common/).

export function showTimeLeft(el) {
  const expiresAt = Date.parse(el?.dataset.expiresAt || "");
  if (Number.isNaN(expiresAt)) return;
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
}
