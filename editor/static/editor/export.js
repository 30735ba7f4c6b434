// The export menu posts the drawing as it is in the editor (saved or not): fill the hidden field on submit.
(function () {
  "use strict";
  const form = document.getElementById("export-form");
  if (!form) return;
  form.addEventListener("submit", () => {
    form.elements.document.value = JSON.stringify(window.FencelineEditor.doc());
  });
})();
