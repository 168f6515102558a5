// Candor's service worker: shows push notifications and opens the portal on a click.
// It caches nothing: the portal is always read fresh from Candor.
self.addEventListener("push", (event) => {
  let note = {};
  try {
    note = event.data ? event.data.json() : {};
  } catch (e) {
    note = { title: "Candor", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(note.title || "Candor", {
      body: note.body || "",
      tag: note.tag || undefined,
      icon: "/static/icon.svg",
      data: { url: note.url || "/portal/health" },
    })
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/portal/health";
  event.waitUntil(self.clients.openWindow(url));
});
