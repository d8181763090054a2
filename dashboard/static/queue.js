// The live queue, on every page: every 5 seconds it asks /queue.json. The page's title and the
// Conversations link show how many requests need this coach (theirs, unassigned or urgent); a
// short tone (which the coach can turn off) says a new one came; on the conversations page the
// queue's rows are replaced as they change. Times are shown in the coach's own time zone, written
// the way of the page's language.
// (It also marks forms that take a while, on every page.)
(function () {
  "use strict";
  var EVERY = 5000;
  var title = document.title.replace(/^\(\d+\) /, "");
  var count = document.getElementById("queue-count");
  var rows = document.getElementById("queue-rows");
  var section = document.getElementById("queue");
  var toggle = document.getElementById("queue-sound");
  var known = null; // ids of the requests that needed this coach at the last look
  var audio = null;

  function soundOn() { return localStorage.getItem("queue-sound") !== "off"; }

  function showSound() {
    if (!toggle) return;
    toggle.textContent = soundOn() ? gettext("Sound on") : gettext("Sound off");
    toggle.setAttribute("aria-pressed", soundOn() ? "true" : "false");
  }

  function tone() {
    if (!soundOn()) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.4);
    } catch (error) { /* no sound here: the title still says it */ }
    document.documentElement.dataset.toned = String(Number(document.documentElement.dataset.toned || 0) + 1);
  }

  function localTimes(root) {
    root.querySelectorAll("time.local").forEach(function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (!isNaN(moment)) {
        node.textContent = moment.toLocaleString(document.documentElement.lang || [], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
      }
    });
  }

  function show(data) {
    var needs = data.needs_me.length;
    document.title = (needs ? "(" + needs + ") " : "") + title;
    if (count) {
      count.hidden = needs === 0;
      count.textContent = String(needs);
      count.setAttribute("aria-label", gettext("%(n)s waiting for you", {n: needs}));
    }
    if (rows && data.html !== rows.dataset.html) {
      rows.innerHTML = data.html;
      rows.dataset.html = data.html;
      localTimes(rows);
    }
    var fresh = data.needs_me.filter(function (id) { return known !== null && known.indexOf(id) < 0; });
    if (fresh.length) tone();
    known = data.needs_me;
  }

  function look() {
    var view = section ? section.dataset.view : "";
    fetch("/queue.json" + (view ? "?view=" + encodeURIComponent(view) : ""),
          { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) show(data); })
      .catch(function () { /* offline for a moment: look again next time */ })
      .finally(function () { setTimeout(look, EVERY); });
  }

  // A form that takes a while (data-busy="what it does…") says so, and is not sent twice.
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (!button) return;
      var note = document.createElement("span");
      note.className = "busy";
      note.setAttribute("aria-live", "polite");
      note.textContent = form.dataset.busy;
      button.after(note);
      setTimeout(function () { button.disabled = true; }, 0); // after the form's data is taken
    });
  });

  if (toggle) {
    toggle.addEventListener("click", function () {
      localStorage.setItem("queue-sound", soundOn() ? "off" : "on");
      showSound();
    });
  }
  showSound();
  if (rows) localTimes(rows);
  look();
})();
