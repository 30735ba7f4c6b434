// The export menu posts the drawing as it is in the editor (saved or not): fill the hidden field on submit,
// and close the menu, as choosing from any menu does (a download leaves the page where it is).
(function () {
  "use strict";
  const form = document.getElementById("export-form");
  if (!form) return;
  form.addEventListener("submit", () => {
    form.elements.document.value = JSON.stringify(window.FencelineEditor.doc());
    document.getElementById("export-menu").open = false;
  });
})();
