// The devices screen: enable notifications here, send a test, remove old phones.
import {enableNotifications, isIos, isStandalone, pushSupport, removeDevice, sendTestNotification} from "./push.js";

function say(status, text, isError = false) {
  status.textContent = text;
  status.className = isError ? "notice notice-error" : "notice";
  status.hidden = false;
}

export function startDevicesScreen(root) {
  const status = root.querySelector("[data-status]");
  if (isIos() && !isStandalone()) root.querySelector("[data-ios-install]").hidden = false;
  if (!pushSupport().pushManager && !isIos()) {
    say(status, "This browser cannot receive push messages. Try Chrome, Edge, Firefox or Safari.", true);
  }
  root.querySelector("[data-enable]").addEventListener("click", async () => {
    try {
      await enableNotifications();
      say(status, "Notifications are on for this device.");
      setTimeout(() => location.reload(), 600);
    } catch (err) {
      say(status, err.message, true);
    }
  });
  root.querySelector("[data-test]").addEventListener("click", async () => {
    try {
      const {queued} = await sendTestNotification();
      say(status, `Test sent to ${queued} device${queued === 1 ? "" : "s"}. It should arrive in a few seconds.`);
    } catch (err) {
      say(status, err.message, true);
    }
  });
  root.querySelectorAll("[data-remove]").forEach((button) => button.addEventListener("click", async () => {
    try {
      await removeDevice(button.dataset.remove);
      button.closest("li").remove();
    } catch (err) {
      say(status, err.message, true);
    }
  }));
}
