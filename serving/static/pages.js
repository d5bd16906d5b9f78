// Fraværsradar team pages: progressive enhancement only; every form works without script.
document.addEventListener("DOMContentLoaded", () => {
  // After a decision is saved the list reloads at that row: put the keyboard focus back on the
  // row's decision, so a keyboard user continues where they were.
  const saved = document.querySelector("tr.just-saved select, tr.just-saved .saved");
  if (saved) {
    if (!saved.matches("select")) saved.setAttribute("tabindex", "-1");
    saved.focus({ preventScroll: false });
  }
});
