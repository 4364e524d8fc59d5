// After a form comes back with errors, put the keyboard (and a screen reader's reading point) on the first
// thing to fix: the first field marked aria-invalid, or else the form's error message (role="alert").
// Without this, a keyboard user starts again at the top of the page and has to hunt for what went wrong.
(function () {
  const target = document.querySelector('main [aria-invalid="true"]') || document.querySelector('main [role="alert"]');
  if (!target) return;
  if (!target.matches('input, select, textarea, button, a[href], [tabindex]')) target.setAttribute('tabindex', '-1');
  target.focus();
})();
