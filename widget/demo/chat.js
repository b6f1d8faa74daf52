// Minimal chat widget for the demo page: Rasa's REST channel, text only.
// Everything shown is set with textContent, never as HTML.
(function () {
  "use strict";
  var config = window.PARLEY_CONFIG || {};
  var server = (config.serverUrl || "http://127.0.0.1:5005").replace(/\/$/, "");
  var log = document.getElementById("parley-log");
  var form = document.getElementById("parley-form");
  var input = document.getElementById("parley-input");

  var senderId = localStorage.getItem("parley-sender");
  if (!senderId) {
    senderId = "web-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
    localStorage.setItem("parley-sender", senderId);
  }

  function show(text, who, sources) {
    var item = document.createElement("li");
    item.className = who === "user" ? "from-user" : "from-bot";
    if (who === "bot") {
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = "AI assistant";
      item.appendChild(label);
    }
    item.appendChild(document.createTextNode(text));
    (sources || []).forEach(function (source) {
      if (!/^https?:\/\//.test(source.url || "")) return;
      var link = document.createElement("a");
      link.href = source.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = source.title || source.url;
      var wrap = document.createElement("span");
      wrap.className = "sources";
      wrap.appendChild(link);
      item.appendChild(wrap);
    });
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function send(message, shown) {
    if (shown) show(shown, "user");
    return fetch(server + "/webhooks/rest/webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        sender: senderId,
        message: message,
        metadata: { page_url: location.href, locale: navigator.language },
      }),
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (replies) {
        var pending = null;
        replies.forEach(function (reply) {
          if (reply.text) {
            pending = { text: reply.text };
            show(reply.text, "bot");
          } else if (reply.custom && pending && log.lastChild) {
            log.removeChild(log.lastChild);
            show(pending.text, "bot", reply.custom.sources);
          }
        });
      })
      .catch(function () {
        show("Sorry, the chat is not reachable right now. Please try again in a moment.", "bot");
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text, text);
  });
  document.getElementById("parley-human").addEventListener("click", function () {
    send("/human_handoff", "Talk to a person");
  });
})();
