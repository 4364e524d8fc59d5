// The approval screen: follow the request live, and approve with a passkey when one is set up.
import { watchApproval } from "../approvals.js";
import { approveWithPasskey } from "../passkey.js";

const section = document.getElementById("approval");
watchApproval(section);
const passkeyButton = section.querySelector("[data-passkey-approve]");
passkeyButton?.addEventListener("click", async () => {
  const error = section.querySelector("[data-passkey-error]");
  try {
    await approveWithPasskey(section.dataset.id);
    window.location.reload();
  } catch (err) {
    error.textContent = err.name === "NotAllowedError"
      ? "Your fingerprint or face was not confirmed, so nothing was approved. Try again, or use your PIN." : err.message;
    error.hidden = false;
  }
});
if (passkeyButton) passkeyButton.disabled = false; // disabled until now: a tap before this ran did nothing
