// A broadcast's progress: the bar and the counts follow it live (polls every second while it
// is scheduled or going out).
(function () {
  "use strict";
  var box = document.getElementById("progress-box");
  if (!box) return;
  var bar = document.getElementById("progress");
  // A broadcast's status (a code) in words of the page's language.
  var statuses = {
    draft: gettext("draft"), scheduled: gettext("scheduled"), sending: gettext("sending"),
    done: gettext("done"), cancelled: gettext("cancelled")
  };
  function show(data) {
    bar.max = Math.max(data.audience, 1);
    bar.value = data.done;
    bar.textContent = gettext("%(done)s of %(total)s", {done: data.done, total: data.audience});
    ["sent", "blocked", "failed", "queued", "cancelled"].forEach(function (name) {
      document.getElementById(name).textContent = data[name];
    });
    document.getElementById("status").textContent = statuses[data.status] || data.status;
    document.getElementById("audience-size").textContent = data.audience;
    return data.status === "scheduled" || data.status === "sending" || data.status === "draft";
  }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data && show(data)) setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
