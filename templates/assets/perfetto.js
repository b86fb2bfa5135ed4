// "Open in Perfetto": the hand-off documented at
// https://perfetto.dev/docs/visualization/deep-linking-to-perfetto-ui — open the UI,
// PING it until it answers PONG, then post the trace as an ArrayBuffer. Nothing is
// requested from any server until the reader clicks.
(function () {
  "use strict";
  var ORIGIN = "https://ui.perfetto.dev";

  function say(button, key) {
    var status = document.getElementById(button.getAttribute("data-status"));
    if (status) {
      status.textContent = button.getAttribute(key);
    }
  }

  function handOff(win, buffer, button) {
    var timer = setInterval(function () {
      win.postMessage("PING", ORIGIN);
    }, 50);
    window.addEventListener("message", function onMessage(event) {
      if (event.source !== win || event.data !== "PONG") {
        return;
      }
      clearInterval(timer);
      window.removeEventListener("message", onMessage);
      win.postMessage({
        perfetto: {
          buffer: buffer,
          title: button.getAttribute("data-title"),
          fileName: button.getAttribute("data-file-name")
        }
      }, ORIGIN);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-perfetto-trace]");
    if (!button) {
      return;
    }
    // Open the window inside the click, or pop-up blockers refuse it.
    var win = window.open(ORIGIN);
    if (!win) {
      say(button, "data-msg-blocked");
      return;
    }
    fetch(button.getAttribute("data-perfetto-trace"))
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.arrayBuffer();
      })
      .then(function (buffer) {
        handOff(win, buffer, button);
      })
      .catch(function () {
        win.close();
        say(button, "data-msg-fetch");
      });
  });
})();
