// The diagnostics screen: check each link of the chain from the bank to this phone.
import { startDiagnostics } from "../diagnostics.js";

window.paylabBankSocket = io("/bank");  // the same live connection the approvals list uses
startDiagnostics(document.getElementById("diagnostics"));
