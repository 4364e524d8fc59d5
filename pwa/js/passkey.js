// Fingerprint or face (WebAuthn): set one up, approve with it. The bank checks every answer.
import {csrfHeaders} from "./http.js";

function toBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function toBase64url(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}


async function postJson(url, body) {
  const response = await fetch(url, {method: "POST", headers: csrfHeaders(), body: JSON.stringify(body)});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || "The bank refused.");
  return data;
}

export function passkeysSupported() {
  return window.isSecureContext && "PublicKeyCredential" in window;
}

function creationOptions(json) {
  return {...json, challenge: toBytes(json.challenge), user: {...json.user, id: toBytes(json.user.id)},
          excludeCredentials: (json.excludeCredentials || []).map((c) => ({...c, id: toBytes(c.id)}))};
}

function requestOptions(json) {
  return {...json, challenge: toBytes(json.challenge),
          allowCredentials: (json.allowCredentials || []).map((c) => ({...c, id: toBytes(c.id)}))};
}

function credentialJson(credential) {
  const r = credential.response;
  const response = {clientDataJSON: toBase64url(r.clientDataJSON)};
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, response,
          clientExtensionResults: credential.getClientExtensionResults(),
          authenticatorAttachment: credential.authenticatorAttachment};
}

export async function setUpPasskey(pin) {
  const options = await postJson("/bank/app/api/passkeys/options", {pin});
  const credential = await navigator.credentials.create({publicKey: creationOptions(options)});
  return postJson("/bank/app/api/passkeys", {credential: credentialJson(credential), name: "Fingerprint or face"});
}

export async function approveWithPasskey(requestId) {
  const options = await postJson(`/bank/app/api/approvals/${requestId}/passkey-options`, {});
  const credential = await navigator.credentials.get({publicKey: requestOptions(options)});
  return postJson(`/bank/app/api/approvals/${requestId}/approve-with-passkey`, {credential: credentialJson(credential)});
}
