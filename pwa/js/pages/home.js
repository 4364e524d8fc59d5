// The home screen: the list of payments waiting for approval, kept live.
import { startApprovalList } from "../approvals.js";

startApprovalList(document.getElementById("approvals"));
