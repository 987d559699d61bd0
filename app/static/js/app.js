// 落实 Luoshi — small progressive enhancements; every page works without this file.
"use strict";

// Progress form: "再添加一项成果" copies the last outcome row with the next number.
document.addEventListener("DOMContentLoaded", () => {
  for (const fieldset of document.querySelectorAll("fieldset.outcomes")) {
    const button = fieldset.querySelector(".add-outcome");
    if (!button) continue;
    button.hidden = false;
    button.addEventListener("click", () => {
      const rows = fieldset.querySelectorAll(".outcome-row");
      const last = rows[rows.length - 1];
      const next = Number(last.dataset.row) + 1;
      if (next >= 100) return;
      const copy = last.cloneNode(true);
      copy.dataset.row = String(next);
      for (const element of copy.querySelectorAll("[id], [for], [name]")) {
        for (const attribute of ["id", "for", "name"]) {
          const value = element.getAttribute(attribute);
          if (value) element.setAttribute(attribute, value.replace(/-\d+$/, `-${next}`));
        }
        if (element.tagName === "LABEL") element.textContent = element.textContent.replace(/\d+$/, String(next + 1));
        if (element.tagName === "INPUT") element.value = "";
      }
      last.after(copy);
      copy.querySelector("input").focus();
    });
  }
});
