// The order page: show the payment's status live; the server's first status comes in a JSON data block.
import { startOrderStatus } from "../order-status.js";

startOrderStatus(document.getElementById("order-status"), JSON.parse(document.getElementById("initial-status").textContent));
