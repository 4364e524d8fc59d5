// Every bank app page: register the service worker (the app works without it; push and offline need
// it), and for a signed-in customer, keep this device's push subscription alive (keep-push.js).
import { keepPushOnOpen } from "../keep-push.js";
import { registerServiceWorker } from "../push.js";

registerServiceWorker()
  .catch(() => null)
  .then(() => { if (document.body.hasAttribute("data-signed-in")) keepPushOnOpen(); });
