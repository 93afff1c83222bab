// Tessera's only script: the WebAuthn ceremonies behind the passkey buttons.
// A button with data-passkey="get" (sign in) or "create" (register) posts its form's
// fields to data-options, hands the options to the browser's authenticator, posts the
// result as `credential` to data-finish, then follows the `location` it is given.
(function () {
  "use strict";
  function bytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  }
  function text(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.error || "failed");
        return j;
      });
    });
  }
  async function run(button) {
    var form = button.closest("form");
    var status = form.querySelector(".passkey-status");
    var fields = {};
    new FormData(form).forEach(function (v, k) { fields[k] = v; });
    try {
      var options = (await post(button.dataset.options, fields)).publicKey;
      options.challenge = bytes(options.challenge);
      var cred;
      if (button.dataset.passkey === "create") {
        options.user.id = bytes(options.user.id);
        (options.excludeCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
        var c = await navigator.credentials.create({ publicKey: options });
        cred = {
          id: c.id, rawId: text(c.rawId), type: c.type,
          extensions: c.getClientExtensionResults(),
          response: {
            attestationObject: text(c.response.attestationObject),
            clientDataJSON: text(c.response.clientDataJSON)
          }
        };
      } else {
        (options.allowCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
        var a = await navigator.credentials.get({ publicKey: options });
        cred = {
          id: a.id, rawId: text(a.rawId), type: a.type,
          extensions: a.getClientExtensionResults(),
          response: {
            authenticatorData: text(a.response.authenticatorData),
            clientDataJSON: text(a.response.clientDataJSON),
            signature: text(a.response.signature),
            userHandle: a.response.userHandle ? text(a.response.userHandle) : null
          }
        };
      }
      fields.credential = JSON.stringify(cred);
      var done = await post(button.dataset.finish, fields);
      window.location.assign(done.location);
    } catch (e) {
      if (status) status.textContent = "The passkey could not be used. Please try again.";
    }
  }
  document.querySelectorAll("[data-passkey]").forEach(function (button) {
    button.addEventListener("click", function () { run(button); });
  });
})();
