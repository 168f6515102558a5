// Subscribes this browser to push notifications: registers the service worker, asks the
// push service for a subscription with Candor's public key, and sends it to Candor with
// the page's CSRF token. Everything else on the page works without JavaScript.
(function () {
  const button = document.getElementById("push-enable");
  const status = document.getElementById("push-status");
  if (!button) return;
  const say = (text) => { if (status) status.textContent = text; };
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    say(button.dataset.unsupported);
    button.disabled = true;
    return;
  }
  const key = (b64) => {
    const padded = (b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  const encode = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") { say(button.dataset.denied); button.disabled = false; return; }
      const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: key(button.dataset.key),
      });
      const body = new URLSearchParams({
        csrf: button.dataset.csrf,
        endpoint: subscription.endpoint,
        p256dh: encode(subscription.getKey("p256dh")),
        auth: encode(subscription.getKey("auth")),
        label: navigator.userAgent.slice(0, 100),
      });
      const action = button.dataset.action || "/portal/push";
      const res = await fetch(action, { method: "POST", body, credentials: "same-origin" });
      if (res.ok || res.redirected) { window.location.assign(action + "?notice=subscribed"); }
      else { say(button.dataset.failed); button.disabled = false; }
    } catch (e) {
      say(button.dataset.failed + " (" + e + ")");
      button.disabled = false;
    }
  });
})();
