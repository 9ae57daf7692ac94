// lockgate dashboard: live run pages over server-sent events, and clicks on the flow graph.
// No framework: an element with data-events listens to that event stream and, on each
// "update", fetches its data-refresh URL and swaps its content (open <details> stay open).
"use strict";

(function () {
  function refresh(box) {
    if (box.dataset.busy) {
      box.dataset.again = "1";
      return;
    }
    box.dataset.busy = "1";
    fetch(box.dataset.refresh, { headers: { "X-Requested-With": "lockgate" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var open = Array.prototype.map.call(box.querySelectorAll("details[open]"), function (d) {
          return d.id;
        });
        box.innerHTML = html;
        open.forEach(function (id) {
          var details = id && document.getElementById(id);
          if (details) details.open = true;
        });
      })
      .catch(function () {})
      .finally(function () {
        delete box.dataset.busy;
        if (box.dataset.again) {
          delete box.dataset.again;
          refresh(box);
        }
      });
  }

  function listen(box) {
    var source = new EventSource(box.dataset.events);
    box.dataset.listening = "yes";
    source.addEventListener("update", function () {
      refresh(box);
    });
    source.addEventListener("done", function () {
      source.close();
      box.dataset.listening = "done";
      refresh(box);
    });
  }

  document.querySelectorAll("[data-events]").forEach(listen);

  document.addEventListener("click", function (event) {
    var node = event.target.closest && event.target.closest("g.node[data-task]");
    if (!node) return;
    var slug = node.getAttribute("data-task");
    var children = node.hasAttribute("data-mapped") && document.getElementById("children-" + slug);
    if (children) {
      children.open = !children.open;
      children.scrollIntoView({ block: "nearest" });
      return;
    }
    var graph = node.closest("[data-task-url]");
    if (graph) window.location.href = graph.getAttribute("data-task-url") + encodeURIComponent(slug);
  });
})();
