// Saved replies in the reply box: "/" and the start of a shortcut, then Tab, puts the reply
// (filled in for this person) in place of what was typed; or choose one in the list under it.
(function () {
  "use strict";
  var box = document.getElementById("reply-text");
  var list = document.getElementById("saved-reply");
  if (!box || !list) return;
  var options = Array.prototype.slice.call(list.options, 1);

  function insert(text, from, to) {
    box.value = box.value.slice(0, from) + text + box.value.slice(to);
    var end = from + text.length;
    box.setSelectionRange(end, end);
    box.focus();
  }

  // The "/word" just before the cursor, at the start of the box or after a space or a new line.
  function typedShortcut() {
    var before = box.value.slice(0, box.selectionStart);
    var found = /(^|\s)\/([a-z0-9_-]*)$/i.exec(before);
    if (!found) return null;
    return { word: found[2].toLowerCase(), from: before.length - found[2].length - 1 };
  }

  box.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || event.shiftKey) return;
    var typed = typedShortcut();
    if (!typed) return;
    var match = options.filter(function (option) {
      return option.dataset.shortcut.indexOf(typed.word) === 0;
    })[0]; // the person's language comes first in the list
    if (!match) return;
    event.preventDefault();
    insert(match.value, typed.from, box.selectionStart);
  });

  list.addEventListener("change", function () {
    if (!list.value) return;
    insert(list.value, box.selectionStart, box.selectionEnd);
    list.value = "";
  });
})();
