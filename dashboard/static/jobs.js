// Live progress of running studio jobs: polls each one every 2 seconds; reloads when it ends.
(function () {
  "use strict";
  document.querySelectorAll("#jobs tr[data-status='running']").forEach(function (row) {
    function poll() {
      fetch("/admin/jobs/" + row.dataset.job + ".json", { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (job) {
          row.querySelector(".stage").textContent = job.stage;
          var bar = row.querySelector("progress");
          if (bar) bar.value = job.progress;
          if (job.status !== "running") { window.location.reload(); return; }
          setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 4000); });
    }
    setTimeout(poll, 2000);
  });
})();
