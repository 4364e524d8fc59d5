// The devices screen: enable notifications here, send a test, remove old phones.
import {passkeysSupported, setUpPasskey} from "./passkey.js";
import {enableNotifications, isIos, isStandalone, pushSupport, registerThisDevice, removeDevice,
        sendTestNotification} from "./push.js";

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
  const pinField = root.querySelector("[data-pin]");
  // Spaces typed by mistake are no PIN: sent as "", the bank answers "Enter your PIN." and counts no try.
  const pin = () => (pinField?.value || "").trim();
  const done = (text) => { say(status, text); setTimeout(() => location.reload(), 600); };
  const refused = (text) => {
    say(status, text, true);
    if (pinField && !pin()) pinField.focus(); // the PIN is what is missing: the cursor goes there
  };
  root.querySelector("[data-register]")?.addEventListener("click", async () => {
    try {
      await registerThisDevice(pin());
      done("This phone is now one of your devices: it can approve payments.");
    } catch (err) {
      refused(err.message);
    }
  });
  const passkeyButton = root.querySelector("[data-passkey]");
  if (passkeyButton && !passkeysSupported()) passkeyButton.disabled = true;
  passkeyButton?.addEventListener("click", async () => {
    try {
      await setUpPasskey(pin());
      done("Fingerprint or face is set up: you can approve with it now.");
    } catch (err) {
      refused(err.name === "NotAllowedError" ? "The fingerprint was not confirmed. Try again." : err.message);
    }
  });
  root.querySelector("[data-enable]").addEventListener("click", async () => {
    try {
      await enableNotifications(pin());
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
  // The buttons come disabled: a tap before this script ran would do nothing at all (a slow phone).
  root.querySelectorAll("[data-needs-script]").forEach((button) => {
    if (button !== passkeyButton || passkeysSupported()) button.disabled = false;
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
