// The delivery step: the summary's delivery fee and total follow the chosen method.
// The server rendered the right ones for the method it checked, and put each method's own
// on its radio button (data-fee-text, data-total-text): no price is computed here.
const form = document.querySelector("[data-delivery-form]");
const fee = document.querySelector("[data-testid=delivery-fee]");
const total = document.querySelector("[data-testid=order-total]");

function showChosenMethod() {
  const chosen = form.querySelector("input[type=radio]:checked");
  if (!chosen) return;
  fee.textContent = chosen.dataset.feeText;
  total.textContent = chosen.dataset.totalText;
}

form.addEventListener("change", showChosenMethod);
// Back/forward may restore another choice than the one the server checked: show that one's total.
window.addEventListener("pageshow", showChosenMethod);
showChosenMethod();
