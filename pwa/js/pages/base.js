// Every bank app page: register the service worker. The app works without it; push and offline need it.
import { registerServiceWorker } from "../push.js";

registerServiceWorker().catch(() => {});
