/* The consent block (/my, the case page, /my/subscribe): configure WeChat's JS-SDK with
   the server's signed wx.config, so that the wx-open-subscribe tag shows its button; tell
   the citizen what they chose. The choice itself reaches the bot as a
   subscribe_msg_popup_event, not through this page. */
(function () {
  "use strict";
  var box = document.getElementById("subscribe");
  if (!box || typeof window.wx === "undefined") return;
  window.wx.config(JSON.parse(box.dataset.wxConfig));
  var result = document.getElementById("subscribe-result");
  var button = document.getElementById("subscribe-btn");
  button.addEventListener("success", function (e) {
    var accepted = false;
    try {
      var details = JSON.parse(e.detail.subscribeDetails);
      Object.keys(details).forEach(function (id) {
        if (JSON.parse(details[id]).status === "accept") accepted = true;
      });
    } catch (_) { /* an unexpected shape: say nothing rather than something wrong */ }
    if (accepted) result.textContent = box.dataset.done;
  });
  button.addEventListener("error", function () {
    result.textContent = box.dataset.failed;
  });
})();
