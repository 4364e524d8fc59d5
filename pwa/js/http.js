// The bank app's JSON calls: the page's CSRF token goes in X-CSRFToken (its forms carry it in a field).

export function csrfHeaders() {
  const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
  return {"Content-Type": "application/json", "X-CSRFToken": token};
}
