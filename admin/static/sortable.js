/* Sortable tables: click a header of table.sortable to sort by it (data-v on cells holds the value). */
(function () {
  "use strict";
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th, index) {
      th.tabIndex = 0;
      th.title = "点击排序";
      function sort() {
        var numeric = th.dataset.sort === "num";
        var descending = !th.classList.contains("sorted-desc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-desc", "sorted-asc"); });
        th.classList.add(descending ? "sorted-desc" : "sorted-asc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > index; });
        rows.sort(function (a, b) {
          var x = a.cells[index].dataset.v || "", y = b.cells[index].dataset.v || "";
          var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y, "zh-CN");
          return descending ? -order : order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") sort(); });
    });
  });
})();
