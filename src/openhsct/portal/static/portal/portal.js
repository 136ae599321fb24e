// Every table that may scroll sideways on a narrow screen sits in a labelled region a keyboard can reach
// (templates mark theirs with class "table-wrap"; a table without one is wrapped here). The label is the
// table's caption.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("main table").forEach(function (table) {
    if (table.closest(".table-wrap")) { return; }
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    table.parentNode.insertBefore(wrap, table);
    wrap.appendChild(table);
  });
  var used = {};
  document.querySelectorAll("[role=region][aria-label]").forEach(function (r) { used[r.getAttribute("aria-label")] = 1; });
  document.querySelectorAll(".table-wrap").forEach(function (wrap) {
    if (!wrap.hasAttribute("tabindex")) { wrap.setAttribute("tabindex", "0"); }
    if (!wrap.hasAttribute("role")) { wrap.setAttribute("role", "region"); }
    if (!wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
      var caption = wrap.querySelector("caption");
      var name = (caption ? caption.textContent.trim().replace(/\s+/g, " ") : "Table") +
        " (scrolls sideways when wider than the screen)";
      // two tables with the same caption get regions told apart by number
      for (var k = 2; used[name]; k++) { name = name.replace(/( \(table \d+\))?$/, " (table " + k + ")"); }
      used[name] = 1;
      wrap.setAttribute("aria-label", name);
    }
  });
});
