// The walkthrough page: draw the journey's messages as a live sequence diagram.
import { startWalkthrough } from "../walkthrough.js";

startWalkthrough(document.getElementById("main"));
