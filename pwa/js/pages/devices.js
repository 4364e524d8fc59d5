// The devices screen: register this browser, enable notifications, set up a passkey.
import { startDevicesScreen } from "../devices.js";

startDevicesScreen(document.getElementById("devices"));
