// The live transcript: new messages appear as they arrive (polls every 2 seconds).
(function () {
  "use strict";
  var list = document.getElementById("transcript");
  if (!list) return;
  var sender = list.dataset.sender;
  var last = Number(list.dataset.last || 0);

  function line(entry) {
    var item = document.createElement("li");
    item.className = "entry " + entry.kind + (entry.by ? " coach" : "");
    item.dataset.id = entry.id;
    var time = document.createElement("time");
    time.textContent = entry.time.slice(0, 16).replace("T", " ");
    item.appendChild(time);
    var body = document.createElement("div");
    if (entry.kind === "user" || entry.kind === "bot") {
      body.className = "bubble";
      body.textContent = (entry.by ? entry.by + " (coach): " : "") + entry.text;
    } else {
      body.className = "action";
      body.textContent = entry.kind === "paused" ? "⏸ bot paused" :
        entry.kind === "resumed" ? "▶ bot resumed" : "⚙ " + entry.text;
    }
    item.appendChild(body);
    if (entry.kind === "user") {
      var nlu = document.createElement("div");
      nlu.className = "nlu";
      var parts = [entry.language || "?", entry.intent || "—"];
      if (entry.confidence !== null) parts[1] += " (" + entry.confidence.toFixed(2) + ")";
      entry.entities.forEach(function (pair) { parts.push(pair[0] + "=" + pair[1]); });
      nlu.textContent = parts.join(" · ");
      item.appendChild(nlu);
    }
    return item;
  }

  function poll() {
    fetch("/conversations/" + encodeURIComponent(sender) + "/events.json?after=" + last,
          { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { entries: [] }; })
      .then(function (data) {
        var empty = list.querySelector(".empty");
        data.entries.forEach(function (entry) {
          if (empty) { empty.remove(); empty = null; }
          list.appendChild(line(entry));
          last = Math.max(last, entry.id);
        });
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .finally(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
