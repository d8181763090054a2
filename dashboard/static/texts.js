// The pages' scripts speak the reader's language: base.html hands over the translations of
// their texts (a JSON block, id "texts"); gettext("English text", {name: value}) returns the
// translation with its %(name)s places filled, or the English where there is none.
(function () {
  "use strict";
  var block = document.getElementById("texts");
  var texts = {};
  try { texts = block ? JSON.parse(block.textContent) : {}; } catch (error) { texts = {}; }
  window.gettext = function (text, values) {
    var result = Object.prototype.hasOwnProperty.call(texts, text) ? texts[text] : text;
    Object.keys(values || {}).forEach(function (name) {
      result = result.split("%(" + name + ")s").join(String(values[name]));
    });
    return result;
  };
})();
