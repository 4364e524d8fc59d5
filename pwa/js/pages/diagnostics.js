// The diagnostics screen: check each link of the chain from the bank to this phone.
import { startDiagnostics } from "../diagnostics.js";

// WebSocket first, polling only where a network refuses it (as the shop's order page: order-status.js).
window.paylabBankSocket = io("/bank", {transports: ["websocket", "polling"], tryAllTransports: true});  // the same live connection the approvals list uses
startDiagnostics(document.getElementById("diagnostics"));
