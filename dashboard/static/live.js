// The live transcript: new lines appear as they arrive (polls every 2 seconds), rendered by the
// server with the page's own template, so a line added live looks like one loaded with the page.
(function () {
  "use strict";
  var list = document.getElementById("transcript");
  if (!list) return;
  var sender = list.dataset.sender;
  var last = Number(list.dataset.last || 0);

  function localTimes(root) {
    root.querySelectorAll("time.local").forEach(function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (!isNaN(moment)) {
        node.textContent = moment.toLocaleString(document.documentElement.lang || [], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
        node.title = moment.toLocaleString(document.documentElement.lang || [], { dateStyle: "full", timeStyle: "long" });
      }
    });
  }

  function poll() {
    fetch("/conversations/" + encodeURIComponent(sender) + "/events.json?after=" + last,
          { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { entries: [], html: [] }; })
      .then(function (data) {
        var empty = list.querySelector(".empty");
        data.entries.forEach(function (entry, index) {
          if (empty) { empty.remove(); empty = null; }
          var holder = document.createElement("ol");
          holder.innerHTML = data.html[index];
          var line = holder.firstElementChild;
          if (line) { localTimes(line); list.appendChild(line); }
          last = Math.max(last, entry.id);
        });
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .finally(function () { setTimeout(poll, 2000); });
  }
  localTimes(list);
  setTimeout(poll, 2000);
})();
